"""``mf-parallel launch``: MindSpore's msrun around a command, supervised.

It prints the msrun command it runs, shows each local rank's log (``LOG_DIR/worker_N.log``) as it grows with a
``[rank N]`` prefix, and when a rank's command exits non-zero it stops the job at once and exits with that code,
naming the rank, its code and its log (msrun alone reports a failure ~35 s later, without the code). Each rank
runs ``python -m mf_parallel.worker`` (see ``mf_parallel.worker``) with the command in ``MF_PARALLEL_COMMAND``
(msrun's argument parser would take a command option such as ``--worker`` for an abbreviation of its own), which
records the exit code.

Multi-node: the same command on every node with its ``--node_rank``. A node whose master address is this very
machine but which is not node 0 (two "nodes" on one host) cannot use msrun, which would start a second scheduler
on the master port; its workers are started directly with the environment msrun gives them.
"""

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from mf_parallel.errors import ParallelError

POLL_S = 0.2


def msrun_command(spec):
    """The msrun argv for ``spec`` (each worker runs ``mf_parallel.worker``, which reads the command from
    ``MF_PARALLEL_COMMAND``)."""
    return [*_msrun(), f"--worker_num={spec.worker_num}", f"--local_worker_num={spec.local_worker_num}",
            f"--master_addr={spec.master_addr}", f"--master_port={spec.master_port}",
            f"--node_rank={spec.node_rank}", f"--log_dir={spec.log_dir}", f"--join={spec.join}",
            f"--cluster_time_out={spec.cluster_time_out}", "python", "-m", "mf_parallel.worker"]


def command_env(spec):
    return {"MF_PARALLEL_COMMAND": json.dumps(list(spec.command))}


def shown(env, cmd):
    """``cmd`` as one shell line with the variables of ``env`` that the launcher sets."""
    return " ".join([*(f"{k}={shlex.quote(v)}" for k, v in env.items()), shlex.join(cmd)])


def _msrun():
    """msrun beside this interpreter, else on PATH, else its module run by this interpreter."""
    found = Path(sys.executable).with_name("msrun")
    if found.is_file():
        return [str(found)]
    return [shutil.which("msrun") or sys.executable, *([] if shutil.which("msrun") else
                                                       ["-m", "mindspore.parallel.cluster.run"])]


def is_local(addr):
    """Whether ``addr`` names this machine."""
    try:
        ip = socket.gethostbyname(addr)
    except OSError:
        return False
    if ip.startswith("127."):
        return True
    try:
        return ip in socket.gethostbyname_ex(socket.gethostname())[2]
    except OSError:
        return False


def worker_env(spec, rank, local_index, status_dir):
    """The environment msrun gives a worker (for starting one directly)."""
    return {**os.environ, "MS_ROLE": "MS_WORKER", "MS_SCHED_HOST": spec.master_addr,
            "MS_SCHED_PORT": str(spec.master_port), "MS_WORKER_NUM": str(spec.worker_num),
            "MS_NODE_ID": str(rank), "RANK_ID": str(rank), "RANK_SIZE": str(spec.worker_num),
            "DEVICE_ID": str(local_index), "MS_TOPO_TIMEOUT": str(spec.cluster_time_out),
            "MF_PARALLEL_STATUS_DIR": str(status_dir), "PYTHONUNBUFFERED": "1"}


class Job:
    """The processes of one launch on this node and what they have printed so far."""

    def __init__(self, spec, out=None):
        self.spec, self.out = spec, out or _print
        self.log_dir = Path(spec.log_dir)
        self.status = self.log_dir / f".mf_parallel_status_{os.getpid()}"
        self.procs, self.positions = [], {}

    def start(self):
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.status.mkdir(parents=True, exist_ok=True)
        for rank in self.spec.local_ranks:
            log = self.log_dir / f"worker_{rank}.log"
            if log.exists():
                log.unlink()
        path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
        if self.spec.node_rank > 0 and is_local(self.spec.master_addr):
            self._start_direct(path)
        else:
            cmd = msrun_command(self.spec)
            self.out(f"mf-parallel: {shown(command_env(self.spec), cmd)}")
            env = {**os.environ, **command_env(self.spec), "PATH": path, "MF_PARALLEL_STATUS_DIR": str(self.status),
                   "PYTHONUNBUFFERED": "1"}
            log = open(self.log_dir / f"msrun_node_{self.spec.node_rank}.log", "wb")
            self.procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                               start_new_session=True))

    def _start_direct(self, path):
        self.out(f"mf-parallel: node {self.spec.node_rank} shares the master's host; starting its workers "
                 f"directly (msrun would start a second scheduler on port {self.spec.master_port})")
        for i, rank in enumerate(self.spec.local_ranks):
            env = {**worker_env(self.spec, rank, i, self.status), **command_env(self.spec), "PATH": path}
            cmd = [sys.executable, "-m", "mf_parallel.worker"]
            shown_env = {"MS_ROLE": "MS_WORKER", "MS_NODE_ID": str(rank), **command_env(self.spec)}
            self.out(f"mf-parallel: rank {rank}: {shown(shown_env, cmd)}")
            log = open(self.log_dir / f"worker_{rank}.log", "wb")
            self.procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                               start_new_session=True))

    def show_logs(self):
        for rank in self.spec.local_ranks:
            log = self.log_dir / f"worker_{rank}.log"
            if not log.is_file():
                continue
            with open(log, "rb") as f:
                f.seek(self.positions.get(rank, 0))
                data = f.read()
            end = data.rfind(b"\n") + 1
            self.positions[rank] = self.positions.get(rank, 0) + end
            for line in data[:end].decode("utf-8", "replace").splitlines():
                self.out(f"[rank {rank}] {line}")

    def exits(self):
        out = {}
        for path in self.status.glob("rank_*.exit"):
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            out[int(data["rank"])] = int(data["code"])
        return out

    def stop(self):
        """Kill every process of the job on this node (workers' groups, then msrun's)."""
        for path in self.status.glob("rank_*.pid"):
            try:
                os.killpg(json.loads(path.read_text())["pgid"], signal.SIGKILL)
            except (OSError, ValueError, KeyError):
                pass
        for proc in self.procs:
            try:  # the whole group: msrun may be gone while its scheduler still runs
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            proc.wait()

    def supervise(self):
        """Wait for the local ranks; the exit code of the launch (the failed rank's, or msrun's). The job's
        processes are killed only when it fails or is interrupted (a finished job's ids may already be reused)."""
        code = 1
        try:
            code = self._wait()
            return code
        finally:
            self.show_logs()
            if code != 0:
                self.stop()
            shutil.rmtree(self.status, ignore_errors=True)

    def _wait(self):
        while True:
            time.sleep(POLL_S)
            self.show_logs()
            exits = self.exits()
            failed = sorted((r, c) for r, c in exits.items() if c != 0)
            if failed:
                rank, code = failed[0]
                self.out(f"mf-parallel: rank {rank} exited with code {code}; its log: "
                         f"{self.log_dir / f'worker_{rank}.log'}; stopping the job", err=True)
                return code if 0 < code < 256 else 1
            if len(exits) == len(self.spec.local_ranks):
                self._wait_procs()
                return 0
            code = self._dead_launcher()
            if code is not None:
                return code

    def _dead_launcher(self):
        """msrun (or a directly started worker) that ended before its ranks reported: its exit code."""
        for proc in self.procs:
            code = proc.poll()
            if code not in (None, 0) and not self.exits():
                where = self.log_dir / f"msrun_node_{self.spec.node_rank}.log"
                self.out(f"mf-parallel: msrun exited with code {code} before any rank finished; see {where} and "
                         f"{self.log_dir / 'scheduler.log'}", err=True)
                return code if 0 < code < 256 else 1
        return None

    def _wait_procs(self):
        deadline = time.monotonic() + 60
        for proc in self.procs:
            while proc.poll() is None and time.monotonic() < deadline:
                time.sleep(POLL_S)


def _print(message, err=False):
    print(message, file=sys.stderr if err else sys.stdout, flush=True)


def launch(spec, out=None):
    """Run ``spec``; the exit code (0 when every local rank's command succeeded). ``out(message, err=False)``
    receives what is shown (default: stdout/stderr)."""
    job = Job(spec, out)
    job.start()
    return job.supervise()


def preflight(spec):
    """The layout of a ``--config`` YAML in the command (with its ``--set`` overrides) against the worker count, and
    the checkpoint it loads (``--load_checkpoint`` or the YAML's, sharded per ``--src_strategy_path_or_dir``)
    against the model, before any worker starts: ParallelError/ConfigError naming the key."""
    from mf_parallel.config_check import check_task

    flags = _flags(spec.command)
    config = flags.get("config", [None])[-1]
    if config is None:
        return
    if not Path(config).is_file():
        raise ParallelError("no such file", file=config, key="config")
    check_task(config, flags.get("set", []), spec.worker_num, flags.get("load_checkpoint", [None])[-1],
               flags.get("src_strategy_path_or_dir", [None])[-1])


def _flags(command):
    """{flag: [values]} of ``--flag value`` / ``--flag=value`` for the flags preflight reads."""
    wanted = ("config", "set", "load_checkpoint", "src_strategy_path_or_dir")
    out, args = {}, list(command)
    for i, arg in enumerate(args):
        name, eq, value = arg[2:].partition("=") if arg.startswith("--") else ("", "", "")
        if name in wanted and (eq or i + 1 < len(args)):
            out.setdefault(name, []).append(value if eq else args[i + 1])
    return out
