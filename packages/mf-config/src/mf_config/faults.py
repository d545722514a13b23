"""Fault injection for writers, for the tests of every package (and of every new writer).

A writer runs in a forked child whose publication steps (``mf_config.fsops``: every rename, exchange, fsync and
removal) are announced to a hook; the hook kills the child (SIGKILL), terminates it (SIGTERM), fails the step
with a full disk (ENOSPC) or pauses it at a chosen step. :func:`exercise_writer` does that at every step of a
writer replacing its old output (the fsync steps are announced, the fsync calls skipped: a killed process loses
no written data), and :func:`random_kills` signals a real command at random moments; both check
that a reader then sees the old output or the new one, complete, that SIGTERM leaves no temporary, and that a
re-run succeeds and leaves nothing behind. :func:`race` checks that a second writer fails at once.
"""

import contextlib
import dataclasses
import errno
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import traceback
from pathlib import Path

from mf_config import fsops

ACTIONS = ("kill", "term", "nospace", "pause")


@dataclasses.dataclass
class Run:
    """A forked writer's end: ``status`` (exit code, or minus the signal), its error line (or traceback), its
    stderr, and the publication steps announced (``[(op, path)]``, its children's included)."""

    status: int
    message: str
    stderr: str
    ops: list


def _exit_code(fn):
    import click

    from mf_config.cli_support import Terminated, terminate_cleanly
    from mf_config.errors import MFError

    try:
        with terminate_cleanly():  # as every mf CLI does (an API writer runs under one)
            rv = fn()
        return (rv if isinstance(rv, int) else 0), ""
    except Terminated as e:
        return 128 + e.signum, ""
    except SystemExit as e:
        return (e.code if isinstance(e.code, int) else 0 if e.code is None else 1), ""
    except MFError as e:
        return 2, str(e)
    except click.ClickException as e:
        return e.exit_code, e.format_message()
    except BaseException:  # noqa: BLE001 - a writer's bug: report it to the test
        return 3, traceback.format_exc()


def _child(fn, action, at, d):
    os.setpgid(0, 0)
    out = os.open(os.path.join(d, "stderr"), os.O_WRONLY | os.O_CREAT, 0o644)
    os.dup2(out, 1)
    os.dup2(out, 2)
    counter = os.open(os.path.join(d, "count"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    trace = os.open(os.path.join(d, "trace"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    top = os.getpid()

    def hook(op, path):
        n = os.fstat(counter).st_size
        os.write(counter, b".")
        os.write(trace, f"{op}\t{path}\n".encode("utf-8", "surrogateescape"))
        if n != at:
            return
        if action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif action == "term":
            os.kill(top, signal.SIGTERM)
        elif action == "nospace":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        elif action == "pause":
            Path(d, "ready.tmp").write_text(str(top))  # the writer that holds the output (a writer process's
            os.replace(Path(d, "ready.tmp"), Path(d, "ready"))  # parent), published whole: the test polls for it
            time.sleep(3600)

    fsops.HOOK = hook
    fsops.DURABLE = False
    code, message = _exit_code(fn)
    Path(d, "result").write_text(json.dumps({"message": message}))
    os._exit(code)


def _reap(pid, timeout):
    def stop():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)

    timer = threading.Timer(timeout, stop)
    timer.start()
    try:
        _, status = os.waitpid(pid, 0)
    finally:
        timer.cancel()
    stop()  # what the writer left running (a killed parent's writer process)
    return os.waitstatus_to_exitcode(status)


def _collect(pid, d, timeout):
    status = _reap(pid, timeout)
    read = lambda name: Path(d, name).read_text(encoding="utf-8", errors="replace") if Path(d, name).exists() else ""  # noqa: E731
    result = json.loads(read("result") or "{}")
    ops = [tuple(line.split("\t", 1)) for line in read("trace").splitlines()]
    return Run(status, result.get("message", ""), read("stderr"), ops)


def run_forked(fn, action=None, at=-1, timeout=300):
    """Run ``fn()`` (a writer; an int return is its exit code) in a forked child, doing ``action`` (one of
    ACTIONS) at its publication step number ``at``; returns a :class:`Run` once it and its children are gone."""
    with tempfile.TemporaryDirectory(prefix="mf-fault-") as d:
        pid = os.fork()
        if pid == 0:
            try:
                _child(fn, action, at, d)
            finally:
                os._exit(4)
        return _collect(pid, d, timeout)


@contextlib.contextmanager
def paused(fn, timeout=120):
    """A writer ``fn`` paused at its first publication step (it holds its output's lock): yields its pid."""
    with tempfile.TemporaryDirectory(prefix="mf-fault-") as d:
        pid = os.fork()
        if pid == 0:
            try:
                _child(fn, "pause", 0, d)
            finally:
                os._exit(4)
        try:
            deadline = time.monotonic() + timeout
            while not Path(d, "ready").exists():
                if os.waitpid(pid, os.WNOHANG)[0] or time.monotonic() > deadline:
                    raise AssertionError(f"the writer did not reach a publication step: {_collect(pid, d, 1)}")
                time.sleep(0.01)
            yield int(Path(d, "ready").read_text())
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def _in_process(fn):
    """Run a writer here (it warms the imports its forked runs then share); it must succeed."""
    code, message = _exit_code(fn)
    assert code == 0, message


def leftovers(path):
    """What writers of ``path`` left beside it: temporaries, locks (the commit marker is part of the output)."""
    path = Path(path)
    prefix = f".{path.name}."
    if not path.parent.is_dir():
        return []
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith(prefix) and p.name != f"{prefix}commit")


def _snapshot(folder, snapshot):
    """Hard links, not copies: a writer never changes a published file in place (it renames new ones over
    them), so the links keep the old contents; and MindRecord's sparse 48 MiB files cost nothing."""
    shutil.copytree(folder, snapshot, symlinks=True, copy_function=os.link)


def _restore(folder, snapshot):
    shutil.rmtree(folder)
    _snapshot(snapshot, folder)


def _check_after(path, read, states, run, action):
    seen = read(path)
    assert seen in states, f"after {action} at a publication step the output is neither old nor new: {run}"
    if action == "term":
        assert not leftovers(path), f"SIGTERM left {leftovers(path)}: {run}"


def exercise_writer(write_old, write_new, read, path, actions=("kill", "term")):
    """Replace the output ``path`` (alone in its folder) made by ``write_old`` with ``write_new``'s, doing each of
    ``actions`` at each publication step in turn. After each: ``read(path)`` (what a reader sees, None when
    absent; it raises on an incomplete output) is the old or the new output, and a re-run of ``write_new``
    succeeds, gives the new output and leaves no temporary. Returns the number of faults injected."""
    folder = Path(path).parent
    _in_process(write_old)
    old = read(path)
    snapshot = folder.with_name(f".{folder.name}.snapshot")  # beside it: hard links need one file system
    _snapshot(folder, snapshot)
    try:
        traced = run_forked(write_new)
        assert traced.status == 0, traced
        new = read(path)
        assert new != old, "the old and the new output must differ"
        steps = [op for op, _ in traced.ops]
        assert steps, "the writer announced no publication step: does it use mf_config.fileio?"
        faults = 0
        for action in actions:
            for at in range(len(steps)):
                _restore(folder, snapshot)
                run = run_forked(write_new, action, at)
                assert run.status != 3, run
                _check_after(path, read, (old, new), run, action)
                again = run_forked(write_new)
                assert again.status == 0 and read(path) == new, again
                assert not leftovers(path), f"a re-run after {action} left {leftovers(path)}"
                faults += 1
    finally:
        shutil.rmtree(snapshot)
    return faults


def full_disk(write_old, write_new, read, path):
    """``write_new`` failing with ENOSPC at each of its fsyncs while replacing ``write_old``'s output: exit 2 with
    one line saying no space is left, the old output in place (or the new one, when the failing fsync came after
    its rename), nothing left behind. Returns the number of faults injected."""
    _in_process(write_old)
    old = read(path)
    traced = run_forked(write_new)
    assert traced.status == 0, traced
    new = read(path)
    faults = 0
    for at in [i for i, (op, _) in enumerate(traced.ops) if op == "fsync"]:
        assert run_forked(write_old).status == 0
        run = run_forked(write_new, "nospace", at)
        assert run.status == 2 and "no space left" in run.message and "\n" not in run.message.strip(), run
        assert read(path) in (old, new), f"ENOSPC at step {at}: neither old nor new output"
        assert not leftovers(path), f"ENOSPC left {leftovers(path)}"
        faults += 1
    return faults


def race(write, path):
    """A second writer of ``path`` while a first one holds it: the second fails at once (exit 2) naming the
    first's pid; then a writer succeeds and nothing is left behind."""
    with paused(write) as first:
        second = run_forked(write, timeout=60)
    assert second.status == 2 and f"pid {first}" in second.message, second
    again = run_forked(write)
    assert again.status == 0, again
    assert not leftovers(path), f"left {leftovers(path)}"
    return 1


def random_kills(argv, read, path, states, count, rng, env=None, seconds=None):
    """Run the command ``argv`` (writing ``path``) ``count`` times, each time sending SIGKILL or SIGTERM to it
    at a random moment within ``seconds`` (default: one normal run's duration). Afterwards ``read(path)`` is one
    of ``states``, and after SIGTERM no temporary is left. Returns the number of signals sent."""
    if seconds is None:
        start = time.monotonic()
        subprocess.run(argv, env=env, check=True, capture_output=True)
        seconds = time.monotonic() - start
    sent = 0
    for _ in range(count):
        sig = rng.choice([signal.SIGKILL, signal.SIGTERM])
        proc = subprocess.Popen(argv, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0, seconds))
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=300)
        _wait_group(proc.pid)
        assert proc.returncode in (0, -sig, 128 + sig), (proc.returncode, err[-2000:])
        assert read(path) in states, f"after {sig.name}: neither old nor new output"
        if sig == signal.SIGTERM:
            assert not leftovers(path), f"SIGTERM left {leftovers(path)}: {err[-2000:]}"
        sent += 1
    return sent


def _wait_group(pgid, timeout=60):
    """Wait for the processes the command left (its writer process sees the pipe close and stops)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        if _only_zombies(pgid):
            return
        time.sleep(0.02)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def _only_zombies(pgid):
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_bytes().rpartition(b")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != b"Z":
            return False
    return True
