"""The `mf-models` command."""

from mf_config.cli_support import group
from mf_models import __version__


@group(__version__, "mf-models")
def main():
    """Llama 2/3, Mixtral, GPT-2 and Bloom as MindSpore networks with a KV cache."""
