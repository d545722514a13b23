"""What a user meets at the edges of `mf-train run`: the resolved config and where each value came from, MindFormers'
flag spellings, and one line with exit code 2 (nothing written) for each kind of bad input."""

import pytest
from click.testing import CliRunner

from mf_train.cli import main

from .helpers import preprocess, write_task


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def task(tmp_path_factory, sp_model, wiki):
    return write_task(tmp_path_factory.mktemp("cli") / "task.yaml", sp_model, wiki)


def test_print_config_names_the_source_of_every_value(task, tmp_path):
    result = invoke("run", "--config", task, "--print_config", "--batch_size", "2", "--options",
                    "optimizer.weight_decay=0.5", "--train_dataset_dir", tmp_path, "--resume")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "  batch_size: 2    # --batch_size" in lines
    assert "  weight_decay: 0.5    # --set optimizer.weight_decay=0.5" in lines
    assert f"    dataset_dir: {tmp_path}    # --train_data" in lines
    assert "resume_training: 'true'    # --resume_training" in lines or "resume_training: true    # --resume_training" \
        in lines
    assert any(line.startswith(f"  epochs: 1    # {task}:") for line in lines)


def test_predict_points_to_mf_generate(task):
    result = invoke("run", "--config", task, "--run_mode", "predict")
    assert result.exit_code == 2
    assert "mf-generate run" in result.output


def test_every_flag_says_which_yaml_key_it_sets():
    result = invoke("run", "--help")
    for key in ("runner_config.batch_size", "runner_config.epochs", "train_dataset.data_loader.dataset_dir",
                "runner_config.gradient_accumulation_steps", "load_checkpoint", "resume_training", "output_dir"):
        assert key in result.output


@pytest.mark.parametrize("args,message", [
    (["--set", "model.model_config.seq_length=64"], "model.model_config.seq_length: records hold 33 tokens but the "
                                                    "model's seq_length is 64"),
    (["--set", "model.model_config.vocab_size=1000"], "model.model_config.vocab_size: the dataset's tokenizer has "
                                                      "32000 ids but the model's vocab_size is 1000"),
    (["--train_data", "/nonexistent/data"], "/nonexistent/data: train_dataset.data_loader.dataset_dir: no such"),
    (["--batch_size", "100000"], "holds no batch of 100000 record(s)"),
    (["--set", "runner_config.epochs=many"], "runner_config.epochs: expected an integer"),
    (["--set", "runner_config.sink_mode=false", "--set", "lr_schedule.total_steps=100000"],
     "lr_schedule.total_steps: 100000 steps, but the run has"),
    (["--set", "context.device_target=Ascend"], "context.device_target: Ascend is not available"),
    (["--set", "model.model_config.checkpoint_name_or_path=llama_7b"],
     "model.model_config.checkpoint_name_or_path: names 'llama_7b', which is not a file or folder"),
    (["--run_mode", "finetune"], "load_checkpoint: finetuning needs pretrained weights"),
    (["--load_checkpoint", "/nonexistent/ckpt", "--run_mode", "finetune"], "no such checkpoint file or folder"),
    (["--set", "optimizer.betas=[0.9]"], "optimizer.betas: expected two numbers"),
    (["--set", "optimizer.type=Adafactor"], "unknown optimizer type 'Adafactor'"),
    (["--set", "recompute_config.recompute=[1,1]"], "recompute_config.recompute: expected true/false or one layer "
                                                   "count (one pipeline stage), got [1, 1]"),
    (["--use_parallel"], "use_parallel: use_parallel needs a parallel job: run `mf-train launch"),
])
def test_bad_input_is_one_line_and_exit_2(task, tmp_path, args, message):
    result = invoke("run", "--config", task, "--output_dir", tmp_path / "out", *args)
    assert result.exit_code == 2, result.output
    error = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert len(error) == 1 and message in error[0], result.output
    assert not (tmp_path / "out" / "checkpoint").exists()


def test_keys_not_honoured_are_named_once(task, tmp_path, caplog):
    result = invoke("run", "--config", task, "--output_dir", tmp_path / "out", "--print_config",
                    "--set", "context.enable_graph_kernel=true", "--set", "recompute_config.select_recompute=true")
    assert result.exit_code == 0
    warned = [r.getMessage() for r in caplog.records if "not honoured" in r.getMessage()]
    assert warned == ["not honoured by mf-train on this backend (accepted, no effect): context.enable_graph_kernel, "
                      "recompute_config.select_recompute"]


def test_a_dataset_of_another_length_names_both_fixes(tmp_path, sp_model, mf_assets):
    data = preprocess(tmp_path / "d16", "wiki", mf_assets / "text" / "wiki.valid.tokens", sp_model, seq_length=16)
    task = write_task(tmp_path / "task.yaml", sp_model, data)
    result = invoke("run", "--config", task)
    assert result.exit_code == 2
    assert "preprocess with --seq_length 32, or set model.model_config.seq_length=16" in result.output
