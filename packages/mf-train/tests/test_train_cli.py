"""`mf-train run` as a user runs it: a tiny Llama trained on WikiText text made by mf-data, its outputs (metrics,
TensorBoard, loss curve, complete checkpoints) and what other packages do with them; one run per output_dir, and
a killed run's leftovers removed by the next."""

import json
import os
import signal
import subprocess
import time

import pytest

from mf_ckpt.manifest import verify

from .helpers import cli, script, write_task


def plant_leftovers(output):
    """What a killed run leaves in its output_dir: a half-written checkpoint and its lock file, a half-drawn curve
    (named as mf_config.fileio names its temporaries, with the pid of a process that is gone)."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    folder = output / "checkpoint" / "rank_0"
    half = folder / f".tiny_rank_0-1_9.{gone.pid}.0123abcd.tmp"
    half.mkdir(parents=True)
    (half / "model.safetensors").write_bytes(bytes(64))
    (folder / ".tiny_rank_0-1_9.lock").write_bytes(bytes(8))
    (output / f".loss_curve.png.{gone.pid}.89abcdef.tmp").write_bytes(b"\x89PNG")


def lock_holder(lock):
    try:
        return json.loads(lock.read_text())["pid"]
    except (OSError, ValueError, KeyError):
        return None


def run_with_a_second(task, output):
    """``mf-train run`` on ``task``; once it holds its output_dir, it is paused (SIGSTOP) and a second run on the
    same output_dir is tried. Returns (the first's pid, its stderr, the second's (code, stdout, stderr))."""
    first = subprocess.Popen([script("mf-train"), "run", "--config", str(task), "--no_progress"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 600
        while lock_holder(output.with_name(f".{output.name}.lock")) != first.pid:
            assert first.poll() is None and time.monotonic() < deadline, "the run never took its output_dir"
            time.sleep(0.01)
        os.kill(first.pid, signal.SIGSTOP)
        try:
            second = cli("run", "--config", task, "--no_progress", check=False)
        finally:
            os.kill(first.pid, signal.SIGCONT)
        _, err = first.communicate(timeout=900)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0, err[-3000:]
    return first.pid, err, second


@pytest.fixture(scope="module")
def run(tmp_path_factory, sp_model, wiki):
    """One 6-step training run with an evaluation every 3 steps, over a killed run's leftovers; a second run on its
    output_dir is tried while it runs."""
    folder = tmp_path_factory.mktemp("run")
    task = write_task(folder / "task.yaml", sp_model, wiki, do_eval=True, eval_step_interval=3)
    plant_leftovers(folder / "output")
    pid, err, second = run_with_a_second(task, folder / "output")
    return folder / "output", err, pid, second


def test_one_run_per_output_dir_and_a_killed_runs_leftovers_go(run):
    output, _, first, (code, _, err) = run
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"Error: {output}: being written by pid {first} (mf-train run --config"), err
    assert not [p.name for p in output.parent.iterdir() if p.name.startswith(".")]  # the lock went with the run
    assert not [p.name for p in output.iterdir() if p.name.startswith(".")]
    assert sorted(p.name for p in (output / "checkpoint" / "rank_0").iterdir()) == ["tiny_rank_0-1_3",
                                                                                      "tiny_rank_0-1_6"]


def test_training_writes_metrics_curve_tensorboard_and_checkpoints(run):
    output, err, _, _ = run
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
    output, *_ = run
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
