"""The error a user's bad layout, rank table, launch flag or checkpoint layout raises."""

from mf_config.errors import MFError


class ParallelError(MFError):
    """A parallel layout, rank table, launcher flag or sharded checkpoint is wrong; ``key`` names the setting."""
