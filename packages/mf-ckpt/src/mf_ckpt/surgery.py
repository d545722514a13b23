"""``strip-optimizer`` and ``cast``: rewrite a checkpoint tensor by tensor into a file or a folder."""

import re
import shutil
from pathlib import Path

from mf_ckpt.dtypes import cast_name
from mf_ckpt.manifest import MANIFEST, SUMS
from mf_ckpt.output import DEFAULT_SHARD_BYTES, copy_spec, save_file, save_folder
from mf_ckpt.store import open_checkpoint

# What MindSpore/MindFormers optimizers and wrappers add to a training checkpoint
OPTIMIZER_PREFIXES = ("adam_m", "adam_v", "accu_grads", "moment1", "moment2", "moments", "exp_avg", "exp_avg_sq",
                      "accum", "mean_grad", "mean_square", "linear", "velocity")
OPTIMIZER_NAMES = {"global_step", "learning_rate", "beta1_power", "beta2_power", "epoch_num", "step_num",
                   "loss_scale", "scale_sense", "current_iterator_step", "last_overflow_iterator_step"}
_WEIGHTS = re.compile(r".*\.(safetensors|bin|ckpt|pt|pth)$|.*\.index\.json$")


def is_optimizer_state(name):
    """True for optimizer moments, accumulators and step counters (``adam_m.x``, ``global_step``, ...)."""
    return name in OPTIMIZER_NAMES or name.split(".", 1)[0] in OPTIMIZER_PREFIXES


def rewrite(src, out, select=lambda name: True, dtype=None, max_shard_bytes=DEFAULT_SHARD_BYTES):
    """Copy the tensors of ``src`` that ``select`` keeps into ``out`` (a ``.safetensors`` or ``.ckpt`` file, or
    a folder that also gets the source folder's other files), cast to ``dtype``; returns (Stats, dropped names)."""
    ckpt = open_checkpoint(src)
    try:
        keep = [n for n in ckpt.infos if select(n)]
        dropped = [n for n in ckpt.infos if not select(n)]
        specs = [copy_spec(ckpt, n, dtype=cast_name(ckpt.infos[n].dtype, dtype)) for n in keep]
        out = Path(out)
        if out.suffix in (".safetensors", ".ckpt"):
            return save_file(out, specs, ckpt.release, inputs=[src]), dropped

        def extra(tmp):
            if Path(src).is_dir():
                for f in Path(src).iterdir():
                    if f.is_file() and not _WEIGHTS.match(f.name) and f.name not in (MANIFEST, SUMS):
                        shutil.copyfile(f, tmp / f.name)

        return save_folder(out, specs, ckpt.release, extra=extra, max_shard_bytes=max_shard_bytes,
                           inputs=[src]), dropped
    finally:
        ckpt.close()
