"""The error mf-data raises for a user's mistake (bad input file, bad option, bad tokenizer)."""

from mf_config.errors import MFError


class DataError(MFError):
    """Bad input data, dataset file, tokenizer special ids or dataset config."""
