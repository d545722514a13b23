"""The `mf-train` command."""

from mf_config.cli_support import group
from mf_train import __version__
from mf_train.lora_cli import merge_lora_command


@group(__version__, "mf-train")
def main():
    """Trainer, optimizers, LR schedules, callbacks, resume, LoRA; `mf-train run`."""


main.add_command(merge_lora_command)
