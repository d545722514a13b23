"""The arguments of ``mf-parallel launch``: options, or MindFormers' ``msrun_launcher.sh`` positional forms, with
that script's defaults, resolved to one ``LaunchSpec`` and checked before anything starts.

msrun_launcher.sh forms (EXECUTE_ORDER is the quoted command; here it may also follow ``--``)::

    [EXECUTE_ORDER]                                             8 workers on this node
    [EXECUTE_ORDER] WORKER_NUM
    [EXECUTE_ORDER] WORKER_NUM MASTER_PORT LOG_DIR JOIN CLUSTER_TIME_OUT
    [EXECUTE_ORDER] WORKER_NUM LOCAL_WORKER MASTER_ADDR MASTER_PORT NODE_RANK LOG_DIR JOIN CLUSTER_TIME_OUT
"""

import shlex
from dataclasses import dataclass

import click

from mf_parallel.errors import ParallelError

DEFAULTS = dict(worker_num=8, local_worker_num=None, master_addr="127.0.0.1", master_port=8118, node_rank=0,
                log_dir="output/msrun_log", join=False, cluster_time_out=7200)
FORMS = {1: ("worker_num",),
         5: ("worker_num", "master_port", "log_dir", "join", "cluster_time_out"),
         8: ("worker_num", "local_worker_num", "master_addr", "master_port", "node_rank", "log_dir", "join",
             "cluster_time_out")}


@dataclass(frozen=True)
class LaunchSpec:
    command: tuple
    worker_num: int = 8
    local_worker_num: int = 8
    master_addr: str = "127.0.0.1"
    master_port: int = 8118
    node_rank: int = 0
    log_dir: str = "output/msrun_log"
    join: bool = False
    cluster_time_out: int = 7200

    @property
    def local_ranks(self):
        first = self.node_rank * self.local_worker_num
        return list(range(first, first + self.local_worker_num))


def _int(value, key, low=None, high=None):
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise ParallelError(f"expected an integer, got {value!r}", key=key) from None
    if (low is not None and n < low) or (high is not None and n > high):
        raise ParallelError(f"{n} is outside [{low}, {high if high is not None else 'inf'}]", key=key)
    return n


def _bool(value, key):
    if isinstance(value, bool):
        return value
    if str(value) in ("True", "true", "1"):
        return True
    if str(value) in ("False", "false", "0"):
        return False
    raise ParallelError(f"expected True or False, got {value!r}", key=key)


def resolve(positionals, command, options):
    """A checked ``LaunchSpec`` from positionals (msrun_launcher.sh's forms, optionally led by EXECUTE_ORDER),
    the command after ``--`` and the options given (None = not given; an option beats a positional)."""
    positionals = list(positionals)
    command = list(command)
    if positionals and not command and not positionals[0].lstrip("-").isdigit():
        command = shlex.split(positionals.pop(0))
    if not command:
        raise ParallelError("no command to run: mf-parallel launch [OPTIONS] [WORKER_NUM ...] -- COMMAND ...",
                            key="command")
    if positionals and len(positionals) not in FORMS:
        raise ParallelError(f"msrun_launcher.sh takes 0, 1, 5 or 8 values after the command, got "
                            f"{len(positionals)}: {' '.join(positionals)}", key="positionals")
    values = dict(DEFAULTS)
    values.update(zip(FORMS.get(len(positionals), ()), positionals))
    values.update({k: v for k, v in options.items() if v is not None})
    worker_num = _int(values["worker_num"], "worker_num", 1)
    local = values["local_worker_num"]
    local = worker_num if local is None else _int(local, "local_worker_num", 1, worker_num)
    if worker_num % local:
        raise ParallelError(f"worker_num ({worker_num}) is not a multiple of local_worker_num ({local})",
                            key="local_worker_num")
    spec = LaunchSpec(tuple(command), worker_num, local, str(values["master_addr"]),
                      _int(values["master_port"], "master_port", 1024, 65535),
                      _int(values["node_rank"], "node_rank", 0, worker_num // local - 1), str(values["log_dir"]),
                      _bool(values["join"], "join"), _int(values["cluster_time_out"], "cluster_time_out"))
    return spec


# the launcher's options: name -> (click type, help)
LAUNCHER_OPTIONS = {
    "worker_num": (int, "Workers of the whole job (default 8, as msrun_launcher.sh)."),
    "local_worker_num": (int, "Workers on this node (default: worker_num)."),
    "master_addr": (str, "The scheduler's address (default 127.0.0.1)."),
    "master_port": (int, "The scheduler's port (default 8118)."),
    "node_rank": (int, "This node's index (default 0)."),
    "log_dir": (str, "Where worker_N.log go (default output/msrun_log)."),
    "join": (click.BOOL, "msrun's --join (default False)."),
    "cluster_time_out": (int, "Seconds to wait for the cluster to form (default 7200)."),
}


def launcher_options(command):
    """The launcher's click options (``mf-parallel launch`` and ``mf-train launch`` take the same ones)."""
    for name, (kind, text) in reversed(LAUNCHER_OPTIONS.items()):
        command = click.option(f"--{name}", type=kind, default=None, help=text)(command)
    return command
