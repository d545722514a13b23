"""``CompiledCell``: mf's graphs (the prefill, the decode step, the train and eval steps) run compiled whatever
MindSpore's global mode is.

MindSpore compiles a Cell only in ``GRAPH_MODE``; in its default ``PYNATIVE_MODE`` a Cell runs op by op, 10-100x
slower for these networks. A user of the Python API who does not know that gets the slow path, so these cells
take the graph path in either mode (what ``Cell.__call__`` does in graph mode), and MindSpore's global mode is left
as the user set it. ``mf_models.runtime.set_context({"mode": 1})`` (a task YAML's ``context.mode: 1``) asks for
PyNative on purpose, e.g. to debug: then they run op by op like any Cell.

The first call of a cell with new input shapes compiles; that compile goes through mf's cross-process compile
cache (``mf_models.compile_cache``), so a later process loads the graph instead of building it.
"""

from mindspore import Tensor, context, nn

from mf_models import compile_cache, runtime


def signature(cell, args) -> tuple:
    """What makes MindSpore compile ``cell`` anew: its phase (train/predict/increment) and the inputs' shapes and
    dtypes (values of other inputs)."""
    return (cell.phase, cell.training, *((tuple(a.shape), a.dtype) if isinstance(a, Tensor) else (type(a), a)
                                         for a in args))


class CompiledCell(nn.Cell):
    """A Cell that runs as one compiled graph in graph and PyNative mode alike (see the module docstring)."""

    def __call__(self, *args):
        if runtime.pynative_requested():
            return super().__call__(*args)
        seen = self.__dict__.setdefault("_mf_compiled", set())
        key = signature(self, args)
        if key in seen and self.compile_cache:  # (emptied when a caller drops the compiled graphs)
            return self._run_graph(args)
        with compile_cache.compiling(self, args):
            out = self._run_graph(args)
        seen.add(key)
        return out

    def _run_graph(self, args):
        if context._get_mode() == context.GRAPH_MODE:  # 0.5 us; get_context('mode') takes 15
            return nn.Cell.__call__(self, *args)
        # Cell.__call__'s graph-mode branch, taken in PyNative mode too
        compiled, out = self._predict(*args)
        if compiled:
            return out
        self._compiled = True
        self._check_construct_args(*args)
        self._self_check()
        self.__compile_cell_hook__ = True
        return self.compile_and_run(*args)
