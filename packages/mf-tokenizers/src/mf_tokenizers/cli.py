"""The `mf-tokenizers` command."""

from mf_config.cli_support import group
from mf_tokenizers import __version__


@group(__version__, "mf-tokenizers")
def main():
    """Tokenizers of the four model families (SentencePiece, tiktoken, HF tokenizers); no mindspore or torch."""
