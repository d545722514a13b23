"""`mf-train run` as a user runs it: a tiny Llama trained on WikiText text made by mf-data, its outputs (metrics,
TensorBoard, loss curve, complete checkpoints) and what other packages do with them."""

import json
import subprocess

import pytest

from mf_ckpt.manifest import verify

from .helpers import cli, script, write_task


@pytest.fixture(scope="module")
def run(tmp_path_factory, sp_model, wiki):
    """One 6-step training run with an evaluation every 3 steps."""
    folder = tmp_path_factory.mktemp("run")
    task = write_task(folder / "task.yaml", sp_model, wiki, do_eval=True, eval_step_interval=3)
    code, out, err = cli("run", "--config", task, "--no_progress")
    return folder / "output", err


def test_training_writes_metrics_curve_tensorboard_and_checkpoints(run):
    output, err = run
    lines = [json.loads(x) for x in (output / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in lines if "loss" in r]
    evals = [r for r in lines if "eval_loss" in r]
    assert [r["step"] for r in steps] == [1, 2, 3, 4, 5, 6]
    assert [r["step"] for r in evals] == [3, 6]
    assert evals[1]["eval_loss"] < evals[0]["eval_loss"]
    assert all(r["tokens"] == 4 * 32 for r in steps) and steps[-1]["loss"] < steps[0]["loss"]
    assert (output / "loss_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list((output / "tensorboard").glob("events.out.tfevents.*"))
    assert "step:[    6/    6]" in err and "done: 6 steps, 768 tokens" in err
    folders = sorted(p.name for p in (output / "checkpoint" / "rank_0").iterdir())
    assert folders == ["tiny_rank_0-1_3", "tiny_rank_0-1_6"]
    for name in folders:
        verify(output / "checkpoint" / "rank_0" / name)


def test_checkpoint_generates_converts_and_strips(run, tmp_path):
    output, _ = run
    ckpt = output / "checkpoint" / "rank_0" / "tiny_rank_0-1_6"
    state = json.loads((ckpt / "trainer_state.json").read_text())
    assert state["step"] == 6 and state["consumed_batches"] == 6
    gen = subprocess.run([script("mf-generate"), "run", "--model", str(ckpt), "--max_new_tokens", "4",
                          "--do_sample", "false", "--predict_data", "The"], capture_output=True, text=True)
    assert gen.returncode == 0, gen.stderr[-2000:]
    assert gen.stdout.startswith("The")
    stripped = subprocess.run([script("mf-ckpt"), "strip-optimizer", str(ckpt), str(tmp_path / "weights")],
                              capture_output=True, text=True)
    assert stripped.returncode == 0, stripped.stderr
    hf = subprocess.run([script("mf-ckpt"), "convert", "--input_path", str(tmp_path / "weights"), "--output_path",
                         str(tmp_path / "hf"), "--reversed"], capture_output=True, text=True)
    assert hf.returncode == 0, hf.stderr
    import transformers

    model = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "hf")
    assert model.config.num_hidden_layers == 2
