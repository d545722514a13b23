"""mf-ckpt: Weight conversion HF <-> MindSpore, inspection, sharded-checkpoint merge/split.

The API below is imported on first use of a name (``from mf_ckpt import convert``), so ``import mf_ckpt`` stays
as light as the commands that only copy bytes (no numpy).
"""

from mf_config.lazy import lazy_exports

__version__ = "0.2.0"

_LAZY = {
    "CheckpointError": "mf_ckpt.errors",
    "Checkpoint": "mf_ckpt.store",
    "open_checkpoint": "mf_ckpt.store",
    "convert": "mf_ckpt.conversion",
    "info": "mf_ckpt.inspection",
    "diff": "mf_ckpt.inspection",
    "reshard": "mf_ckpt.resharding",
    "load_layout": "mf_ckpt.strategy",
    "verify": "mf_ckpt.manifest",
    "rewrite": "mf_ckpt.surgery",
    "is_optimizer_state": "mf_config.state_names",
    "Spec": "mf_ckpt.output",
    "save_file": "mf_ckpt.output",
    "save_folder": "mf_ckpt.output",
}

__all__ = [*_LAZY, "__version__"]
__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
