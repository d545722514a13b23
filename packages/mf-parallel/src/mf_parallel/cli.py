"""The `mf-parallel` command."""

from mf_config.cli_support import group
from mf_parallel import __version__


@group(__version__, "mf-parallel")
def main():
    """Parallel plans, tensor-parallel layers, rank tables, the msrun launcher."""
