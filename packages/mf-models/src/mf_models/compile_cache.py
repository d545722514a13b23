"""mf's compile cache across processes, made safe on top of MindSpore's own (``MS_COMPILER_CACHE_*``).

MindSpore 2.10 stores the Nth graph that a process compiles with its cache on as ``compile_cache_N.mindir`` in one
folder per process and loads it back by that position alone ("be aware of correctness risks"): a process that
compiles other graphs first, or the same ones in another order, runs the wrong graph (seen: a Reshape size error,
or silently wrong numbers where the shapes happen to fit). mf therefore:
- switches MindSpore's cache on only around mf's own compiles (``compiling``), so only they take positions;
- picks the folder by MindSpore, Python, the entry script and the first graph's key, and keeps in it a journal of
  the key of the graph at each position: a position is loaded only where the journal names the same graph; a
  position the journal lacks has its files removed first; from the first difference on the process compiles
  without the cache;
- keys a graph by everything that makes it (``graph_key``): the cells' classes, the source files of their
  packages, their constants, the parameters' names, shapes and dtypes and the inputs' shapes and dtypes;
  anything it cannot hash makes the key unique (never loaded);
- lets one process use a folder at a time (a lock held for the process's life): another one compiles.

The folder: ``$MF_COMPILE_CACHE`` (``0`` switches the cache off), else ``$XDG_CACHE_HOME/mf/compile`` (default
``~/.cache/mf/compile``); the 64 most recently used sub-folders are kept. mf leaves MindSpore's cache alone when
the user runs it (``MS_COMPILER_CACHE_ENABLE``/``_PATH`` or ``enable_compile_cache`` set), and does not use it under
``python -c`` or stdin: MindSpore's cache reads the entry script's file and fails without one.
"""

import hashlib
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path

import mindspore as ms
import numpy as np
from mindspore import Parameter, Tensor, nn, ops

from mf_config.fileio import atomic_write
from mf_models.fd2 import fd2_to

logger = logging.getLogger("mf_models")
ENV = "MF_COMPILE_CACHE"
KEPT = 64
JOURNAL = "journal.json"
# attributes MindSpore keeps on every Cell that change from process to process without changing the graph
VOLATILE = frozenset({"arguments_key", "phase", "create_time", "compile_phase", "current_phase", "is_top_cell",
                      "cell_init_args", "generation_config"})
_SIMPLE = (bool, int, float, str, type(None))
# what MindSpore's cache logs at WARNING level on file descriptor 2 for each graph it writes or loads (shown when
# the user sets GLOG_v, hidden otherwise: a first run would print two of these per graph)
CHATTER = ("compile_dependency.hash", "GetCompileCacheResource", "Use the compilation cache")


def cache_root() -> Path | None:
    """Where the cache lives, or None when ``$MF_COMPILE_CACHE`` is ``0``."""
    value = os.environ.get(ENV, "")
    if value == "0":
        return None
    if value:
        return Path(value)
    return user_cache("compile")


def user_cache(name: str) -> Path:
    """``$XDG_CACHE_HOME/mf/<name>`` (default ``~/.cache/mf/<name>``): where mf keeps what it builds for a user."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mf" / name


def why_not_usable() -> str | None:
    """Why this process cannot use the cache (None when it can)."""
    if cache_root() is None:
        return f"{ENV}=0"
    if os.environ.get("MS_COMPILER_CACHE_ENABLE") or os.environ.get("MS_COMPILER_CACHE_PATH") \
            or ms.get_context("enable_compile_cache"):
        return "MindSpore's compile cache is set by the user"
    entry = sys.argv[0] if sys.argv else ""
    if not entry or not os.path.isfile(entry):
        return "no entry script (python -c or stdin)"
    try:
        import fcntl  # noqa: F401
    except ImportError:
        return "no file locks here"
    return None


class _Journal:
    """This process's use of one cache folder: the journal of graph keys by position, and the position of the
    next compile."""

    def __init__(self):
        self.state = "unset"  # unset | on | off
        self.folder = None
        self.keys = []
        self.position = 0
        self.lock = None

    def start(self, first_key):
        reason = why_not_usable()
        if reason is None:
            reason = self._open(first_key)
        if reason is not None:
            self.stop(reason)

    def _open(self, first_key):
        import fcntl

        env = _digest([ms.__version__, sys.version, platform.machine(), os.path.realpath(sys.argv[0]),
                       os.environ.get("RANK_ID", "")])
        root = cache_root()
        folder = root / f"{env[:16]}-{first_key[:16]}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            lock = open(folder / "lock", "a")  # noqa: SIM115 (held for the process's life)
        except OSError as e:
            return f"cannot write {folder} ({e.strerror})"
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            return f"{folder} is in use by another process"
        self.lock, self.folder, self.keys, self.state = lock, folder, read_journal(folder), "on"
        os.utime(folder)
        prune(root, keep=folder)
        return None

    def stop(self, reason):
        if self.state != "off":
            logger.info("compile cache: %s; compiling without it", reason)
        self.state = "off"

    def admits(self, key) -> bool:
        """Whether the next compile may use the cache: the journal has this key at this position, or no key there
        (then the position's files are removed, so MindSpore writes them anew)."""
        if self.position < len(self.keys):
            if self.keys[self.position] == key:
                return True
            self.stop(f"graph {self.position} differs from the cached run's")
            return False
        for stale in self.folder.glob(f"rank_*/graph_cache/*compile_cache_{self.position}.*"):
            stale.unlink()
        return True

    def record(self, key):
        if self.position == len(self.keys):
            self.keys.append(key)
            with atomic_write(self.folder / JOURNAL) as f:
                json.dump(self.keys, f)
        self.position += 1


_JOURNAL = _Journal()


@contextmanager
def compiling(cell, args):
    """Around a call of ``cell`` that may compile: MindSpore's cache on for it when the journal allows."""
    journal = _JOURNAL
    if journal.state == "off":
        yield
        return
    key = graph_key(cell, args)
    if journal.state == "unset":
        journal.start(key)
    if journal.state != "on" or not journal.admits(key):
        yield
        return
    compiled = len(cell.compile_cache)
    # set for this call only, so that child processes do not inherit them (MindSpore reads the path once)
    os.environ.update(MS_COMPILER_CACHE_ENABLE="1", MS_COMPILER_CACHE_PATH=str(journal.folder))
    # MindSpore's cache replaces sys.stdout/sys.stderr with bare fd printers when it writes a graph: whatever the
    # caller had put there (a CLI runner's capture, a notebook's stream) is put back
    streams = sys.stdout, sys.stderr
    try:
        with _chatter_hidden():
            yield
    except BaseException:
        journal.stop("a compile failed")
        raise
    finally:
        os.environ.pop("MS_COMPILER_CACHE_ENABLE", None)
        os.environ.pop("MS_COMPILER_CACHE_PATH", None)
        sys.stdout, sys.stderr = streams
    if len(cell.compile_cache) > compiled:  # MindSpore compiled (and took a position) in this call
        journal.record(key)


@contextmanager
def _chatter_hidden():
    """File descriptor 2 to a temporary file for the block; then every line but MindSpore's cache chatter
    (``CHATTER``) is written to it (nothing when the user set ``GLOG_v``: they asked for MindSpore's logs)."""
    if "GLOG_v" in os.environ:
        yield
        return
    with tempfile.TemporaryFile() as held:
        try:
            with fd2_to(held.fileno()):
                yield
        finally:
            held.seek(0)
            lines = held.read().splitlines(keepends=True)
            kept = b"".join(line for line in lines if not any(m.encode() in line for m in CHATTER))
            if kept:
                os.write(2, kept)


def read_journal(folder) -> list:
    """The journal's keys; an unreadable journal is an empty one (its positions' files are then replaced)."""
    try:
        keys = json.loads((folder / JOURNAL).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return keys if isinstance(keys, list) and all(isinstance(k, str) for k in keys) else []


def prune(root, keep, kept=KEPT):
    """Remove the least recently used cache folders beyond ``kept`` (those no process holds)."""
    import fcntl

    folders = sorted((p for p in root.iterdir() if p.is_dir() and p != keep), key=lambda p: p.stat().st_mtime)
    for folder in folders[:max(0, len(folders) + 1 - kept)]:
        try:
            with open(folder / "lock", "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                shutil.rmtree(folder)
        except OSError:
            continue


def graph_key(cell, args) -> str:
    """A digest of what makes the graph of ``cell`` called with ``args`` (see the module docstring)."""
    parts = [ms.__version__]
    classes = set()
    for name, sub in cell.cells_and_names():
        classes.add(type(sub))
        parts.append([name, type(sub).__module__, type(sub).__qualname__])
        for attr, value in sorted(vars(sub).items()):
            if not attr.startswith("_") and attr not in VOLATILE:
                parts.append([attr, constant(value)])
    parts.append([[p.name, list(p.shape), str(p.dtype)] for p in cell.get_parameters()])
    parts.append([[list(a.shape), str(a.dtype)] if isinstance(a, Tensor) else constant(a) for a in args])
    parts.append(sorted(source_digest(c) for c in classes))
    return _digest(parts)


def constant(value):
    """A JSON-able token for a cell attribute that may be baked into its graph; None for what is not part of it
    (Parameters are keyed by name and shape, sub-cells on their own); a unique token for what cannot be hashed."""
    if isinstance(value, _SIMPLE):
        return [type(value).__name__, value]
    if isinstance(value, (Parameter, nn.Cell, ms.ParameterTuple)):
        return None
    if isinstance(value, Tensor):
        try:
            array = value.asnumpy()
        except (RuntimeError, TypeError):
            return uuid.uuid4().hex
        return [list(value.shape), str(value.dtype), hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()]
    if isinstance(value, ms.Type):
        return str(value)
    if isinstance(value, ops.Primitive):
        return [type(value).__name__, json.dumps(value.attrs, sort_keys=True, default=str)]
    if isinstance(value, (tuple, list)):
        return [constant(v) for v in value]
    if isinstance(value, dict) or hasattr(value, "to_dict"):
        try:
            return json.dumps(value if isinstance(value, dict) else value.to_dict(), sort_keys=True, default=str)
        except (TypeError, ValueError):
            return uuid.uuid4().hex
    if callable(value):
        return f"{getattr(value, '__module__', '')}.{getattr(value, '__qualname__', type(value).__name__)}"
    return None


_SOURCES = {}


def source_digest(cls) -> str:
    """Digest of the source files that may define ``cls``'s graph: every .py file of the top-level package of each
    class in its MRO outside MindSpore (a module outside a package: its own file)."""
    digests = []
    for klass in cls.__mro__:
        module = sys.modules.get(klass.__module__)
        path = getattr(module, "__file__", None)
        if path is None or klass.__module__.split(".")[0] in ("mindspore", "builtins"):
            continue
        top = sys.modules.get(klass.__module__.split(".")[0])
        root = Path(top.__file__).parent if top is not None and getattr(top, "__path__", None) else Path(path)
        if root not in _SOURCES:
            files = sorted(root.rglob("*.py")) if root.is_dir() else [root]
            _SOURCES[root] = _digest([[str(f.relative_to(root.parent)), hashlib.sha256(f.read_bytes()).hexdigest()]
                                      for f in files])
        digests.append(_SOURCES[root])
    return _digest(digests)


def _digest(parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()
