"""``strip-optimizer`` and ``cast``: rewrite a checkpoint tensor by tensor into a file or a folder."""

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from mf_ckpt.dtypes import cast_name
from mf_ckpt.manifest import MANIFEST, SUMS
from mf_ckpt.output import DEFAULT_SHARD_BYTES, Stats, copy_spec, save_file, save_folder
from mf_ckpt.store import open_checkpoint

_WEIGHTS = re.compile(r".*\.(safetensors|bin|ckpt|pt|pth)$|.*\.index\.json$")


def rewrite(src: str | os.PathLike, out: str | os.PathLike, select: Callable[[str], bool] = lambda name: True,
            dtype: str | None = None, max_shard_bytes: int = DEFAULT_SHARD_BYTES) -> tuple[Stats, list[str]]:
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
