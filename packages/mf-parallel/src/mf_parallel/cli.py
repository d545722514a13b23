"""The `mf-parallel` command: launch, plan, ranktable, merge-ranktable, rank-env."""

import json
import sys
from pathlib import Path
from typing import Any

import click

from mf_config.cli_support import group
from mf_parallel import __version__
from mf_parallel.launch_args import launcher_options


@group(__version__, "mf-parallel")
def main() -> None:
    """Parallel plans, tensor-parallel layers, rank tables, the msrun launcher."""


class _LaunchCommand(click.Command):
    """Everything after the first ``--`` is the command to run, untouched."""

    def parse_args(self, ctx, args):
        args = list(args)
        ctx.meta["mf_command"] = args[args.index("--") + 1:] if "--" in args else []
        return super().parse_args(ctx, args[:args.index("--")] if "--" in args else args)


@main.command(cls=_LaunchCommand, context_settings={"ignore_unknown_options": False})
@launcher_options
@click.argument("positionals", nargs=-1)
@click.pass_context
def launch(ctx: click.Context, positionals: tuple[str, ...], **options: Any) -> None:
    """Run COMMAND on every rank under msrun: mf-parallel launch [OPTIONS] [WORKER_NUM ...] -- COMMAND ...

    Also msrun_launcher.sh's forms: "COMMAND" [WORKER_NUM [MASTER_PORT LOG_DIR JOIN CLUSTER_TIME_OUT]] and
    "COMMAND" WORKER_NUM LOCAL_WORKER MASTER_ADDR MASTER_PORT NODE_RANK LOG_DIR JOIN CLUSTER_TIME_OUT.
    A --config YAML in COMMAND is checked against the worker count before any worker starts.

    \b
    Example:
      mf-parallel launch --worker_num 2 -- mf-generate run --config predict.yaml --use_parallel True \\
        --set parallel_config.model_parallel=2 --predict_data "I love Beijing, because"
    """
    from mf_parallel.launch_args import resolve
    from mf_parallel.launcher import launch as run
    from mf_parallel.launcher import preflight

    spec = resolve(positionals, ctx.meta["mf_command"], options)
    preflight(spec)
    ctx.exit(run(spec))


@main.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--devices", type=int, required=True, help="Number of devices.")
@click.option("--device_memory", default="64GB", show_default=True, help="Memory of one device.")
@click.option("--mode", type=click.Choice(["train", "predict"]), help="Default: the YAML's run_mode.")
@click.option("--micro_batch", type=int, help="Per-device (micro-)batch size (default: runner_config.batch_size).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a YAML key (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def plan(ctx: click.Context, config: str, devices: int, device_memory: str, mode: str | None, micro_batch: int | None,
         overrides: tuple[str, ...], as_json: bool) -> None:
    """Per-device memory of CONFIG's layout on DEVICES devices (or of every layout); exit 0 fits, 1 does not.

    \b
    Example:
      mf-parallel plan run_llama3_8b_8k_800T_A2_64G.yaml --devices 8 --device_memory 64GB
    """
    from mf_config import load_config
    from mf_config.sources import model_config_from_task
    from mf_parallel.plan_report import report
    from mf_parallel.planner import plan as make_plan

    task = load_config(config, list(overrides))
    model = model_config_from_task(task)
    candidates, budget, workload, searched = make_plan(task, model, devices, device_memory, mode, micro_batch)
    fits = report(Path(config).name, task, model, candidates, budget, workload, searched, devices, as_json,
                  click.echo)
    ctx.exit(0 if fits else 1)


@main.command()
@click.option("--device_num", default="[0,8)", show_default=True, help="Device range, as hccl_tools.py.")
@click.option("--server_ip", help="This server's IP (default: the host's).")
@click.option("--visible_devices", default="0,1,2,3,4,5,6,7", show_default=True,
              help="The server's visible device ids, comma-separated.")
@click.option("--device_num_per_node", type=int, default=8, show_default=True, help="Devices per server.")
@click.option("--device_ips", help="Device IPs: '0:IP,1:IP,...' or 'IP,IP,...' (default: --hccn_conf).")
@click.option("--hccn_conf", default="/etc/hccn.conf", show_default=True,
              help="The hccn.conf to read device IPs from (address_N=IP lines).")
@click.option("--output", type=click.Path(dir_okay=False), help="Default: hccl_{n}p_{ids}_{server}.json here.")
def ranktable(device_num: str, server_ip: str | None, visible_devices: str, device_num_per_node: int,
              device_ips: str | None, hccn_conf: str, output: str | None) -> None:
    """Write the HCCL rank table (RANK_TABLE_FILE) of one server, as MindFormers' hccl_tools.py.

    \b
    Example:
      mf-parallel ranktable --device_num "[0,8)" --server_ip 10.0.0.1 --device_ips 192.98.92.100,192.98.93.100,...
    """
    from mf_parallel.errors import ParallelError
    from mf_parallel.ranktable import device_range, make_table, parse_device_ips, read_hccn_conf, table_name

    first, last = device_range(device_num, device_num_per_node)
    if device_ips:
        ips = parse_device_ips(device_ips)
    elif Path(hccn_conf).is_file():
        ips = read_hccn_conf(hccn_conf)
    else:
        raise ParallelError(f"no device IPs: give --device_ips or an hccn.conf ({hccn_conf} is missing)",
                            key="device_ips")
    table = make_table(first, last, server_ip, ips, visible_devices)
    _write_json(output or table_name(table), table)


@main.command("merge-ranktable")
@click.argument("tables", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--output", type=click.Path(dir_okay=False), help="Default: hccl_{servers}s_{devices}p.json here.")
def merge_ranktable(tables: tuple[str, ...], output: str | None) -> None:
    """Merge servers' rank tables into one for the cluster, as MindFormers' merge_hccl.py.

    \b
    Example:
      mf-parallel merge-ranktable hccl_8p_01234567_10.0.0.1.json hccl_8p_01234567_10.0.0.2.json
    """
    from mf_parallel.ranktable import load_table, merge_tables, merged_name

    table = merge_tables([load_table(t) for t in tables])
    _write_json(output or merged_name(table), table)


@main.command("rank-env")
@click.argument("rank_table_file", type=click.Path(dir_okay=False))
@click.argument("device_range")
@click.argument("rank_size", required=False, type=int)
def rank_env(rank_table_file: str, device_range: str, rank_size: int | None) -> None:
    """Per device of DEVICE_RANGE, the environment run_distribute.sh exports (one line each, for `env`).

    \b
    Example:
      mf-parallel rank-env hccl_8p_01234567_10.0.0.1.json "[0,8)"
    """
    from mf_parallel.ranktable import legacy_env

    for env in legacy_env(rank_table_file, device_range, rank_size):
        click.echo(" ".join(f"{k}={v}" for k, v in env.items()))


def _write_json(path, data):
    from mf_config.fileio import atomic_write

    with atomic_write(path) as f:
        json.dump(data, f, indent=4)
    click.echo(f"wrote {path}", err=True)


if __name__ == "__main__":
    sys.exit(main())
