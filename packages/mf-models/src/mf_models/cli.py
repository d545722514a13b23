"""The `mf-models` command: ``list`` the families, count a config's ``params`` (without building the network)."""

import click

from mf_config.cli_support import group
from mf_config.registry import known
from mf_models import __version__
from mf_models.config_files import config_from_file
from mf_models.specs import count

FAMILIES = [
    ("Llama 2 / Llama 3 / Mistral", "LlamaConfig", "LlamaForCausalLM", "llama, mistral"),
    ("Mixtral (MoE)", "LlamaConfig + moe_config (or MixtralConfig)", "LlamaForCausalLM", "mixtral"),
    ("GPT-2", "GPT2Config", "GPT2LMHeadModel", "gpt2"),
    ("Bloom", "BloomConfig", "BloomLMHeadModel", "bloom"),
]
_SECTIONS = ("model.", "moe_config.", "parallel_config.", "context.")
GIB = 1024 ** 3


@group(__version__, "mf-models")
def main():
    """Llama 2/3, Mixtral, GPT-2 and Bloom as MindSpore networks with a KV cache."""


@main.command("list")
def list_models():
    """The model families, their config and network classes, and the model types the registry knows."""
    click.echo(f"{'family':<28} {'config':<44} {'network':<18} HF model_type")
    for row in FAMILIES:
        click.echo(f"{row[0]:<28} {row[1]:<44} {row[2]:<18} {row[3]}")
    click.echo(f"registered model types: {', '.join(known('model'))}")


@main.command()
@click.argument("config", type=click.Path(exists=True))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config key (for a YAML, keys without a section go to model.model_config).")
def params(config, overrides):
    """Parameters per component and in total, weight memory (fp32/bf16) and AdamW state memory of CONFIG
    (a MindFormers task YAML, our config.json or a Hugging Face config.json), computed from shapes alone."""
    if config.endswith((".yaml", ".yml")):
        overrides = [o if o.startswith(_SECTIONS) else f"model.model_config.{o}" for o in overrides]
    cfg, arch = config_from_file(config, overrides)
    counts = count(cfg)
    total = counts.pop("total")
    click.echo(f"{arch} ({type(cfg).__name__}): {cfg.num_layers} layers, hidden {cfg.hidden_size}, "
               f"vocab {cfg.vocab_size}")
    for name, n in counts.items():
        click.echo(f"  {name:<10} {n:>16,}  {100 * n / total:5.1f}%")
    click.echo(f"  {'total':<10} {total:>16,}")
    click.echo(f"weights: {total * 4 / GIB:.2f} GiB fp32, {total * 2 / GIB:.2f} GiB bf16; "
               f"AdamW states (fp32 m and v): {total * 8 / GIB:.2f} GiB")
