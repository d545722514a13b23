"""The `mf-config` command: show, validate and diff MindFormers task configs."""

import json
import sys

import click

from mf_config import __version__
from mf_config.cli_support import group
from mf_config.config import load_config
from mf_config.schema import validate as validate_config

_SET = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                    help="Override a dotted key, the value read as YAML (repeatable).")
_CONFIG = click.argument("config", type=click.Path(dir_okay=False))


@group(__version__, "mf-config")
def main():
    """MindFormers-compatible YAML task configs: show, validate, diff."""


@main.command()
@_CONFIG
@_SET
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of YAML.")
def show(config, overrides, as_json):
    """Print CONFIG resolved: base_config merged, anchors expanded, overrides applied."""
    cfg = load_config(config, overrides)
    if as_json:
        click.echo(json.dumps(cfg.to_dict(), indent=2, ensure_ascii=False, default=str))  # dates: YAML timestamps
    else:
        click.echo(cfg.dump(), nl=False)


@main.command()
@_CONFIG
@_SET
@click.option("--strict", is_flag=True, help="Fail (exit 2) on warnings too.")
@click.option("--device_num", "--device-num", type=int, default=None,
              help="Check that the parallel layout uses exactly this many devices.")
def validate(config, overrides, strict, device_num):
    """Check CONFIG's keys, types and rules; print findings as FILE:LINE: KEY: MESSAGE.

    Exit 0 when clean or only warnings (unknown keys) remain, 2 on errors or, with --strict, on warnings.
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
def diff(a, b, overrides):
    """Print the dotted keys whose values differ between A and B (- only in A, + only in B, ~ changed)."""
    left, right = _flatten(load_config(a, overrides).to_dict()), _flatten(load_config(b, overrides).to_dict())
    for key in sorted(set(left) | set(right)):
        if key not in right:
            click.echo(f"- {key}: {_fmt(left[key])}")
        elif key not in left:
            click.echo(f"+ {key}: {_fmt(right[key])}")
        elif left[key] != right[key]:
            click.echo(f"~ {key}: {_fmt(left[key])} -> {_fmt(right[key])}")


def _flatten(value, prefix=""):
    if isinstance(value, dict) and value:
        out = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: value}


def _fmt(value):
    return json.dumps(value, ensure_ascii=False, default=str)

