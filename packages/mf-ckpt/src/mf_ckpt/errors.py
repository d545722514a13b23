"""The error a user's bad checkpoint, index, layout or flag raises."""

from mf_config.errors import MFError


class CheckpointError(MFError):
    """A checkpoint file, index, manifest or layout is wrong; ``key`` names the tensor."""
