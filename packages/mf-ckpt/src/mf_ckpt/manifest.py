"""The SHA-256 manifest every mf-ckpt write leaves: ``SHA256SUMS.json`` in a folder, ``FILE.sha256.json`` beside a file.

It names every file with its size and the SHA-256 of each of its 64 MiB blocks, in order (the last block
shorter; an empty file has one block, of no bytes)::

    {"format": "mf-ckpt-sha256", "version": 1, "block_size": 67108864, "files": {
      "model.safetensors": {"size": N, "sha256": ["HEX", "HEX", ...]}, ...}}

One SHA-256 runs on one core, slower than the kernel copies the same bytes; blocks are hashed on every core,
each as soon as it is written (read back from the page cache), and so again when verified. A file of one
block (up to 64 MiB) carries its plain SHA-256, the one ``sha256sum`` prints. ``verify`` also checks a
``sha256sum`` list (``SHA256SUMS`` or ``FILE.sha256``, as ``sha256sum`` writes them and earlier mf-ckpt did).
"""

import hashlib
import json
import mmap
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mf_ckpt.errors import CheckpointError
from mf_config import jsonio
from mf_config.fileio import atomic_write, settle

MANIFEST = "SHA256SUMS.json"
SUMS = "SHA256SUMS"  # a sha256sum list, which verify reads too
FORMAT = "mf-ckpt-sha256"
BLOCK = 64 << 20
_WINDOW = 4 << 20  # bytes of a file mapped at a time per hashing thread (the pages leave this process after)
_HEX = re.compile(r"[0-9a-f]{64}")
MAX_MANIFEST = 256 << 20  # 64 MiB blocks: a 16 TB checkpoint lists 250k digests (17 MB)


def hash_pool():
    """Threads that hash blocks (hashlib releases the GIL): one per core this process may use but one, which the
    calling thread keeps (it copies while they hash, then hashes the blocks they have not started)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return ThreadPoolExecutor(max(1, min(cores, 8) - 1), thread_name_prefix="sha256")


def hash_range(file, start, end):
    """SHA-256 of bytes ``start:end`` of ``file`` (a path, or a file descriptor open for reading), read by memory
    map a window at a time."""
    h = hashlib.sha256()
    fd = file if isinstance(file, int) else os.open(file, os.O_RDONLY)
    try:
        while start < end:
            base = start - start % mmap.ALLOCATIONGRANULARITY
            stop = min(end, start + _WINDOW)
            try:
                m = mmap.mmap(fd, stop - base, offset=base, access=mmap.ACCESS_READ)
            except ValueError:  # the mapping would run past the end of the file
                raise CheckpointError(f"truncated: ends before byte {stop}", file=file) from None
            with m, memoryview(m)[start - base:] as view:
                h.update(view)
            start = stop
    finally:
        if fd is not file:
            os.close(fd)
    return h.hexdigest()


def block_count(size, block):
    """Blocks of a file of ``size`` bytes (one for an empty file)."""
    return max(1, -(-size // block))


class BlockHashes:
    """The SHA-256 of each block of a file being written: ``written(size)`` after a write hands the blocks complete
    so far to ``pool`` (None: hashes them here); ``result(size)``, when the file is done, gives them all in order."""

    def __init__(self, file, pool=None):
        self._file, self._pool = file, pool
        self.block = BLOCK
        self._jobs = []  # hex digests or Futures

    def _hash(self, start, end):
        if self._pool is None:
            self._jobs.append(hash_range(self._file, start, end))
        else:
            self._jobs.append(self._pool.submit(hash_range, self._file, start, end))

    def written(self, size):
        while (len(self._jobs) + 1) * self.block <= size:
            self._hash(len(self._jobs) * self.block, (len(self._jobs) + 1) * self.block)

    def cancel(self):
        """Drop the blocks not started and wait for the others (before the file closes on an error)."""
        for job in self._jobs:
            if not isinstance(job, str) and not job.cancel():
                job.exception()

    def result(self, size):
        self.written(size)
        if len(self._jobs) < block_count(size, self.block):
            self._hash(len(self._jobs) * self.block, size)
        return take_over(self._jobs, lambda i: hash_range(self._file, i * self.block, min(size, (i + 1) * self.block)))


def take_over(jobs, run):
    """The results of ``jobs`` (values or Futures), the calling thread running ``run(i)`` for each job no pool
    thread has started yet (from the last, while the pool works from the first)."""
    jobs = list(jobs)
    for i in reversed(range(len(jobs))):
        if not isinstance(jobs[i], str) and jobs[i].cancel():
            jobs[i] = run(i)
    return [job if isinstance(job, str) else job.result() for job in jobs]


def file_blocks(path, pool=None):
    """The block digests of a whole file already written."""
    return BlockHashes(path, pool).result(os.path.getsize(path))


def _dump(files, sizes):
    """The manifest's text: one block digest per line."""
    entries = []
    for name, digests in files.items():
        body = ",\n    ".join(f'"{d}"' for d in digests)
        entries.append(f'  {json.dumps(name)}: {{"size": {sizes[name]}, "sha256": [\n    {body}]}}')
    return (f'{{"format": "{FORMAT}", "version": 1, "block_size": {BLOCK}, "files": {{\n' + ",\n".join(entries) +
            "\n}}\n")


def _listed(folder, manifest=MANIFEST):
    """The files a folder's manifest covers: every file but the manifest, hidden ones included (a writer's
    temporaries lie beside its output, never inside it)."""
    return sorted(p.name for p in Path(folder).iterdir() if p.is_file() and p.name != manifest)


def write_folder_manifest(folder, known=None, pool=None):
    """Write ``folder/SHA256SUMS.json`` for every file in ``folder``; ``known`` (name -> block digests) holds those
    of the files just written, the others are read and hashed."""
    folder, known = Path(folder), known or {}
    names = _listed(folder)
    files = {name: known[name] if name in known else file_blocks(folder / name, pool) for name in names}
    with atomic_write(folder / MANIFEST) as f:
        f.write(_dump(files, {name: (folder / name).stat().st_size for name in names}))


def write_file_manifest(path, digests):
    """Write ``PATH.sha256.json`` beside a single output file."""
    path = Path(path)
    with atomic_write(path.with_name(path.name + ".sha256.json")) as f:
        f.write(_dump({path.name: digests}, {path.name: path.stat().st_size}))


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


def _int(x, low):
    return isinstance(x, int) and not isinstance(x, bool) and x >= low


def _read(manifest):
    with open(manifest, "rb") as f:
        raw = f.read(MAX_MANIFEST + 1)
    if len(raw) > MAX_MANIFEST:
        raise CheckpointError(f"larger than {MAX_MANIFEST} bytes: not a manifest", file=manifest)
    return raw


def read_manifest(manifest):
    """``(block size, {file name: (size, [hex digest of each block])})`` of a manifest, every field checked."""
    try:
        data = jsonio.loads(_read(manifest), manifest, error=CheckpointError, max_depth=4, unique_keys=True)
    except CheckpointError as e:
        raise CheckpointError(f"not a valid manifest ({e.message})", file=manifest, line=e.line, key=e.key) from None
    if (not isinstance(data, dict) or data.get("format") != FORMAT or data.get("version") != 1
            or not _int(data.get("block_size"), 1) or not isinstance(data.get("files"), dict)):
        raise CheckpointError(f'expected {{"format": "{FORMAT}", "version": 1, "block_size": N, "files": {{...}}}}',
                              file=manifest)
    block, out = data["block_size"], {}
    for name, entry in data["files"].items():
        if not _name_ok(name):
            raise CheckpointError("is not a file name inside the manifest's folder", file=manifest, key=name)
        size = entry.get("size") if isinstance(entry, dict) else None
        digests = entry.get("sha256") if isinstance(entry, dict) else None
        if not _int(size, 0) or not isinstance(digests, list) or not all(
                isinstance(d, str) and _HEX.fullmatch(d) for d in digests):
            raise CheckpointError('expected {"size": N, "sha256": ["<64 hex digits>", ...]}', file=manifest, key=name)
        if len(digests) != block_count(size, block):
            raise CheckpointError(f"{len(digests)} block digests, but {size} bytes make {block_count(size, block)} "
                                  f"blocks of {block}", file=manifest, key=name)
        out[name] = size, digests
    if not out:
        raise CheckpointError("names no file: an empty manifest proves nothing", file=manifest)
    return block, out


def verify(path: str | os.PathLike) -> list[str]:
    """Check the files the manifest of ``path`` names (and, for a folder, that it holds no other file); return the
    names. CheckpointError on the first difference."""
    path = Path(path)
    if not path.is_dir():
        settle(path)  # a file and its manifest are published together: finish an interrupted one
    manifest = manifest_of(path)
    if manifest is None:
        raise CheckpointError(f"no SHA-256 manifest here (mf-ckpt writes {MANIFEST} in folders, FILE.sha256.json "
                              "beside files)", file=path / MANIFEST if path.is_dir() else path)
    if not manifest.name.endswith(".json"):
        return _verify_sums(manifest, path)
    folder, (block, files) = manifest.parent, read_manifest(manifest)
    if not path.is_dir() and path.name not in files:
        raise CheckpointError(f"does not name {path.name}", file=manifest)
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
    checks = [(name, i * block, min(size, (i + 1) * block), digest)
              for name, (size, digests) in files.items() for i, digest in enumerate(digests)]
    pool = hash_pool()
    try:
        jobs = [pool.submit(hash_range, folder / name, start, end) for name, start, end, _ in checks]
        results = take_over(jobs, lambda i: hash_range(folder / checks[i][0], checks[i][1], checks[i][2]))
        for (name, start, end, digest), result in zip(checks, results):
            if result != digest:
                raise CheckpointError(f"SHA-256 of bytes {start}-{end} differs from the manifest: the file changed "
                                      "or is corrupt", file=folder / name)
    finally:
        pool.shutdown(cancel_futures=True)
    return list(files)


def _verify_sums(manifest, path):
    """Check a ``sha256sum`` list: ``<hex>  <name>`` lines (``<hex> *<name>`` from ``sha256sum -b``), which must
    name ``path`` (a file) or every file of the folder ``path``."""
    raw = _read(manifest)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CheckpointError(f"not UTF-8 text ({e.reason} at byte {e.start})", file=manifest,
                              line=raw.count(b"\n", 0, e.start) + 1) from None
    checked = []
    for number, line in enumerate(text.splitlines(), 1):
        digest, sep, mode, name = line[:64], line[64:65], line[65:66], line[66:]
        if not _HEX.fullmatch(digest) or sep != " " or mode not in (" ", "*") or not _name_ok(name):
            raise CheckpointError("expected '<sha256>  <file name>'", file=manifest, line=number)
        checked.append((name, digest))
    names = [name for name, _ in checked]
    if not checked:
        raise CheckpointError("names no file: an empty list proves nothing", file=manifest)
    if path.is_dir():
        extra = [name for name in _listed(path, manifest.name) if name not in names]
        if extra:
            raise CheckpointError(f"not in the manifest ({len(extra)} file(s) the list does not name)",
                                  file=path / extra[0])
    elif path.name not in names:
        raise CheckpointError(f"does not name {path.name}", file=manifest)
    for name, digest in checked:
        target = manifest.parent / name
        if not target.is_file():
            raise CheckpointError("listed in the manifest but missing", file=target)
        if hash_range(target, 0, target.stat().st_size) != digest:
            raise CheckpointError("SHA-256 differs from the manifest: the file changed or is corrupt", file=target)
    return names
