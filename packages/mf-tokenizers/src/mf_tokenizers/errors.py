"""The package's exception: a user's mistake with a tokenizer or its files."""

from mf_config.errors import MFError


class TokenizerError(MFError):
    """A missing, truncated or wrong-format vocabulary file, an unknown option, or bad input text."""
