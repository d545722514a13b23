"""The `mf-ckpt` command."""

import json
import re

import click

from mf_ckpt import __version__
from mf_ckpt.dtypes import cli_dtype
from mf_ckpt.errors import CheckpointError
from mf_ckpt.output import DEFAULT_SHARD_BYTES
from mf_config.cli_support import group
from mf_config.spec import families

_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}
DTYPES = click.Choice(["fp32", "fp16", "bf16", "float32", "float16", "bfloat16"], case_sensitive=False)


def parse_size(text):
    """``5GB``, ``500MB``, ``2GiB`` or a byte count."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMG]i?B|B)?\s*", str(text), re.IGNORECASE)
    if not m:
        raise CheckpointError(f"{text!r} is not a size such as 5GB or 500MB", key="max_shard_size")
    return int(float(m.group(1)) * _UNITS[(m.group(2) or "").upper()])


def shard_option(f):
    return click.option("--max_shard_size", default=str(DEFAULT_SHARD_BYTES), show_default=True,
                        help="Largest safetensors shard (5GB, 500MB, bytes).")(f)


@group(__version__, "mf-ckpt")
def main() -> None:
    """Weight conversion HF <-> MindSpore, inspection, sharded-checkpoint merge/split."""


@main.command()
@click.argument("path")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def info(path: str, as_json: bool) -> None:
    """Tensors, shapes, dtypes, parameter count, bytes and file layout of a checkpoint file or folder.

    \b
    Example:
      mf-ckpt info llama_ms --json
    """
    from mf_ckpt.inspection import format_info
    from mf_ckpt.inspection import info as get_info

    data = get_info(path)
    click.echo(json.dumps(data, indent=2) if as_json else format_info(data))


@main.command()
@click.argument("a")
@click.argument("b")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.pass_context
def diff(ctx: click.Context, a: str, b: str, as_json: bool) -> None:
    """Missing/extra tensors, shape and dtype differences and the max abs difference per tensor.

    Exits 0 when A and B hold equal tensors, 1 when they differ.

    \b
    Example:
      mf-ckpt diff tiny-llama tiny-llama-hf
    """
    from mf_ckpt.inspection import diff as get_diff
    from mf_ckpt.inspection import format_diff

    items = get_diff(a, b)
    click.echo(json.dumps(items, indent=2) if as_json else format_diff(items, a, b))
    ctx.exit(1 if items else 0)


@main.command("strip-optimizer")
@click.argument("src")
@click.argument("out")
@shard_option
def strip_optimizer(src: str, out: str, max_shard_size: str) -> None:
    """Drop optimizer moments, accumulators and step counters (adam_m, adam_v, accu_grads, global_step, ...).

    OUT ending in .safetensors (or .ckpt) is one file; otherwise a folder (shards, index, SHA256SUMS).

    \b
    Example:
      mf-ckpt strip-optimizer output/checkpoint/rank_0/llama2_7b_rank_0-2_4 weights.safetensors
    """
    from mf_ckpt.surgery import rewrite
    from mf_config.state_names import is_optimizer_state

    stats, dropped = rewrite(src, out, lambda n: not is_optimizer_state(n), max_shard_bytes=parse_size(max_shard_size))
    click.echo(f"dropped {len(dropped)} optimizer tensors; {stats.summary()}")


@main.command()
@click.argument("src")
@click.argument("out")
@click.option("--dtype", type=DTYPES, required=True, help="Target dtype of floating-point tensors.")
@shard_option
def cast(src: str, out: str, dtype: str, max_shard_size: str) -> None:
    """Cast every floating-point tensor to DTYPE (bf16 exactly, through ml_dtypes).

    \b
    Example:
      mf-ckpt cast llama_ms llama_bf16 --dtype bf16
    """
    from mf_ckpt.surgery import rewrite

    stats, _ = rewrite(src, out, dtype=cli_dtype(dtype), max_shard_bytes=parse_size(max_shard_size))
    click.echo(stats.summary())


@main.command()
@click.argument("path")
def verify(path: str) -> None:
    """Check the SHA-256 manifest mf-ckpt wrote (PATH/SHA256SUMS.json, or PATH.sha256.json beside a file).

    Also checks a sha256sum list (PATH/SHA256SUMS or PATH.sha256).

    \b
    Example:
      mf-ckpt verify llama_ms
    """
    from mf_ckpt.manifest import verify as check

    names = check(path)
    click.echo(f"OK: {len(names)} file(s) match their SHA-256")


@main.command()
@click.option("--input", "--input_path", "input_path", default=None,
              help="Hugging Face folder (or, --reversed, our folder or file); convert_weight.py's --input_path.")
@click.option("--output", "--output_path", "output_path", default=None, help="Folder to write; a path ending in "
              ".safetensors or .ckpt is that one file (as convert_weight.py's --output_path writes it).")
@click.option("--torch_ckpt_path", "--torch_ckpt_dir", "torch_path", default=None,
              help="MindFormers' spelling of the Hugging Face side: the input, or with --reversed the output.")
@click.option("--mindspore_ckpt_path", "ms_path", default=None,
              help="MindFormers' spelling of our side: the output, or with --reversed the input.")
@click.option("--family", "--model", "model", type=click.Choice([spec.name for spec in families()]), default=None,
              help="Model family (convert_weight.py's --model); default: what config.json says.")
@click.option("--reversed", "reverse", is_flag=True, help="Ours -> Hugging Face (config.json, shards, index).")
@click.option("--dtype", type=DTYPES, default=None, help="Cast floating-point weights (default: keep).")
@click.option("--format", "fmt", type=click.Choice(["safetensors", "ckpt"]), default="safetensors",
              help="Weights format of our folder (ckpt needs mindspore).")
@click.option("--config", default=None, help="Model config (config.json or MindFormers YAML) instead of the "
              "input folder's config.json.")
@click.option("--max_shard_size", default=None, help="Largest shard (default: one file for ours, 5GB for HF).")
@click.option("--strategy_dir", default=None, help="With --reversed: the input holds rank_N/ shards of this "
              "strategy (file or folder), merged first.")
@click.option("--use_gmm", type=click.BOOL, is_flag=False, flag_value=True, default=False,
              help="Mixtral experts in MindFormers' grouped-matmul layout (expert, in, out), as convert_weight.py "
                   "--use_gmm (alone or 'true').")
def convert(input_path: str | None, output_path: str | None, torch_path: str | None, ms_path: str | None,
            model: str | None, reverse: bool, dtype: str | None, fmt: str, config: str | None,
            max_shard_size: str | None, strategy_dir: str | None, use_gmm: bool) -> None:
    """Convert a Hugging Face model folder to ours (MindFormers' parameter names), or back with --reversed.

    Tokenizer files, generation_config.json and chat templates come along.

    \b
    Example:
      mf-ckpt convert --input Meta-Llama-3-8B --output llama3_8b_ms --dtype bf16
    """
    from mf_ckpt.conversion import convert as run

    input_path = _side(input_path, ms_path if reverse else torch_path, "input")
    output_path = _side(output_path, torch_path if reverse else ms_path, "output")
    if reverse and fmt == "ckpt":
        raise CheckpointError("--format ckpt writes our folders; --reversed always writes safetensors", key="format")
    name, stats = run(input_path, output_path, model=model, reversed=reverse, dtype=cli_dtype(dtype), fmt=fmt,
                      config=config, max_shard_bytes=parse_size(max_shard_size) if max_shard_size else None,
                      use_gmm=use_gmm, strategy=strategy_dir)
    click.echo(f"{name}: {stats.summary('converted')} -> {output_path}")


def _side(path, alias, key):
    """``--input``/``--output`` (``--input_path``/``--output_path``), or the MindFormers flag that names the same
    side."""
    if path is not None and alias is not None and path != alias:
        raise CheckpointError(f"given twice: {path} and {alias} (MindFormers' spelling); give one", key=key)
    if path is None and alias is None:
        raise CheckpointError("missing: give --input and --output (or MindFormers' --input_path/--output_path, "
                              "--torch_ckpt_path and --mindspore_ckpt_path)", key=key)
    return path or alias


def _reshard(src, dst, src_strategy, dst_strategy, prefix, fmt, verb):
    from mf_ckpt.resharding import reshard
    from mf_ckpt.strategy import load_layout

    stats = reshard(src, dst, src_layout=load_layout(src_strategy) if src_strategy else None,
                    dst_layout=load_layout(dst_strategy) if dst_strategy else None, prefix=prefix, fmt=fmt)
    click.echo(stats.summary(verb))


def _reshard_options(f):
    f = click.option("--format", "fmt", type=click.Choice(["safetensors", "ckpt"]), default="safetensors",
                     help="Format of the written shards (ckpt needs mindspore).")(f)
    f = click.option("--prefix", default="checkpoint_", show_default=True,
                     help="Shard names: DST/rank_N/{prefix}N.safetensors.")(f)
    return click.option("--output", "--dst_ckpt_dir", "--dst_checkpoint_dir", "dst", required=True,
                        help="Folder to write rank_N/ folders into (transform_ckpt.py's --dst_ckpt_dir).")(f)


@main.command()
@click.option("--src_strategy", "--src_ckpt_strategy", "src_strategy", required=True,
              help="Strategy file or folder (MindSpore protobuf or JSON, ours).")
@click.option("--input", "--src_ckpt_dir", "--src_checkpoint", "src", required=True,
              help="Folder of rank_N/ folders (transform_ckpt.py's --src_ckpt_dir).")
@_reshard_options
def merge(src_strategy: str, src: str, dst: str, prefix: str, fmt: str) -> None:
    """Merge rank shards into one full checkpoint: DST/rank_0/{prefix}0.safetensors.

    \b
    Example:
      mf-ckpt merge --src_strategy strategy/ --input output/checkpoint --output merged
    """
    _reshard(src, dst, src_strategy, None, prefix, fmt, "merged into")


@main.command()
@click.option("--dst_strategy", "--dst_ckpt_strategy", "dst_strategy", required=True,
              help="Strategy file or folder (MindSpore protobuf or JSON, ours).")
@click.option("--input", "--src_ckpt", "--src_checkpoint", "src", required=True,
              help="A full checkpoint file or folder.")
@_reshard_options
def split(dst_strategy: str, src: str, dst: str, prefix: str, fmt: str) -> None:
    """Split a full checkpoint into rank shards for a layout (what auto_trans_ckpt needs).

    \b
    Example:
      mf-ckpt split --dst_strategy tp2.json --input llama_ms --output tp2
    """
    _reshard(src, dst, None, dst_strategy, prefix, fmt, "split into")


@main.command()
@click.option("--src_strategy", "--src_ckpt_strategy", "src_strategy", default=None,
              help="Layout of the source shards (default: one full checkpoint).")
@click.option("--dst_strategy", "--dst_ckpt_strategy", "dst_strategy", default=None,
              help="Layout to write (default: one full checkpoint).")
@click.option("--input", "--src_ckpt_dir", "--src_checkpoint", "src", required=True,
              help="Folder of rank_N/ folders, or a full checkpoint (transform_ckpt.py's --src_ckpt_dir).")
@_reshard_options
def transform(src_strategy: str | None, dst_strategy: str | None, src: str, dst: str, prefix: str, fmt: str) -> None:
    """Re-shard from one layout to another, parameter by parameter (as MindFormers' transform_ckpt.py).

    \b
    Example:
      mf-ckpt transform --src_strategy tp2.json --dst_strategy tp4.json --input tp2 --output tp4
    """
    _reshard(src, dst, src_strategy, dst_strategy, prefix, fmt, "transformed into")
