"""Resume after kill -9 is bitwise: the losses of every step equal an uninterrupted run's, whether the kill lands
mid-training or while a checkpoint is being written, and the resumed run removes what the killed one left; a full
disk during a save leaves the previous checkpoint."""

import errno
import json
import os
import shutil
import signal
import subprocess
import time

import mindspore as ms
import numpy as np
import pytest

from mf_ckpt.manifest import verify
from mf_train import checkpoint

from .helpers import cli, script, write_task

STEPS = 10
OPTIONS = dict(runner_wrapper={"type": "MFTrainOneStepCell", "use_clip_grad": True, "max_grad_norm": 1.0,
                               "scale_sense": {"type": "DynamicLossScaleUpdateCell", "loss_scale_value": 1024.0,
                                               "scale_factor": 2, "scale_window": 4}})


def losses(output):
    """{step: loss} of a run's metrics.jsonl, a resumed run's lines replacing the killed run's."""
    out = {}
    for line in (output / "metrics.jsonl").read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if "loss" in record:
            out[record["step"]] = record["loss"]
    return out


def task_for(folder, sp_model, wiki):
    task = write_task(folder / "task.yaml", sp_model, wiki, steps=STEPS, **OPTIONS)
    data = task.read_text().replace("save_checkpoint_steps: 3", "save_checkpoint_steps: 2")
    task.write_text(data)
    return task


@pytest.fixture(scope="module")
def reference(tmp_path_factory, sp_model, wiki):
    folder = tmp_path_factory.mktemp("reference")
    cli("run", "--config", task_for(folder, sp_model, wiki), "--no_progress")
    result = losses(folder / "output")
    assert sorted(result) == list(range(1, STEPS + 1))
    kept = [p.name for p in checkpoint.complete(folder / "output" / "checkpoint" / "rank_0")]
    assert kept == ["tiny_rank_0-1_6", "tiny_rank_0-1_8", "tiny_rank_0-1_10"]  # keep_checkpoint_max 3
    return folder, result


def kill_when(process, ready, timeout=300):
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"the run ended (code {process.returncode}) before the moment to kill it")
        time.sleep(0.002)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()


def steps_done(output, n):
    path = output / "metrics.jsonl"
    return lambda: path.is_file() and path.read_text().count('"loss"') >= n


def writing_checkpoint(output, after):
    folder = output / "checkpoint" / "rank_0"
    done = steps_done(output, after)
    return lambda: done() and folder.is_dir() and any(p.name.startswith(".") and ".tmp" in p.name
                                                      for p in folder.iterdir())


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["after step 3", "during a checkpoint write", "after step 7"])
def test_kill_9_then_resume_gives_the_same_losses_bit_for_bit(tmp_path, sp_model, wiki, reference, moment):
    task = task_for(tmp_path, sp_model, wiki)
    output = tmp_path / "output"
    process = subprocess.Popen([script("mf-train"), "run", "--config", str(task), "--no_progress"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ready = {"after step 3": steps_done(output, 3), "after step 7": steps_done(output, 7),
             "during a checkpoint write": writing_checkpoint(output, 4)}[moment]
    kill_when(process, ready)
    for path in checkpoint.complete(output / "checkpoint" / "rank_0"):
        verify(path)  # whatever is under a final name is whole
    code, _, err = cli("run", "--config", task, "--no_progress", "--resume_training")
    assert "resumed from" in err
    assert losses(output) == reference[1]
    folder = output / "checkpoint" / "rank_0"  # what the killed run left (temporaries, locks) is gone
    assert sorted(p.name for p in folder.iterdir()) == ["tiny_rank_0-1_10", "tiny_rank_0-1_6", "tiny_rank_0-1_8"]
    assert not [p.name for p in output.iterdir() if p.name.startswith(".")]


@pytest.mark.slow
def test_resume_passes_over_a_damaged_checkpoint_and_says_so(tmp_path, reference):
    folder, expected = reference
    shutil.copytree(folder, tmp_path / "run")
    task = tmp_path / "run" / "task.yaml"
    task.write_text(task.read_text().replace(str(folder), str(tmp_path / "run")))
    newest = tmp_path / "run" / "output" / "checkpoint" / "rank_0" / "tiny_rank_0-1_10" / "model.safetensors"
    with open(newest, "r+b") as f:
        f.seek(-3, os.SEEK_END)
        f.write(b"\x00\x01\x02")
    code, _, err = cli("run", "--config", task, "--no_progress", "--resume_training")
    assert "skipping damaged checkpoint" in err and "tiny_rank_0-1_10" in err
    assert "resumed from" in err and "tiny_rank_0-1_8 at step 8" in err
    assert losses(tmp_path / "run" / "output") == expected


def test_disk_full_during_a_save_keeps_the_previous_checkpoint(tmp_path, sp_model, wiki, monkeypatch):
    from mf_ckpt import output as ckpt_output
    from mf_train import Trainer, TrainError

    task = write_task(tmp_path / "task.yaml", sp_model, wiki, steps=4)
    real, calls = ckpt_output.write_specs, []

    def full_disk(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(ckpt_output, "write_specs", full_disk)
    trainer = Trainer(str(task), progress=False)
    with pytest.raises(TrainError, match="could not write the checkpoint: no space left writing .*tiny_rank_0-1_4: "
                                         ".* MB needed, .* MB free; the previous ones are intact"):
        trainer.train()
    folder = tmp_path / "output" / "checkpoint" / "rank_0"
    good = checkpoint.newest_good(folder)
    assert good.name == "tiny_rank_0-1_3" and [p.name for p in folder.iterdir()] == [good.name]
    monkeypatch.setattr(ckpt_output, "write_specs", real)
    summary = Trainer(str(task), progress=False).train(resume_training=True)
    assert summary["steps"] == 4


def test_a_nan_loss_stops_naming_the_step_and_the_last_good_checkpoint(tmp_path, sp_model, wiki):
    from mindspore.train import Callback

    from mf_train import Trainer, TrainError

    class Diverge(Callback):  # a user's MindSpore callback: the weights blow up after step 3
        def on_train_step_end(self, run_context):
            cb = run_context.original_args()
            if cb.cur_step_num == 3:
                table = cb.network.model.tok_embeddings.embedding_weight
                table.set_data(ms.Tensor(np.full(table.shape, np.nan, np.float32)))

    task = write_task(tmp_path / "task.yaml", sp_model, wiki, steps=6)
    trainer = Trainer(str(task), callbacks=[Diverge()], progress=False)
    with pytest.raises(TrainError, match=r"loss is nan at step 4; stopped \(last good checkpoint: .*tiny_rank_0-1_3"):
        trainer.train()
