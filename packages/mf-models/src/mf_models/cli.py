"""The `mf-models` command: ``list`` the families, count a config's ``params`` (without building the network)."""

import math

import click

from mf_config import load_config
from mf_config.cli_support import group
from mf_config.registry import known
from mf_config.sources import identify
from mf_config.spec import families, param_shapes
from mf_models import __version__

_SECTIONS = ("model.", "moe_config.", "parallel_config.", "context.")
GIB = 1024 ** 3
_COMPONENTS = (("embedding", ("embedding",)), ("attention", ("attention.",)), ("router", ("router.",)),
               ("experts", ("feed_forward.ffn.",)), ("mlp", ("feed_forward.", "output.")),
               ("norms", ("norm", "layernorm", "ln_f")), ("lm_head", ("lm_head",)))


@group(__version__, "mf-models")
def main() -> None:
    """Llama 2/3, Mixtral, GPT-2 and Bloom as MindSpore networks with a KV cache."""


@main.command("list")
def list_models() -> None:
    """The model families: config and network classes, Hugging Face model_type, presets; registered types.

    \b
    Example:
      mf-models list
    """
    click.echo(f"{'family':<9} {'config':<14} {'network':<22} {'HF model_type':<14} presets")
    for spec in families():
        network = spec.part("network", None)
        click.echo(f"{spec.name:<9} {spec.config_class.__name__:<14} {getattr(network, '__name__', '-'):<22} "
                   f"{spec.hf_model_type:<14} {', '.join(spec.presets)}")
    click.echo(f"registered model types: {', '.join(known('model'))}")


@main.command()
@click.argument("config", type=click.Path(exists=True))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config key (for a YAML, keys without a section go to model.model_config).")
def params(config: str, overrides: tuple[str, ...]) -> None:
    """Parameters per component and in total, weight memory (fp32/bf16) and AdamW state memory of CONFIG
    (a MindFormers task YAML, our config.json or a Hugging Face config.json, or their folder), computed from
    shapes alone. An unknown --set key is an error.

    \b
    Example:
      mf-models params run_llama3_8b_8k_800T_A2_64G.yaml --set num_layers=2
    """
    if config.endswith((".yaml", ".yml")):
        overrides = [o if o.startswith(_SECTIONS) else f"model.model_config.{o}" for o in overrides]
        load_config(config, overrides)  # an unknown --set key is an error naming the nearest known one
    source = identify(config, overrides=overrides)
    cfg = source.config
    counts = count(cfg)
    total = counts.pop("total")
    arch = source.arch or source.family.mf_arch_type
    click.echo(f"{arch} ({type(cfg).__name__}): {cfg.num_layers} layers, hidden {cfg.hidden_size}, "
               f"vocab {cfg.vocab_size}")
    for name, n in counts.items():
        click.echo(f"  {name:<10} {n:>16,}  {100 * n / total:5.1f}%")
    click.echo(f"  {'total':<10} {total:>16,}")
    click.echo(f"weights: {total * 4 / GIB:.2f} GiB fp32, {total * 2 / GIB:.2f} GiB bf16; "
               f"AdamW states (fp32 m and v): {total * 8 / GIB:.2f} GiB")


def component_of(name: str) -> str:
    """The component a parameter belongs to: embedding, attention, router, experts, mlp, norms or lm_head."""
    for component, keys in _COMPONENTS:
        if any(k in name for k in keys):
            return component
    raise ValueError(f"no component for {name}")


def count(config) -> dict:
    """{component: number of parameters} plus ``total``, computed from the family's shapes only."""
    counts = {}
    for name, shape in param_shapes(config).items():
        key = component_of(name)
        counts[key] = counts.get(key, 0) + math.prod(shape)
    counts["total"] = sum(counts.values())
    return counts
