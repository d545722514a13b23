"""The `mf-generate` command."""

from mf_config.cli_support import group
from mf_generate import __version__


@group(__version__, "mf-generate")
def main():
    """generate() with KV cache, sampling, streaming, pipelines; `mf-generate run`."""
