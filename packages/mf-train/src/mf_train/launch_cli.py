"""``mf-train launch``: ``mf-parallel launch`` + ``mf-train run --use_parallel True`` in one command.

``mf-train launch [WORKER_NUM ...] [--worker_num N --local_worker_num L --master_addr A --master_port P --node_rank R
--log_dir D --join BOOL --cluster_time_out S] --config TASK.yaml [mf-train run's flags]``: the launcher's options
(and ``msrun_launcher.sh``'s positional forms, leading) are mf-parallel's, with its defaults; every other argument
is ``mf-train run``'s. The run's flags, the task's layout against the worker count (product, heads, experts, each
split dimension) and the checkpoint it loads are checked here, before any worker starts.
"""

from typing import Any

import click

from mf_parallel.launch_args import LAUNCHER_OPTIONS, launcher_options


def split_args(args):
    """(msrun_launcher.sh positionals, the launcher's options, the run's arguments) of ``args`` in their order."""
    args = list(args)
    positionals = []
    while args and not args[0].startswith("-"):
        positionals.append(args.pop(0))
    launcher, run = [], []
    while args:
        arg = args.pop(0)
        name = arg.partition("=")[0]
        if name.startswith("--") and name[2:].replace("-", "_") in LAUNCHER_OPTIONS:  # either spelling
            launcher.append(arg)
            if "=" not in arg and args:
                launcher.append(args.pop(0))
        else:
            run.append(arg)
    return positionals, launcher, run


class _LaunchCommand(click.Command):
    """Parses the launcher's part itself; the run's arguments are kept, untouched, in ``ctx.meta``."""

    def parse_args(self, ctx, args):
        if any(a in ("-h", "--help") for a in args):
            return super().parse_args(ctx, args)
        positionals, launcher, run = split_args(args)
        ctx.meta["mf_run_args"] = run
        return super().parse_args(ctx, [*launcher, *positionals])


@click.command("launch", cls=_LaunchCommand)
@launcher_options
@click.argument("positionals", nargs=-1)
@click.pass_context
def launch_command(ctx: click.Context, positionals: tuple[str, ...], **options: Any) -> None:
    """Train on several devices: mf-parallel launch + mf-train run --use_parallel True.

    \b
    mf-train launch [WORKER_NUM ...] [LAUNCHER OPTIONS] --config TASK.yaml [RUN FLAGS]
    The launcher's options and msrun_launcher.sh's positional forms (WORKER_NUM [MASTER_PORT LOG_DIR JOIN
    CLUSTER_TIME_OUT], or the 8-value multi-node form) are mf-parallel launch's; every other flag is mf-train
    run's. Several nodes: the same command on each with its --node_rank.

    \b
    Example (2 model-parallel ranks on this machine):
      mf-train launch --worker_num 2 --config task.yaml --train_data data/wiki \\
        --set parallel_config.model_parallel=2
    """
    from mf_parallel.launch_args import resolve
    from mf_parallel.launcher import launch

    run_args = ctx.meta.get("mf_run_args", [])
    command = ["mf-train", "run", *run_args, "--use_parallel", "True"]
    spec = resolve(positionals, command, options)
    preflight(run_args, spec.worker_num)
    ctx.exit(launch(spec))


def preflight(run_args, worker_num):
    """The run's flags parsed as ``mf-train run`` parses them, then its task: the layout against ``worker_num``
    workers, what a parallel run refuses, and the checkpoint a finetune or eval loads (names and full shapes
    from the files' headers). A mistake is a one-line error naming the key; no worker has started."""
    from mf_config.sources import identify, model_config_from_task
    from mf_parallel.config_check import check_checkpoint, check_layout
    from mf_train.cli import run
    from mf_train.errors import TrainError
    from mf_train.parallel import refuse_unsupported
    from mf_train.task import FLAG_KEYS, load_task

    with run.make_context("mf-train launch", list(run_args)) as run_ctx:
        params = dict(run_ctx.params)
    if params.get("use_parallel") is False:
        raise TrainError("mf-train launch runs use_parallel True; to train in one process use `mf-train run`",
                         key="use_parallel")
    if params.get("run_mode") == "predict":
        raise TrainError("run_mode predict is mf-generate's: `mf-parallel launch -- mf-generate run --use_parallel "
                         "True ...`", key="run_mode")
    flags = {k: v for k, v in params.items() if k in FLAG_KEYS}
    task = load_task(params["config"], dict(flags, use_parallel=True), params.get("overrides", ()))
    refuse_unsupported(task)
    config = model_config_from_task(task.cfg)
    check_layout(config, None, worker_num)
    source = task.get("load_checkpoint")
    if source and task.get("run_mode") in ("finetune", "eval") and not _hf_folder(source, identify):
        check_checkpoint(config, source, task.get("src_strategy_path_or_dir") or None)


def _hf_folder(path, identify):
    """A Hugging Face folder (its tensor names are converted while loading, not checked here)."""
    from pathlib import Path

    path = Path(path)
    return path.is_dir() and (path / "config.json").is_file() and identify(path).hf_names
