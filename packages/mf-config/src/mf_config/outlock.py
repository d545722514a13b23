"""One writer per output: a lock file ``.NAME.lock`` beside the output, held with ``flock`` while writing.

A second writer fails at once, naming the first (its pid, command and start time, which the holder writes into
the lock file). The kernel drops the lock when its holder dies, so a killed writer never blocks the next one; the
holder removes the file when it is done. The lock is per process and re-entrant: a function that locks an output
may call another that locks it again, and a forked child shares its parent's lock.
"""

import contextlib
import datetime
import json
import os
import sys
import threading
from pathlib import Path

from mf_config.errors import OutputBusyError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; writers are not serialised there
    fcntl = None

_HELD = {}  # lock file path -> [fd, depth]
_INFO_BYTES = 1024
_GUARD = threading.Lock()


def lock_path(path):
    """The lock file of an output."""
    path = Path(path)
    return path.with_name(f".{path.name}.lock")


def _holder(lock):
    try:
        info = json.loads(Path(lock).read_text(encoding="utf-8"))
        return (f"pid {int(info['pid'])} ({str(info['command'])[:200]}), "
                f"since {str(info['started'])[:19]}")
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


def _acquire(lock, output):
    """An fd holding ``flock`` on ``lock`` (which still names the locked file), or OutputBusyError."""
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputBusyError(f"being written by {_holder(lock)}; wait for it to finish or stop it",
                                  file=output) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # the previous holder removed it after we opened it: lock the new one


def _describe(fd):
    info = {"pid": os.getpid(), "command": " ".join([os.path.basename(sys.argv[0] or "python"), *sys.argv[1:]]),
            "started": datetime.datetime.now().isoformat(timespec="seconds")}
    text = json.dumps(info).encode()[:_INFO_BYTES - 1]
    # padded over what a killed holder wrote, not truncated: ext4 flushes a truncated file's data on close
    os.pwrite(fd, text + b" " * (_INFO_BYTES - len(text)), 0)


@contextlib.contextmanager
def output_lock(path):
    """Hold the lock of output ``path`` for the block; OutputBusyError at once if another process holds it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = str(lock_path(path).absolute())
    with _GUARD:
        held = _HELD.get(lock)
        if held is not None:
            held[1] += 1
    if held is not None:
        try:
            yield
        finally:
            with _GUARD:
                held[1] -= 1
        return
    if fcntl is None:
        yield
        return
    fd = _acquire(lock, path)
    with _GUARD:
        _HELD[lock] = entry = [fd, 1]
    owner = os.getpid()
    try:
        _describe(fd)
        yield
    finally:
        with _GUARD:
            entry[1] -= 1
            last = entry[1] == 0
            if last:
                del _HELD[lock]
        if last and os.getpid() == owner:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(lock)  # while still holding it: a waiter that opened it sees the inode go and retries
            os.close(fd)

