"""The `mf-data` command."""

from mf_config.cli_support import group

from mf_data import __version__


@group(__version__, "mf-data")
def main():
    """Alpaca/WikiText preprocessing to MindRecord and an indexed format; training datasets."""
