"""mf-train's user errors."""

from mf_config.errors import MFError


class TrainError(MFError):
    """A training config, dataset, checkpoint or run is not usable (one line: the file, the key, what was expected)."""
