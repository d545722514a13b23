"""The `mf-config` command: show, validate and diff MindFormers task configs."""

import json
import sys

import click

from mf_config import __version__
from mf_config.cli_support import UserError, group
from mf_config.field_docs import documented
from mf_config.schema import load_config
from mf_config.schema import validate as validate_config

_SET = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                    help="Override a dotted key, the value read as YAML (repeatable); an unknown key is an error.")
_CONFIG = click.argument("config", type=click.Path(dir_okay=False))


@group(__version__, "mf-config")
def main() -> None:
    """MindFormers-compatible YAML task configs: show, validate, diff."""


@main.command()
@_CONFIG
@_SET
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of YAML.")
@click.option("--doc", "with_doc", is_flag=True,
              help="End each known key's line with a one-line '# ' comment saying what it means.")
def show(config: str, overrides: tuple[str, ...], as_json: bool, with_doc: bool) -> None:
    """Print CONFIG resolved: base_config merged, anchors expanded, overrides applied.

    With --doc, each key of a config class (model_config, parallel_config, moe_config, pet_config) and the
    task file's sections and commonest keys carry their meaning as a comment; the YAML loads the same.

    \b
    Example:
      mf-config show run_llama3_8b_8k_800T_A2_64G.yaml --set model.model_config.num_layers=2
      mf-config show run_llama3_8b_8k_800T_A2_64G.yaml --doc
    """
    cfg = load_config(config, overrides)
    if as_json and with_doc:
        raise UserError("--doc comments YAML; JSON has no comments (use one of --doc, --json)")
    if with_doc:
        click.echo(documented(cfg), nl=False)
    elif as_json:
        click.echo(json.dumps(cfg.to_dict(), indent=2, ensure_ascii=False, default=str))  # dates: YAML timestamps
    else:
        click.echo(cfg.dump(), nl=False)


@main.command()
@_CONFIG
@_SET
@click.option("--strict", is_flag=True, help="Fail (exit 2) on warnings too.")
@click.option("--device_num", "--device-num", type=int, default=None,
              help="Check that the parallel layout uses exactly this many devices.")
def validate(config: str, overrides: tuple[str, ...], strict: bool, device_num: int | None) -> None:
    """Check CONFIG's keys, types and rules; print findings as FILE:LINE: KEY: MESSAGE.

    Exit 0 when clean or only warnings (unknown keys in the file) remain, 2 on errors or, with --strict, on
    warnings. An unknown key given with --set is an error (exit 2).

    \b
    Example:
      mf-config validate run_llama3_8b_8k_800T_A2_64G.yaml --device_num 8
    """
    cfg = load_config(config, overrides)
    findings = validate_config(cfg, device_num=device_num)
    for finding in findings:
        click.echo(f"{finding.level}: {finding}")
    errors = sum(f.level == "error" for f in findings)
    warnings = len(findings) - errors
    click.echo(f"{config}: {errors} error(s), {warnings} warning(s)")
    if errors or (strict and warnings):
        sys.exit(2)


@main.command()
@click.argument("a", type=click.Path(dir_okay=False))
@click.argument("b", type=click.Path(dir_okay=False))
@_SET
@click.option("--json", "as_json", is_flag=True, help="Print the differences as JSON instead of text.")
@click.pass_context
def diff(ctx: click.Context, a: str, b: str, overrides: tuple[str, ...], as_json: bool) -> None:
    """The dotted keys whose values differ between A and B: missing in B, extra in B, changed.

    Exits 0 when A and B resolve to equal configs, 1 when they differ, 2 on a user error (as `mf-ckpt diff`).

    \b
    Example:
      mf-config diff finetune_llama2_7b.yaml predict_llama2_7b.yaml
    """
    left, right = _flatten(load_config(a, overrides).to_dict()), _flatten(load_config(b, overrides).to_dict())
    items = []
    for key in sorted(set(left) | set(right)):
        if key not in right:
            items.append({"key": key, "kind": "missing", "a": left[key], "b": None})
        elif key not in left:
            items.append({"key": key, "kind": "extra", "a": None, "b": right[key]})
        elif left[key] != right[key]:
            items.append({"key": key, "kind": "changed", "a": left[key], "b": right[key]})
    click.echo(json.dumps(items, indent=2, ensure_ascii=False) if as_json else _format_diff(items, a, b))
    ctx.exit(1 if items else 0)


def _format_diff(items, a, b):
    """The text `mf-ckpt diff` prints too: one difference a line, then their count (or `identical: ...`)."""
    if not items:
        return f"identical: every key of {a} equals {b}"
    lines = []
    for d in items:
        if d["kind"] == "missing":
            lines.append(f"missing in B  {d['key']}: {_fmt(d['a'])}")
        elif d["kind"] == "extra":
            lines.append(f"extra in B    {d['key']}: {_fmt(d['b'])}")
        else:
            lines.append(f"changed       {d['key']}: {_fmt(d['a'])} -> {_fmt(d['b'])}")
    lines.append(f"{len(items)} difference(s) between {a} and {b}")
    return "\n".join(lines)


def _flatten(value, prefix=""):
    if isinstance(value, dict) and value:
        out = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: value}


def _fmt(value):
    return json.dumps(value, ensure_ascii=False, default=str)

