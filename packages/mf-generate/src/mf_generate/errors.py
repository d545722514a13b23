"""``GenerationError``: a generation setting or input a user got wrong."""

from mf_config.errors import MFError


class GenerationError(MFError):
    """A generation option, prompt or model/tokenizer pairing is not what generation expects."""
