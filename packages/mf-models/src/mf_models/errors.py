"""mf-models' user errors."""

from mf_config.errors import MFError


class ModelError(MFError):
    """A model file, config or input is not what the model expects."""
