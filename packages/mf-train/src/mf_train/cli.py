"""The `mf-train` command: ``run`` (MindFormers' ``run_mindformer.py`` for train, finetune and eval), ``launch``
(``run`` on several devices under mf-parallel's launcher) and ``merge-lora``."""

import contextlib
import functools
from typing import Any

import click

from mf_config.cli_support import group
from mf_config.fileio import output_lock
from mf_train import __version__
from mf_train.errors import TrainError
from mf_train.launch_cli import launch_command
from mf_train.lora_cli import merge_lora_command


@group(__version__, "mf-train")
def main() -> None:
    """Trainer, optimizers, LR schedules, callbacks, resume, LoRA; `mf-train run`, `mf-train launch`."""


def _options(f):
    """run_mindformer.py's flags; each sets the YAML key its help names."""
    bool_flag = dict(type=click.BOOL, is_flag=False, flag_value=True, default=None)
    options = [
        click.option("--config", required=True, type=click.Path(dir_okay=False), help="The MindFormers task YAML."),
        click.option("--run_mode", type=click.Choice(["train", "finetune", "eval", "predict"]), default=None,
                     help="run_mode: train from scratch (default), finetune from --load_checkpoint, or eval."),
        click.option("--load_checkpoint", help="load_checkpoint: weights to start from (our folder, .safetensors, "
                                               ".ckpt, a Hugging Face folder) or a checkpoint to resume."),
        click.option("--train_data", "--train_dataset_dir", "--train_dataset", "train_data",
                     help="train_dataset.data_loader.dataset_dir: an indexed dataset folder or MindRecord file."),
        click.option("--eval_data", "--eval_dataset_dir", "--eval_dataset", "eval_data",
                     help="eval_dataset.data_loader.dataset_dir."),
        click.option("--output_dir", "--output", "output_dir",
                     help="output_dir: checkpoints, metrics.jsonl, tensorboard/, loss_curve.png."),
        click.option("--resume_training", "--resume", "resume_training", is_flag=False, flag_value="true",
                     default=None, help="resume_training: alone, the newest good checkpoint; or a checkpoint."),
        click.option("--seed", type=int, help="seed."),
        click.option("--register_path", type=click.Path(file_okay=False),
                     help="register_path: the folder of the modules auto_register names."),
        click.option("--epochs", type=int, help="runner_config.epochs."),
        click.option("--batch_size", type=int, help="runner_config.batch_size (per device, per micro-batch)."),
        click.option("--gradient_accumulation_steps", type=int, help="runner_config.gradient_accumulation_steps."),
        click.option("--do_eval", help="do_eval: evaluate during training (EvalCallBack).", **bool_flag),
        click.option("--use_parallel", help="use_parallel: several devices (what `mf-train launch` passes).",
                     **bool_flag),
        click.option("--device_target", help="context.device_target (CPU, Ascend, GPU)."),
        click.option("--device_id", type=int, help="context.device_id."),
        click.option("--auto_trans_ckpt", help="auto_trans_ckpt.", **bool_flag),
        click.option("--src_strategy_path_or_dir", help="src_strategy_path_or_dir."),
        click.option("--set", "--options", "overrides", multiple=True, metavar="KEY=VALUE",
                     help="Set any YAML key, e.g. --set model.model_config.num_layers=2 (repeatable)."),
        click.option("--print_config", is_flag=True, help="Print the resolved config, each value with its source, "
                                                          "and exit."),
        click.option("--no_progress", is_flag=True, help="No progress bar (one line per logged step only)."),
    ]
    return functools.reduce(lambda g, option: option(g), reversed(options), f)


@main.command()
@_options
def run(config: str, overrides: tuple[str, ...], print_config: bool, no_progress: bool, **flags: Any) -> None:
    """Train, finetune or evaluate a model as a MindFormers task YAML says (run_mindformer.py).

    \b
    Example:
      mf-train run --config run_llama2_7b.yaml --train_data data/wiki_indexed \\
        --set model.model_config.num_layers=2 --set context.device_target=CPU
    """
    if flags["run_mode"] == "predict":
        raise TrainError("run_mode predict is mf-generate's: run `mf-generate run` with the same --config, "
                         "--load_checkpoint and --predict_data flags", key="run_mode")
    from mf_train.task import load_task

    task = load_task(config, flags, overrides)
    if print_config:
        click.echo(task.print_config())
        return
    mode = task.get("run_mode", "train")
    # one training run per output_dir: a second fails at once, naming the first, before it builds anything (in a
    # parallel run, rank 0 takes it once the ranks are known: Trainer._fit)
    early = mode != "eval" and not task.get("use_parallel")
    with output_lock(task.get("output_dir")) if early else contextlib.nullcontext():
        from mf_train.api import Trainer

        trainer = Trainer(task, progress=False if no_progress else None)
        if mode == "eval":
            trainer.evaluate()
        elif mode == "finetune":
            trainer.finetune()
        else:
            trainer.train()


main.add_command(launch_command)
main.add_command(merge_lora_command)
