"""mf-parallel: tensor, data and expert parallelism applied to mf-models' networks from outside, on MindSpore's
own collectives under msrun; parallel plans, sharded checkpoints, rank tables, the launcher and the memory plan.

Importing the package is light (no mindspore); the names below load on first use.
"""

__version__ = "0.1.0"

_LAZY = {
    "parallelize": "mf_parallel.apply",
    "check_layout": "mf_parallel.apply",
    "train_hooks": "mf_parallel.training",
    "TrainHooks": "mf_parallel.training",
    "Mesh": "mf_parallel.mesh",
    "Plan": "mf_parallel.plans",
    "plan_for": "mf_parallel.plans",
    "ParallelError": "mf_parallel.errors",
    "capabilities": "mf_parallel.capabilities",
    "start": "mf_parallel.runtime",
}

__all__ = [*_LAZY, "__version__"]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mf_parallel' has no attribute '{name}'")
