"""``parallelize(model, parallel_config)``: the same network with its layers swapped for tensor-, vocabulary- and
expert-parallel versions per its family's plan (``mf_parallel.plans``), each rank keeping its block of the
weights it had. Build (or load) the whole model on every rank first, with the same weights, then parallelize.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mindspore import ops

from mf_models.cells import Embedding, Linear, VocabEmbedding
from mf_models.moe import ExpertLinear, MoEFeedForward
from mf_parallel.config_check import check_layout, check_shapes
from mf_parallel.errors import ParallelError
from mf_parallel.layers import (
    REGION_ATTR,
    ParallelExpertLinear,
    ParallelHead,
    ParallelLinear,
    RegionInput,
    TiedVocabParallel,
    VocabParallelCrossEntropy,
    VocabParallelEmbedding,
    VocabParallelEmbeddingTable,
    block_of,
)
from mf_parallel.placements import REPLICATED
from mf_parallel.plans import matching, plan_for
from mf_parallel.runtime import start

if TYPE_CHECKING:
    from mf_config import ParallelConfig
    from mf_models import CausalLM
    from mf_parallel.runtime import Runtime


@dataclass
class ParallelState:
    """What ``parallelize`` did to a network: the runtime (mesh, rank, groups), the plan, each parameter's
    placement and full shape. Kept as ``model.parallel_state``."""

    runtime: object
    plan: object
    placements: dict
    full_shapes: dict

    @property
    def mesh(self):
        return self.runtime.mesh


def parallelize(model: CausalLM, parallel_config: ParallelConfig | Mapping[str, Any] | None = None,
                runtime: Runtime | None = None) -> CausalLM:
    """Swap ``model``'s layers per its family's plan for this rank; returns ``model`` (changed in place).

    ``parallel_config``: a ``ParallelConfig`` or dict (default ``model.config.parallel_config``).
    ``runtime``: an ``mf_parallel.runtime.Runtime`` (default: communication initialised and groups created
    here). A layout the model or backend cannot run raises ``ParallelError``/``ConfigError`` naming the key.
    """
    if getattr(model, "parallel_state", None) is not None:
        raise ParallelError("the network is parallelized already", key="use_parallel")
    pc = check_layout(model.config, parallel_config)
    runtime = runtime or start(pc)
    plan = plan_for(model.config)
    shapes = {p.name: tuple(p.shape) for p in model.get_parameters()}
    placements = plan.resolve(shapes, vocab_emb_dp=pc.vocab_emb_dp)
    check_shapes(shapes, placements, runtime.mesh)
    cells = dict(model.cells_and_names())
    _swap_leaves(cells, placements, runtime)
    _divide_heads(cells, plan, runtime)
    if runtime.mesh.mp > 1:
        _wrap_regions(cells, plan, runtime)
    _vocab_head(model, plan, placements, runtime)
    if runtime.mesh.ep > 1:
        from mf_parallel.moe import ExpertParallelMoE

        for path in matching(cells, plan.moe):
            if isinstance(cells[path], MoEFeedForward):
                _set(cells, path, ExpertParallelMoE(cells[path], runtime))
    _rename(model, shapes)
    sessions = getattr(model, "decode_sessions", None)
    if sessions is not None:  # a KV cache made before the split has the whole model's heads
        sessions.clear()
    object.__setattr__(model, "parallel_state", ParallelState(runtime, plan, placements, shapes))
    return model


def _set(cells, path, new):
    parent, _, attr = path.rpartition(".")
    setattr(cells[parent], attr, new)
    cells[path] = new


def _block(param, placement, runtime):
    return block_of(param, placement.box(tuple(param.shape), runtime.mesh, runtime.rank))


def _swap_leaves(cells, placements, runtime):
    """Linear, Embedding and ExpertLinear cells whose weight is split become their parallel versions."""
    mp = runtime.mesh.mp
    for path, cell in list(cells.items()):
        if isinstance(cell, (Linear, ExpertLinear)):
            key = "weight"
        elif isinstance(cell, Embedding):
            key = "embedding_weight"
        elif isinstance(cell, VocabEmbedding):
            key = "embedding_table"
        else:
            continue
        param = getattr(cell, key)
        p = placements[param.name]
        if p.kind == "replicated":
            continue
        weight = _block(param, p, runtime)
        start = runtime.index("mp") * (param.shape[0] // mp)
        if isinstance(cell, ExpertLinear):
            new = ParallelExpertLinear(cell, weight, p.dims[-1][0] == 2, runtime.reduce_from("mp"))
        elif isinstance(cell, Embedding):
            new = VocabParallelEmbedding(cell, weight, start, runtime.reduce_from("mp"))
        elif isinstance(cell, VocabEmbedding):
            new = VocabParallelEmbeddingTable(cell, weight, start, runtime.reduce_from("mp"))
        elif p.kind == "vocab":
            new = ParallelHead(cell, weight, runtime.copy_to("mp"), runtime.gather("mp", -1, "slice"))
        else:
            row = p.kind == "row"
            bias = _block(cell.bias, placements[cell.bias.name], runtime) if cell.has_bias else None
            out = cell.out_channels if row else cell.out_channels // mp
            new = ParallelLinear(cell, weight, bias, row, runtime.reduce_from("mp"), out)
        _set(cells, path, new)


def _divide_heads(cells, plan, runtime):
    mp, index = runtime.mesh.mp, runtime.index("mp")
    for pattern, attrs in plan.heads:
        for path in matching(cells, (pattern,)):
            for attr in attrs:
                value = getattr(cells[path], attr, None)
                if value is None:
                    continue
                if value % mp:
                    raise ParallelError(f"{path or 'the model'}.{attr} ({value}) is not divisible by model_parallel "
                                        f"({mp})", key="parallel_config.model_parallel")
                setattr(cells[path], attr, value // mp)
    for pattern, attr, axis in plan.head_tensors:
        for path in matching(cells, (pattern,)):
            t = getattr(cells[path], attr)
            step = t.shape[axis] // mp
            setattr(cells[path], attr, ops.narrow(t, axis, index * step, step).copy())


def _wrap_regions(cells, plan, runtime):
    for path in matching(cells, plan.regions):
        cell = cells[path]
        columns = [c for c in cell.cells() if isinstance(c, (ParallelLinear, ParallelExpertLinear)) and not c.row]
        if columns:
            _set(cells, path, RegionInput(cell, runtime.copy_to("mp")))


_TIED_CLASSES = {}


def _vocab_head(model, plan, placements, runtime):
    """A vocabulary-split head: the tied table's logits through ``TiedVocabParallel``; the loss becomes
    ``VocabParallelCrossEntropy``."""
    head = placements.get("lm_head.weight")
    tied = placements.get(plan.tied_table, REPLICATED) if head is None else REPLICATED
    if (head is None or head.kind != "vocab") and tied.kind != "vocab":
        return
    if tied.kind == "vocab":
        cls = type(model)
        if cls not in _TIED_CLASSES:
            _TIED_CLASSES[cls] = type(f"VocabParallel{cls.__name__}", (TiedVocabParallel, cls), {})
        model.__class__ = _TIED_CLASSES[cls]
        model.mf_vocab_copy = runtime.copy_to("mp")
        model.mf_vocab_gather = runtime.gather("mp", -1, "slice")
    vocab = model.config.vocab_size
    start = runtime.index("mp") * (vocab // runtime.mesh.mp)
    model.loss = VocabParallelCrossEntropy(start, runtime.all_reduce_max("mp"), runtime.reduce_from("mp"))


def _rename(model, shapes):
    """Every parameter gets its path (without region wrappers) as its name: MindFormers' name again."""
    for path, param in model.parameters_and_names():
        param.name = path.replace(f".{REGION_ATTR}.", ".")
    names = {p.name for p in model.get_parameters()}
    if names != set(shapes):
        raise RuntimeError(f"parallelize changed parameter names: {sorted(names ^ set(shapes))[:6]}")
