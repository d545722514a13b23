"""A tiny Llama finetuned on records of the shared alpaca file learns them: only the answers are learned (the
prompt is masked), the eval loss falls below a tenth of its start, and `mf-generate run` on the saved checkpoint
answers a training prompt with its answer."""

import json
import subprocess

import pytest

from mf_data.alpaca import alpaca_prompt
from mf_data.conversation import SYSTEM

from .helpers import cli, preprocess, script, write_task


@pytest.fixture(scope="module")
def records(mf_assets):
    data = json.loads((mf_assets / "text" / "alpaca_pydocs.json").read_text(encoding="utf-8"))
    short = [r for r in data if not r["input"] and 40 <= len(r["output"]) <= 70]
    return short[:4]


@pytest.mark.slow
def test_finetuned_model_answers_a_training_prompt(tmp_path, sp_model, records):
    (tmp_path / "alpaca.json").write_text(json.dumps(records), encoding="utf-8")
    data = preprocess(tmp_path / "alpaca", "alpaca", tmp_path / "alpaca.json", sp_model, seq_length=96)
    task = write_task(tmp_path / "task.yaml", sp_model, data, steps=120, do_eval=True, eval_step_interval=60)
    size = ["--set", "model.model_config.seq_length=96", "--set", "model.model_config.hidden_size=64"]
    # the "pretrained" weights finetuning starts from: a fresh model, saved after one step at learning rate 0
    cli("run", "--config", task, *size, "--set", "runner_config.sink_size=1", "--set", "lr_schedule.learning_rate=0",
        "--output_dir", tmp_path / "base")
    base = next((tmp_path / "base" / "checkpoint" / "rank_0").iterdir())
    settings = [*size, "--set", "lr_schedule.learning_rate=0.01", "--set", "lr_schedule.warmup_ratio=0.0",
                "--set", "callbacks.1.save_checkpoint_steps=1000", "--output_dir", tmp_path / "out"]
    code, _, err = cli("run", "--config", task, "--run_mode", "finetune", "--load_checkpoint", base, *settings)
    evals = [json.loads(x) for x in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines() if "eval_loss" in x]
    assert len(evals) == 2 and evals[-1]["eval_loss"] < 0.1 * evals[0]["eval_loss"] + 0.2
    final = next((tmp_path / "out" / "checkpoint" / "rank_0").iterdir())
    record = records[1]
    prompt = f"{SYSTEM} USER: {alpaca_prompt(record)} ASSISTANT:"
    gen = subprocess.run([script("mf-generate"), "run", "--model", str(final), "--do_sample", "false",
                          "--max_new_tokens", "40", "--predict_data", prompt], capture_output=True, text=True)
    assert gen.returncode == 0, gen.stderr[-2000:]
    assert record["output"].rstrip(".") in gen.stdout  # greedy decoding may stop at EOS before a final period
