"""What every benchmark shares so that both sides get the same CPU and the same treatment (issue 18).

- ``cpu_setup()`` runs before torch or MindSpore is imported: it reads ``--threads N`` and ``--pin`` from the command
  line, sets ``OMP_NUM_THREADS``/``MKL_NUM_THREADS``/``RAYON_NUM_THREADS`` (read once when those libraries load) and
  pins the process (and so its children) to one core with ``--pin``, as ``taskset -c 0`` would.
- ``frameworks()`` sets the same count inside torch (``set_num_threads``: threads within an op) and MindSpore
  (``runtime_num_threads`` and the CPU kernel threads, ``device_context.cpu.op_tuning.threads_num``), and runs
  MindSpore's ops one at a time (``inter_op_parallel_num=1``, as torch's eager ops): with ``runtime_num_threads``
  alone MindSpore 2.10 used up to 1.95 cores on ``--threads 1`` (issue 18), a train step still 1.5 cores without
  ``inter_op_parallel_num=1``, and ``inter_op_parallel_num=2`` made a 2-thread decode 2.3x slower.
- ``interleave()`` times the sides in rounds (A, B, then B, A, ...) with wall and CPU time of each call, so that a
  change of the machine's load falls on both and the thread setting is verified: CPU / wall is the cores a side used.
- ``child()`` runs a side in its own process and takes its CPU time and peak RSS from ``wait4``.
- ``check()`` prints PASS or MISS against a target of issue 18; ``load()`` the load average (print before and after).
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time


def add_cpu_args(parser):
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for each side (default: each framework's own); 1 and 2 are the variants "
                             "of issue 18")
    parser.add_argument("--pin", action="store_true",
                        help="pin the whole run (children included) to one core, as taskset -c 0; implies "
                             "--threads 1 unless given")


def cpu_setup(argv=None):
    """Parse ``--threads``/``--pin`` and apply them to this process before the frameworks load; returns the
    thread count (None: each framework's default)."""
    parser = argparse.ArgumentParser(add_help=False)
    add_cpu_args(parser)
    known, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    threads = known.threads or (1 if known.pin else None)
    if known.pin:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    if threads:
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS"):
            os.environ[name] = str(threads)
    return threads


def frameworks(threads, torch=True, mindspore=True):
    """Give torch and MindSpore ``threads`` CPU threads each (call once, after importing them)."""
    if not threads:
        return
    if torch:
        import torch as _torch

        _torch.set_num_threads(threads)
    if mindspore:
        import mindspore as ms

        # threads for each kernel, as torch.set_num_threads; one kernel at a time, as torch's eager ops run:
        # inter_op_parallel_num=2 made a tiny decode 2.3x slower on 2 cores (229 tokens/s against 549)
        ms.set_context(runtime_num_threads=threads, inter_op_parallel_num=1)
        ms.device_context.cpu.op_tuning.threads_num(threads)


FRAMEWORKS = "OMP/MKL/RAYON env, torch.set_num_threads, MindSpore runtime/kernel threads, inter-op 1"


def describe(threads, how=FRAMEWORKS):
    cores = sorted(os.sched_getaffinity(0))
    where = f"pinned to core {cores[0]}" if len(cores) == 1 else f"on cores {cores[0]}-{cores[-1]}"
    setup = f"{threads} thread(s) each ({how})" if threads else "each side's default threads"
    return f"{setup}; {where} of {os.cpu_count()}"


def load():
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg()) + f" on {os.cpu_count()} cores"


def timed(fn):
    """(wall seconds, CPU seconds of this process over all its threads and finished children, result)."""
    wall, cpu = time.perf_counter(), _cpu()
    out = fn()
    return time.perf_counter() - wall, _cpu() - cpu, out


def _cpu():
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


class Runs:
    """The calls of one side: its first call (cold: compile, caches) apart from the rest."""

    def __init__(self):
        self.first, self.calls, self.result = None, [], None

    def best(self):
        """(wall, CPU) of the least disturbed call: the fastest wall, and the least CPU."""
        return min(w for w, _ in self.calls), min(c for _, c in self.calls)

    def cores(self):
        """Cores used: the most CPU over wall of any call (a busy machine only lowers it; above ``--threads``, the
        setting was not honoured)."""
        return max(cpu / wall for wall, cpu in self.calls if wall)


def interleave(fns, repeat, first=True):
    """Time each of ``fns`` ``repeat`` times in rounds, the order reversed every other round; with ``first`` the
    first round is kept apart as the cold call (compile, caches) and not counted in the best."""
    runs = [Runs() for _ in fns]
    order = list(range(len(fns)))
    for r in range(repeat + (1 if first else 0)):
        for i in order if r % 2 == 0 else order[::-1]:
            wall, cpu, runs[i].result = timed(fns[i])
            if first and r == 0:
                runs[i].first = (wall, cpu)
            else:
                runs[i].calls.append((wall, cpu))
    return runs


def child(command, env=None, cwd=None, affinity=None):
    """Run a side in its own process (affinity and thread env inherited, or the cores ``affinity``): (stdout, wall s,
    CPU s of it and its children, peak RSS MB), from ``wait4``."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        pin = (lambda: os.sched_setaffinity(0, affinity)) if affinity else None
        process = subprocess.Popen(command, stdout=out, stderr=err, text=True, env=env, cwd=cwd, preexec_fn=pin)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if process.returncode:
            raise SystemExit(f"{' '.join(map(str, command[:4]))} failed:\n{err.read()[-3000:]}")
        return out.read(), wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def ratio_cols(ours, theirs):
    """'wall x / CPU x' of theirs over ours (> 1: ours faster / cheaper) from two (wall, CPU) pairs."""
    return f"{theirs[0] / ours[0]:5.2f}x {theirs[1] / ours[1]:5.2f}x"


def check(what, value, target, higher=True, unit="x"):
    ok = value >= target if higher else value <= target
    sign = ">=" if higher else "<="
    print(f"{'PASS' if ok else 'MISS'}: {what} {value:.2f}{unit} (target {sign} {target}{unit}, issue 18)")
    return ok


def check_cores(what, cores, threads):
    """Verify the thread setting: a side may use at most ``threads`` cores (10% slack for the Python thread)."""
    if not threads:
        print(f"cores used by {what}: {cores:.2f} (no --threads: nothing to verify)")
        return True
    ok = cores <= threads * 1.1
    print(f"{'PASS' if ok else 'MISS'}: {what} used {cores:.2f} cores with --threads {threads}")
    return ok
