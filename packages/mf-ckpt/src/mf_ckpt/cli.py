"""The `mf-ckpt` command."""

from mf_config.cli_support import group

from mf_ckpt import __version__


@group(__version__, "mf-ckpt")
def main():
    """Weight conversion HF <-> MindSpore, inspection, sharded-checkpoint merge/split."""
