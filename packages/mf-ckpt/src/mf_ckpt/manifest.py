"""The SHA-256 manifest every mf-ckpt write leaves: ``SHA256SUMS.json`` in a folder, ``FILE.sha256.json`` beside a file.

It names every file with its size and the SHA-256 of consecutive byte ranges ("segments", at most 64 MiB)
that cover it in order::

    {"format": "mf-ckpt-sha256", "version": 1, "files": {
      "model.safetensors": {"size": N, "sha256": [[LENGTH, "HEX"], [LENGTH, "HEX"], ...]}, ...}}

One SHA-256 runs on one core and is slower than the kernel's copy of the same bytes; segments are hashed on
every core, while a file is written and again when it is verified. A file of one segment (any file up to
64 MiB) carries its plain SHA-256, the one ``sha256sum`` prints. ``verify`` also checks a ``sha256sum`` list
(``SHA256SUMS`` or ``FILE.sha256``, as ``sha256sum`` and mf-ckpt 0.1 write them).
"""

import hashlib
import json
import mmap
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mf_ckpt.errors import CheckpointError
from mf_config.fileio import atomic_write

MANIFEST = "SHA256SUMS.json"
SUMS = "SHA256SUMS"  # a sha256sum list, read by verify
FORMAT = "mf-ckpt-sha256"
SEGMENT = 64 << 20  # longest segment
_WINDOW = 4 << 20  # bytes of a file mapped at a time per hashing thread (the pages leave this process after)
_INLINE = 1 << 20  # shorter segments are hashed in the calling thread
_HEX = re.compile(r"[0-9a-f]{64}")


def hash_pool():
    """Threads that hash segments: one per core this process may use (hashlib releases the GIL)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return ThreadPoolExecutor(min(cores, 8), thread_name_prefix="sha256")


def hash_range(path, start, end):
    """SHA-256 of bytes ``start:end`` of the file ``path``, read by memory map a window at a time."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while start < end:
            base = start - start % mmap.ALLOCATIONGRANULARITY
            stop = min(end, start + _WINDOW)
            try:
                m = mmap.mmap(f.fileno(), stop - base, offset=base, access=mmap.ACCESS_READ)
            except ValueError:  # the mapping would run past the end of the file
                raise CheckpointError(f"truncated: ends before byte {stop}", file=path) from None
            with m, memoryview(m)[start - base:] as view:
                h.update(view)
            start = stop
    return h.hexdigest()


def _sha256(buffer):
    return hashlib.sha256(buffer).hexdigest()


class Segments:
    """The manifest entry of one file, built in file order: ``add_buffer``/``add_range`` hash what is written
    next (in ``pool`` when given), ``result()`` waits and gives ``[[length, hex digest], ...]``."""

    def __init__(self, pool=None):
        self._pool = pool
        self._parts = []  # (length, hex digest or Future)

    def _add(self, length, fn, *args):
        if self._pool is None or length < _INLINE:
            self._parts.append((length, fn(*args)))
        else:
            self._parts.append((length, self._pool.submit(fn, *args)))
        return self._parts[-1][1]

    def add_buffer(self, buffer):
        """Hash ``buffer`` (bytes-like); returns the pending hashes: the buffer must not change until they are done."""
        view = memoryview(buffer).cast("B")
        pending = [self._add(len(view[s:s + SEGMENT]), _sha256, view[s:s + SEGMENT])
                   for s in range(0, len(view), SEGMENT)]
        return [p for p in pending if not isinstance(p, str)]

    def add_range(self, path, start, end):
        """Hash bytes ``start:end`` of the file ``path`` (the bytes written next are a copy of them)."""
        for s in range(start, end, SEGMENT):
            self._add(min(SEGMENT, end - s), hash_range, path, s, min(s + SEGMENT, end))

    def result(self):
        return [[n, d if isinstance(d, str) else d.result()] for n, d in self._parts]


def file_segments(path, pool=None):
    """The manifest entry of a whole file already written."""
    segments = Segments(pool)
    segments.add_range(path, 0, os.path.getsize(path))
    return segments.result()


def _dump(files):
    """The manifest's text: one file per entry, one segment per line."""
    entries = []
    for name, segments in files.items():
        body = ",\n    ".join(json.dumps(s) for s in segments)
        entries.append(f'  {json.dumps(name)}: {{"size": {sum(n for n, _ in segments)}, "sha256": [\n    {body}]}}')
    return f'{{"format": "{FORMAT}", "version": 1, "files": {{\n' + ",\n".join(entries) + "\n}}\n"


def _listed(folder):
    """The files a folder's manifest covers: every file but the manifest and hidden (temporary) ones."""
    return sorted(p.name for p in Path(folder).iterdir() if p.is_file() and p.name != MANIFEST and
                  not p.name.startswith("."))


def write_folder_manifest(folder, known=None, pool=None):
    """Write ``folder/SHA256SUMS.json`` for every file in ``folder``; ``known`` (name -> segments) holds the entries
    of the files just written, the others are read and hashed."""
    folder, known = Path(folder), known or {}
    files = {name: known[name] if name in known else file_segments(folder / name, pool) for name in _listed(folder)}
    with atomic_write(folder / MANIFEST) as f:
        f.write(_dump(files))


def write_file_manifest(path, segments):
    """Write ``PATH.sha256.json`` beside a single output file."""
    path = Path(path)
    with atomic_write(path.with_name(path.name + ".sha256.json")) as f:
        f.write(_dump({path.name: segments}))


def manifest_of(path):
    """The manifest that covers ``path`` (a folder or a file): ours, else a sha256sum list; None if neither."""
    path = Path(path)
    for manifest in ((path / MANIFEST, path / SUMS) if path.is_dir() else
                     (path.with_name(path.name + ".sha256.json"), path.with_name(path.name + ".sha256"))):
        if manifest.is_file():
            return manifest
    return None


def _name_ok(name):
    return isinstance(name, str) and name not in ("", ".", "..") and Path(name).name == name and "\\" not in name


def read_manifest(manifest):
    """``{file name: (size, [[length, hex], ...])}`` of a manifest, every field checked."""
    try:
        data = json.loads(Path(manifest).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"not a valid manifest ({e})", file=manifest) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("version") != 1:
        raise CheckpointError(f'expected {{"format": "{FORMAT}", "version": 1, "files": ...}}', file=manifest)
    files = data.get("files")
    if not isinstance(files, dict):
        raise CheckpointError("expected 'files': an object of file name -> entry", file=manifest, key="files")
    out = {}
    for name, entry in files.items():
        if not _name_ok(name):
            raise CheckpointError("is not a file name inside the manifest's folder", file=manifest, key=name)
        size = entry.get("size") if isinstance(entry, dict) else None
        segments = entry.get("sha256") if isinstance(entry, dict) else None
        if (not isinstance(size, int) or size < 0 or not isinstance(segments, list) or not all(
                isinstance(s, list) and len(s) == 2 and isinstance(s[0], int) and s[0] > 0 and isinstance(s[1], str)
                and _HEX.fullmatch(s[1]) for s in segments)):
            raise CheckpointError('expected {"size": N, "sha256": [[length > 0, "<64 hex digits>"], ...]}',
                                  file=manifest, key=name)
        if sum(s[0] for s in segments) != size:
            raise CheckpointError(f"segments cover {sum(s[0] for s in segments)} bytes, not the size {size}",
                                  file=manifest, key=name)
        out[name] = size, segments
    return out


def verify(path):
    """Check the files the manifest of ``path`` names (and, for a folder, that it holds no other file); return the
    names. CheckpointError on the first difference."""
    path = Path(path)
    manifest = manifest_of(path)
    if manifest is None:
        raise CheckpointError(f"no SHA-256 manifest here (mf-ckpt writes {MANIFEST} in folders, FILE.sha256.json "
                              "beside files)", file=path / MANIFEST if path.is_dir() else path)
    if not manifest.name.endswith(".json"):
        return _verify_sums(manifest)
    folder, files = manifest.parent, read_manifest(manifest)
    if not path.is_dir() and path.name not in files:
        raise CheckpointError(f"the manifest does not name {path.name}", file=manifest)
    for name, (size, _) in files.items():
        target = folder / name
        if not target.is_file():
            raise CheckpointError("listed in the manifest but missing", file=target)
        if target.stat().st_size != size:
            raise CheckpointError(f"{target.stat().st_size} bytes, but the manifest says {size}: truncated or "
                                  "appended to", file=target)
    extra = [name for name in _listed(folder) if name not in files] if path.is_dir() else []
    if extra:
        raise CheckpointError(f"not in the manifest ({len(extra)} file(s) the checkpoint did not have when written)",
                              file=folder / extra[0])
    pool = hash_pool()
    try:
        checks = []
        for name, (_, segments) in files.items():
            start = 0
            for length, digest in segments:
                done = pool.submit(hash_range, folder / name, start, start + length)
                checks.append((name, start, length, digest, done))
                start += length
        for name, start, length, digest, done in checks:
            if done.result() != digest:
                raise CheckpointError(f"SHA-256 of bytes {start}-{start + length} differs from the manifest: the file "
                                      "changed or is corrupt", file=folder / name)
    finally:
        pool.shutdown(cancel_futures=True)
    return list(files)


def _verify_sums(manifest):
    """Check a ``sha256sum`` list: ``<hex>  <name>`` lines."""
    checked = []
    for number, line in enumerate(manifest.read_text(encoding="utf-8").splitlines(), 1):
        digest, sep, mode, name = line[:64], line[64:65], line[65:66], line[66:]  # mode "*": sha256sum -b
        if not _HEX.fullmatch(digest) or sep != " " or mode not in (" ", "*") or not _name_ok(name):
            raise CheckpointError("expected '<sha256>  <file name>'", file=manifest, line=number)
        target = manifest.parent / name
        if not target.is_file():
            raise CheckpointError("listed in the manifest but missing", file=target)
        if hash_range(target, 0, target.stat().st_size) != digest:
            raise CheckpointError("SHA-256 differs from the manifest: the file changed or is corrupt", file=target)
        checked.append(name)
    return checked
