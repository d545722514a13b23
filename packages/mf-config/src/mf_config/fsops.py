"""The file-system calls that publish an output, in one place: rename, rename-exchange, fsync, removal.

Every publication step of :mod:`mf_config.fileio` goes through these functions, each of which first calls
``HOOK(op, path)`` when a hook is set: the fault-injection tests (:mod:`mf_config.faults`) set it to kill the
process at a chosen step; production code never does.
"""

import ctypes
import ctypes.util
import errno
import os
import shutil
import sys

HOOK = None  # called as HOOK(op, path) before each operation (fault injection in tests)
DURABLE = True  # False skips the fsync calls themselves (fault-injection children: a killed process loses no
# written data, only a power cut does, so the kill tests need the steps, not the wait for the disk)

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_UNSUPPORTED = {errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV}


def point(op, path):
    """Announce an operation to the hook (a no-op in production)."""
    if HOOK is not None:
        HOOK(op, str(path))


def _renameat2():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):  # glibc < 2.28, musl without it
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_EXCHANGE = _renameat2()


def can_exchange():
    """True where this system may swap two names atomically (Linux renameat2; the file system may still refuse)."""
    return _EXCHANGE is not None


def exchange(a, b):
    """Swap the names ``a`` and ``b`` atomically (both must exist). NotImplementedError where the system or the
    file system cannot; the caller then falls back to two renames."""
    if _EXCHANGE is None:
        raise NotImplementedError("renameat2 is not available")
    point("exchange", b)
    if _EXCHANGE(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) != 0:
        err = ctypes.get_errno()
        if err in _UNSUPPORTED:
            raise NotImplementedError(os.strerror(err))
        raise OSError(err, os.strerror(err), str(a), None, str(b))


def replace(src, dst):
    """``os.replace``: atomic for a file, or for a folder onto a missing or empty name."""
    point("replace", dst)
    os.replace(src, dst)


def fsync_fd(fd, path):
    """Flush one open file's data and metadata to the disk."""
    point("fsync", path)
    if DURABLE:
        os.fsync(fd)


def fsync_path(path):
    """Flush a file or a folder (its entries) to the disk."""
    point("fsync", path)
    if not DURABLE:
        return
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if os.path.isdir(path) else 0)
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    except OSError as e:  # some file systems cannot fsync a folder
        if e.errno not in (errno.EINVAL, errno.EBADF, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def fsync_tree(path):
    """Flush every file and folder under ``path`` (a file or a folder), the folders after their entries."""
    if not os.path.isdir(path) or os.path.islink(path):
        fsync_path(path)
        return
    for root, _dirs, files in os.walk(path, topdown=False):
        for name in files:
            full = os.path.join(root, name)
            if not os.path.islink(full):
                fsync_path(full)
        fsync_path(root)


def remove(path):
    """Remove a file, link or folder tree; a missing one is fine."""
    point("remove", path)
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
