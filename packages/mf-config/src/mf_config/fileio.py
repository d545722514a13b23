"""Publishing outputs: the one discipline every mf writer follows (configs, tokenizers, datasets, checkpoints, shards).

- The output is written under a temporary name in its own folder (``.NAME.PID.RANDOM.tmp``), flushed to the
  disk (every file, then the folders), and published by one rename. A folder replacing a folder is swapped in
  with Linux's ``renameat2(RENAME_EXCHANGE)``, so the final name is never missing nor empty; where the system
  cannot swap, the old output is renamed aside first and the next run puts it back if a crash came between.
- Several files that must stay side by side (MindRecord's data and ``.db``) are published as one unit with a
  commit marker: :func:`atomic_files`, :func:`check_committed` (:mod:`mf_config.commit`).
- One writer per output (:func:`mf_config.outlock.output_lock`): a second one fails at once, naming the first.
- An output that is, contains or lies inside an input is refused, and so is replacing a file by a folder or a
  folder by a file.
- Temporaries of writers that died (their PID gone) are removed by the next writer of that output.
- A full disk is one line: ``no space left writing OUT: N MB needed, M MB free``.
- A job that owns a folder of outputs (a training run's checkpoints) removes old outputs with
  :func:`remove_output` and, when it starts, what a killed run left there with :func:`clean_stale_in`.
"""

import contextlib
import errno
import os
import re
import secrets
from pathlib import Path

from mf_config import commit, fsops
from mf_config.commit import check_committed, settle
from mf_config.errors import MFError, NoSpaceError, OutputBusyError, OutputError, OutputExistsError
from mf_config.outlock import output_lock

__all__ = ["atomic_dir", "atomic_files", "atomic_write", "check_committed", "check_not_input", "clean_stale",
           "clean_stale_in", "free_bytes", "no_space_errors", "output_lock", "remove_output", "settle", "temp_path"]

_TEMP = re.compile(r"\.(\d+)\.[0-9a-f]{8}\.(tmp|old)(?:\.[A-Za-z0-9_]+)?")
_TEMP_OF = re.compile(r"\.(.+)" + _TEMP.pattern)  # a whole temporary's name: its output's name first
_LOCK_OF = re.compile(r"\.(.+)\.lock")
_OURS = set()  # temporaries this process is writing (a dead writer may have had our pid)
_NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_NEARLY_FULL = 1 << 20


def temp_path(path, kind="tmp", suffix=""):
    """A new temporary name beside ``path``: ``.NAME.PID.RANDOM.tmp`` (``suffix`` appended, e.g. ``.ckpt``)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.{kind}{suffix}")
    _OURS.add(str(tmp))
    return tmp


def _alive(pid):
    if pid == os.getpid():
        return False  # not one of ours (_OURS says): a dead writer that had our pid
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: another user's live process
        return True
    try:  # a zombie (killed, not yet reaped) is dead
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rpartition(b")")[2].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def clean_stale(path):
    """Finish or remove what dead writers of ``path`` left: an interrupted multi-file publication is completed,
    temporaries are removed, and an old output renamed aside is put back if ``path`` is missing. Call it while
    holding the output's lock (the writers here do)."""
    path = Path(path)
    commit.recover(path)
    prefix, olds = f".{path.name}", []
    with os.scandir(path.parent) as entries:
        stale = [(Path(e.path), m) for e in entries if e.name.startswith(prefix)
                 and (m := _TEMP.fullmatch(e.name[len(prefix):])) and e.path not in _OURS]
    for entry, m in stale:
        if not _alive(int(m.group(1))):
            olds.append(entry) if m.group(2) == "old" else fsops.remove(entry)
    for old in sorted(olds, key=lambda p: p.lstat().st_mtime, reverse=True):
        if not os.path.lexists(path):
            fsops.replace(old, path)
        else:
            fsops.remove(old)


def clean_stale_in(folder):
    """:func:`clean_stale` for every output of ``folder`` that writers' temporaries or lock files name, each under
    its lock (an output a live writer holds is left alone); returns those outputs. For a job that owns the folder
    (a training run's checkpoints): its next run removes what a killed one left, whatever names it writes then."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    with os.scandir(folder) as entries:
        names = sorted({m.group(1) for e in entries if e.path not in _OURS
                        and (m := _TEMP_OF.fullmatch(e.name) or _LOCK_OF.fullmatch(e.name))})
    for name in names:
        with contextlib.suppress(OutputBusyError), output_lock(folder / name):
            clean_stale(folder / name)
    return [folder / name for name in names]


def remove_output(path):
    """Remove the output ``path`` (a file or a folder) under its lock: renamed to a temporary first, so it leaves
    its folder's listing in one step and a kill midway leaves only a dead writer's temporary (which the next
    :func:`clean_stale` or :func:`clean_stale_in` removes), never a partial output under its name."""
    path = Path(path)
    with output_lock(path):
        if not os.path.lexists(path):
            return
        doomed = temp_path(path)
        try:
            fsops.replace(path, doomed)
            fsops.fsync_path(path.parent)
            fsops.remove(doomed)
        finally:
            _OURS.discard(str(doomed))


def check_not_input(output, inputs):
    """OutputError when ``output`` is one of ``inputs``, lies inside an input folder or contains an input."""
    out = Path(os.path.realpath(output))
    for given in inputs:
        if given is None:
            continue
        src = Path(os.path.realpath(given))
        if out == src or (out.exists() and src.exists() and os.path.samefile(out, src)):
            raise OutputError(f"is the input {given}: choose another output", file=output)
        if src in out.parents:
            raise OutputError(f"lies inside the input folder {given}: choose an output outside it", file=output)
        if out in src.parents:
            raise OutputError(f"contains the input {given}: replacing it would delete the input", file=output)


def _check_kind(path, is_dir):
    if not os.path.exists(path):
        return
    if is_dir and not os.path.isdir(path):
        raise OutputError("is a file; refusing to replace it with a folder (remove it or choose another name)",
                          file=path)
    if not is_dir and os.path.isdir(path):
        raise OutputError("is a folder; refusing to replace it with a file (remove it or choose another name)",
                          file=path)


def free_bytes(folder):
    """Bytes an unprivileged writer may still use in ``folder``'s file system (None where unknown)."""
    try:
        st = os.statvfs(folder)
    except (OSError, AttributeError):
        return None
    return st.f_bavail * st.f_frsize


def _mb(n):
    return f"{n / 1e6:.1f}"


def _check_space(path, size):
    free = free_bytes(Path(path).parent)
    if size and free is not None and free < size:
        raise NoSpaceError(f"no space left writing {path}: {_mb(size)} MB needed, {_mb(free)} MB free")


@contextlib.contextmanager
def no_space_errors(path):
    """A full disk inside the block is :class:`NoSpaceError` naming ``path`` (``no space left writing PATH: M MB
    free``), one line: for a writer that appends to an output it owns (a metrics log) instead of publishing it."""
    try:
        yield
    except OSError as e:
        if e.errno not in _NO_SPACE:
            raise
        raise NoSpaceError(f"no space left writing {path}: {_mb(free_bytes(Path(path).parent) or 0)} MB free") \
            from None


def _written(tmp):
    total = 0
    with contextlib.suppress(OSError):
        if os.path.isdir(tmp):
            for root, _, files in os.walk(tmp):
                total += sum(os.lstat(os.path.join(root, f)).st_size for f in files)
        else:
            total = os.lstat(tmp).st_size
    return total


def _failure(exc, path, tmp, size):
    """Remove the temporary; a NoSpaceError to raise instead of ``exc`` when the disk is full, else None."""
    nearly_full = (free_bytes(Path(path).parent) or 0) < _NEARLY_FULL
    written = _written(tmp)
    fsops.remove(tmp)
    no_space = isinstance(exc, OSError) and exc.errno in _NO_SPACE
    if not no_space and not (nearly_full and isinstance(exc, Exception) and not isinstance(exc, MFError)):
        return None
    free = free_bytes(Path(path).parent) or 0
    needed = f"{_mb(size)} MB" if size else f"more than {_mb(written)} MB"
    return NoSpaceError(f"no space left writing {path}: {needed} needed, {_mb(free)} MB free")


@contextlib.contextmanager
def _prepared(path, is_dir, inputs, size):
    """Checks, the output's lock, and the cleanup of dead writers' leftovers, around a write."""
    check_not_input(path, inputs)
    _check_kind(path, is_dir)
    with output_lock(path):
        clean_stale(path)
        _check_space(path, size)
        yield


@contextlib.contextmanager
def atomic_write(path, mode="w", encoding=None, *, inputs=(), size=None):
    """Open a temporary file beside ``path`` (readable too); it becomes ``path`` only if the block succeeds.

    ``inputs``: paths the output must not be, lie in or contain. ``size``: bytes the output will take, checked
    against the free space before writing (and named in the error if the disk fills anyway).
    """
    path = Path(path)
    with _prepared(path, False, inputs, size):
        tmp = temp_path(path)
        try:
            fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as for open()
            f = os.fdopen(fd, mode) if "b" in mode else os.fdopen(fd, mode, encoding=encoding or "utf-8")
            with f:
                yield f
                f.flush()
                fsops.fsync_fd(f.fileno(), tmp)
            _check_kind(path, False)
            fsops.replace(tmp, path)
            fsops.fsync_path(path.parent)
        except BaseException as e:
            error = _failure(e, path, tmp, size)
            if error is not None:
                raise error from None
            raise
        finally:
            _OURS.discard(str(tmp))


def _publish_dir(tmp, path):
    """Make the folder ``tmp`` the folder ``path``, which is never missing meanwhile where the system can swap."""
    if not os.path.lexists(path):
        try:
            fsops.replace(tmp, path)
            fsops.fsync_path(path.parent)
            return
        except OSError as e:
            if e.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
    try:
        fsops.exchange(tmp, path)  # tmp now names the old output
    except NotImplementedError:
        old = temp_path(path, "old")
        fsops.replace(path, old)  # a crash here leaves path missing: clean_stale puts old back
        fsops.replace(tmp, path)
        fsops.fsync_path(path.parent)
        fsops.remove(old)
        _OURS.discard(str(old))
        return
    fsops.fsync_path(path.parent)
    fsops.remove(tmp)


@contextlib.contextmanager
def atomic_dir(path, overwrite=True, *, inputs=(), size=None):
    """Yield a temporary folder beside ``path``; it becomes ``path`` only if the block succeeds.

    An existing folder ``path`` is replaced (``overwrite``; swapped in one step) or is an error; an existing
    file is never replaced by a folder. ``inputs`` and ``size`` as for :func:`atomic_write`.
    """
    path = Path(path)
    if not overwrite and os.path.lexists(path):
        raise OutputExistsError("exists; pass overwrite to replace it", file=path)
    with _prepared(path, True, inputs, size):
        tmp = temp_path(path)
        try:
            os.mkdir(tmp, 0o777)  # the umask applies, as for mkdir
            yield tmp
            fsops.fsync_tree(tmp)
            _check_kind(path, True)
            _publish_dir(tmp, path)
        except BaseException as e:
            error = _failure(e, path, tmp, size)
            if error is not None:
                raise error from None
            raise
        finally:
            _OURS.discard(str(tmp))


@contextlib.contextmanager
def atomic_files(path, *, inputs=(), size=None):
    """Yield a temporary folder; the files written in it are published beside ``path`` as one unit, with the
    commit marker ``.NAME.commit`` (see :mod:`mf_config.commit`), only if the block succeeds.

    For outputs of several files that must stay side by side under fixed names (``x.mindrecord`` and
    ``x.mindrecord.db``, or its shards ``x.mindrecord0..N``; a file and its manifest). Files of the previous
    output that the new one lacks are removed. Readers call :func:`check_committed`.
    """
    path = Path(path)
    with _prepared(path, False, inputs, size):
        stage = temp_path(path)
        try:
            os.mkdir(stage, 0o777)
            yield stage
            fsops.fsync_tree(stage)
            marker_tmp = temp_path(path)
            try:
                commit.publish(path, stage, marker_tmp)
            finally:
                _OURS.discard(str(marker_tmp))
        except BaseException as e:
            if commit.is_staged(path, stage):  # past the commit point: finish the publication (renames only);
                with contextlib.suppress(Exception):  # if that fails too, the next writer or reader finishes it
                    commit.recover(path)
                if os.path.isdir(stage):
                    raise
            error = _failure(e, path, stage, size)
            if error is not None:
                raise error from None
            raise
        finally:
            _OURS.discard(str(stage))
