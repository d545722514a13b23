"""The `mf-train` command."""

from mf_config.cli_support import group
from mf_train import __version__


@group(__version__, "mf-train")
def main():
    """Trainer, optimizers, LR schedules, callbacks, resume, LoRA; `mf-train run`."""
