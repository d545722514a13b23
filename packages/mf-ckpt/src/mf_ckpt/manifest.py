"""The SHA-256 manifest every mf-ckpt write leaves: ``SHA256SUMS`` in a folder, ``FILE.sha256`` beside a file.

Lines are ``<hex>  <name>``, the format of ``sha256sum``, so ``sha256sum -c SHA256SUMS`` checks it too.
"""

import hashlib
from pathlib import Path

from mf_ckpt.errors import CheckpointError
from mf_config.fileio import atomic_write

MANIFEST = "SHA256SUMS"
_CHUNK = 16 * 1024 * 1024


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def write_folder_manifest(folder, known=None):
    """Write ``folder/SHA256SUMS`` for every file in ``folder`` (digests in ``known`` are trusted, not re-read)."""
    folder, known = Path(folder), known or {}
    names = sorted(p.name for p in folder.iterdir() if p.is_file() and p.name != MANIFEST and
                   not p.name.startswith("."))
    with atomic_write(folder / MANIFEST) as f:
        for name in names:
            f.write(f"{known.get(name) or file_sha256(folder / name)}  {name}\n")


def write_file_manifest(path, digest):
    """Write ``PATH.sha256`` beside a single output file."""
    path = Path(path)
    with atomic_write(path.with_name(path.name + ".sha256")) as f:
        f.write(f"{digest}  {path.name}\n")


def manifest_of(path):
    """The manifest that covers ``path`` (a folder or a file)."""
    path = Path(path)
    if path.is_dir():
        return path / MANIFEST
    return path.with_name(path.name + ".sha256")


def verify(path):
    """Check every file the manifest of ``path`` names; return the names; CheckpointError on the first mismatch."""
    manifest = manifest_of(path)
    if not manifest.is_file():
        raise CheckpointError("no SHA-256 manifest here (mf-ckpt writes SHA256SUMS in folders, FILE.sha256 "
                              "beside files)", file=manifest)
    checked = []
    for number, line in enumerate(manifest.read_text(encoding="utf-8").splitlines(), 1):
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64 or not name or Path(name).name != name or name in (".", ".."):
            raise CheckpointError("expected '<sha256>  <file name>'", file=manifest, line=number)
        target = manifest.parent / name
        if not target.is_file():
            raise CheckpointError("listed in the manifest but missing", file=target)
        if file_sha256(target) != digest:
            raise CheckpointError("SHA-256 differs from the manifest: the file changed or is corrupt", file=target)
        checked.append(name)
    return checked
