"""MindSpore's context from a task YAML's ``context`` section, for every command that runs a network."""

import os

from mf_models.errors import ModelError

MODES = {0: "GRAPH_MODE", 1: "PYNATIVE_MODE"}
_PYNATIVE = {"requested": False}


def pynative_requested() -> bool:
    """Whether ``set_context`` was asked for PyNative (``mode: 1``): then mf's compiled cells (``CompiledCell``)
    run op by op; otherwise they run compiled in either global mode."""
    return _PYNATIVE["requested"]


def set_context(context=None):
    """``mode`` (0 graph, the default; 1 PyNative), ``device_target`` and ``runtime_num_threads`` of a ``context``
    section; a target this MindSpore cannot use is a ModelError naming the key and the override that fixes it."""
    import mindspore as ms

    context = context or {}
    mode = context.get("mode", 0)
    if mode not in MODES:
        raise ModelError(f"expected 0 (graph) or 1 (PyNative), got {mode!r}", key="context.mode")
    target = context.get("device_target")
    if target and not ms.hal.is_available(target):
        raise ModelError(f"{target} is not available to this MindSpore build; override it, e.g. "
                         "--set context.device_target=CPU", key="context.device_target")
    try:
        ms.set_context(mode=getattr(ms, MODES[mode]))
        if target and target != ms.get_context("device_target"):
            ms.set_device(target, context.get("device_id"))
    except (RuntimeError, ValueError) as e:
        raise ModelError(f"MindSpore cannot use it here ({str(e).splitlines()[0]}); override it, e.g. "
                         "--set context.device_target=CPU", key="context.device_target") from None
    _PYNATIVE["requested"] = mode == 1
    threads = context.get("runtime_num_threads")
    if threads is not None:  # MindFormers' predict YAMLs set 1; the threads of MindSpore's CPU kernels
        if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
            raise ModelError(f"expected a positive integer, got {threads!r}", key="context.runtime_num_threads")
        ms.set_context(runtime_num_threads=threads)


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity: ``taskset``, a container's cpuset)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
