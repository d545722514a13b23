"""`mf-train launch` (mf-parallel's launcher + `mf-train run --use_parallel True`) on CPU workers against one process.

A tiny Llama (GQA, vocabulary split: parallel embedding, head and cross-entropy) finetunes 6 steps with clipping and
a dynamic loss scale from the same base weights: in one process on batch 4 (the oracle), under mp=2 from the
complete base checkpoint, and under dp=2 x mp=2 (batch 2 per replica) from the base split 4 ways in a layout no run
uses (auto_trans_ckpt + src_strategy_path_or_dir). The parallel runs log the same losses and norms as one process,
and their sharded checkpoints merge (`mf-ckpt merge`) into one process's weights and optimizer state; the mp=2
run's evaluation at the end equals one process's. The mp=2
run's rank 1 is SIGKILLed after step 5: resumed from its step-3 checkpoint, it computes steps 4 and 5 again bit
for bit as before the kill. Bad layouts and flags fail before any worker starts.
"""

import json
import os
import socket
import subprocess

import numpy as np
import pytest
import yaml

from .helpers import cli, preprocess, script, write_task

STEPS = 6
WRAPPER = {"type": "MFTrainOneStepCell", "use_clip_grad": True, "max_grad_norm": 1.0,
           "scale_sense": {"type": "DynamicLossScaleUpdateCell", "loss_scale_value": 1024.0, "scale_factor": 2,
                           "scale_window": 4}}
CALLBACKS = [{"type": "MFLossMonitor", "per_print_times": 1},
             {"type": "CheckpointMonitor", "prefix": "tiny", "save_checkpoint_steps": 3, "keep_checkpoint_max": 2}]
KILLER = '''import os, signal
from pathlib import Path
from mindspore.train import Callback
class KillAt(Callback):
    """SIGKILL this process at the end of ``step`` on rank ``rank`` (after that step's checkpoint, if any), once:
    ``mark`` remembers it."""
    def __init__(self, step, rank, mark):
        self.step, self.rank, self.mark = step, rank, Path(mark)
    def on_train_step_end(self, run_context):
        if run_context.original_args().cur_step_num == self.step and os.environ["RANK_ID"] == str(self.rank):
            if not self.mark.exists():
                self.mark.write_text("killed")
                os.kill(os.getpid(), signal.SIGKILL)
'''


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_task(folder, sp_model, wiki, base, dp=1, mp=1, batch=4, callbacks=CALLBACKS, eval_data=None, **keys):
    """A finetune of ``base`` for STEPS steps of ``batch`` rows per replica in a dp x mp layout."""
    folder.mkdir(parents=True, exist_ok=True)
    path = write_task(folder / "task.yaml", sp_model, wiki, eval_data, steps=STEPS, runner_wrapper=WRAPPER,
                      callbacks=callbacks, run_mode="finetune", load_checkpoint=str(base),
                      parallel_config={"data_parallel": dp, "model_parallel": mp, "vocab_emb_dp": False}, **keys)
    task = yaml.safe_load(path.read_text())
    task["runner_config"]["batch_size"] = task["train_dataset"]["batch_size"] = batch
    path.write_text(yaml.safe_dump(task, sort_keys=False))
    return path


def records(output, kind="loss"):
    """{step: metrics record} of a run's steps (or of its evaluations: ``kind="eval_loss"``); a resumed run's lines
    replace the killed run's."""
    lines = (output / "metrics.jsonl").read_text().splitlines()
    return {r["step"]: r for r in map(json.loads, lines) if kind in r}


def tensors(path):
    from mf_ckpt.store import open_checkpoint

    ckpt = open_checkpoint(path)
    try:
        return {name: ckpt.get(name) for name in ckpt.infos}
    finally:
        ckpt.close()


def launch(task, workers, logs, *flags):
    """``mf-train launch`` of ``task`` on ``workers`` local workers: the finished process."""
    return subprocess.run([script("mf-train"), "launch", "--worker_num", str(workers), "--master_port",
                           str(free_port()), "--log_dir", str(logs), "--config", str(task), "--no_progress",
                           *map(str, flags)], capture_output=True, text=True, timeout=900)


def launched(task, workers, logs, *flags):
    run = launch(task, workers, logs, *flags)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    return run


def merged(folder, out):
    """``mf-ckpt merge`` of a sharded checkpoint folder: the merged tensors."""
    subprocess.run([script("mf-ckpt"), "merge", "--src_strategy", str(folder / "layout.json"), "--src_ckpt_dir",
                    str(folder), "--dst_ckpt_dir", str(out)], check=True, capture_output=True)
    return tensors(out / "rank_0")


@pytest.fixture(scope="module")
def base(tmp_path_factory, sp_model, wiki):
    """The base weights (seed 7) as our folder, and split 4 ways along dimension 0 (a layout no run here uses)."""
    import mindspore as ms

    from mf_ckpt.resharding import reshard
    from mf_ckpt.strategy import load_layout
    from mf_models import AutoModel

    folder = tmp_path_factory.mktemp("base")
    ms.set_seed(7)
    AutoModel.from_config(str(write_task(folder / "task.yaml", sp_model, wiki))).save_pretrained(folder / "whole")
    shapes = {n: t.shape for n, t in tensors(folder / "whole").items()}
    layout = folder / "split4.json"
    layout.write_text(json.dumps({"model_parallel": 4, "params": {n: {"split_dim": 0} for n, s in shapes.items()
                                                                  if len(s) == 2 and s[0] % 4 == 0}}))
    reshard(folder / "whole", folder / "split4", dst_layout=load_layout(layout))
    return folder


@pytest.fixture(scope="module")
def evaluation(tmp_path_factory, mf_assets, sp_model):
    """The task keys of an evaluation at the end of the run, on a few records of WikiText."""
    folder = tmp_path_factory.mktemp("eval")
    text = (mf_assets / "text" / "wiki.valid.tokens").read_text(encoding="utf-8")
    (folder / "few.tokens").write_text(text[:3000], encoding="utf-8")
    data = preprocess(folder / "few", "wiki", folder / "few.tokens", sp_model)
    return dict(eval_data=data, do_eval=True, eval_epoch_interval=1, eval_step_interval=-1)


@pytest.fixture(scope="module")
def one_process(tmp_path_factory, sp_model, wiki, base, evaluation):
    """The oracle: one process on the global batch (4 rows)."""
    folder = tmp_path_factory.mktemp("one")
    cli("run", "--config", make_task(folder, sp_model, wiki, base / "whole", **evaluation), "--no_progress")
    final = folder / "output" / "checkpoint" / "rank_0" / f"tiny_rank_0-1_{STEPS}"
    return records(folder / "output"), tensors(final / "model.safetensors"), records(folder / "output", "eval_loss")


@pytest.fixture(scope="module")
def mp2(tmp_path_factory, sp_model, wiki, base, evaluation):
    """mp=2 from the complete base: rank 1 SIGKILLed at the end of step 5, then the run resumed (and evaluated)."""
    folder = tmp_path_factory.mktemp("mp2")
    (folder / "user").mkdir()
    (folder / "user" / "killer.py").write_text(KILLER)
    killer = {"type": "KillAt", "auto_register": "killer.KillAt", "step": 5, "rank": 1, "mark": str(folder / "mark")}
    task = make_task(folder, sp_model, wiki, base / "whole", mp=2, callbacks=[*CALLBACKS, killer], **evaluation)
    killed = launch(task, 2, folder / "logs", "--register_path", folder / "user")
    before = (folder / "output" / "metrics.jsonl").read_text()
    published = sorted(p.name for p in (folder / "output" / "checkpoint").iterdir())
    resumed = launched(task, 2, folder / "logs", "--register_path", folder / "user", "--resume_training")
    return folder, killed, before, published, resumed


def check_against_one_process(output, one_process, tmp_path):
    expected, state, _ = one_process
    got = records(output)
    assert sorted(got) == list(range(1, STEPS + 1))
    for step, r in expected.items():
        np.testing.assert_allclose(got[step]["loss"], r["loss"], rtol=1e-5, err_msg=f"step {step}")
        np.testing.assert_allclose(got[step]["grad_norm"], r["grad_norm"], rtol=1e-4, err_msg=f"step {step}")
        assert (got[step]["loss_scale"], got[step]["tokens"]) == (r["loss_scale"], r["tokens"])
    assert max(r["grad_norm"] for r in expected.values()) > 1.0  # clipping acts
    assert len({r["loss_scale"] for r in expected.values()}) == 2  # the dynamic scale grows after 4 steps
    full = merged(output / "checkpoint" / f"tiny-1_{STEPS}", tmp_path / "merged")
    assert set(full) == set(state) and any(n.startswith("adam_v.") for n in full)
    for name, value in state.items():  # six Adam steps amplify float32 rounding: weights agree to ~1e-6
        np.testing.assert_allclose(full[name], value, rtol=1e-3, atol=1e-5, err_msg=name)


@pytest.mark.slow
def test_mp2_trains_as_one_process_and_saves_shards_that_merge_into_its_state(mp2, one_process, tmp_path):
    folder, _, _, _, run = mp2
    check_against_one_process(folder / "output", one_process, tmp_path)
    evaluated, expected = records(folder / "output", "eval_loss"), one_process[2]
    assert list(evaluated) == list(expected) == [STEPS] and evaluated[STEPS]["eval_tokens"] >= 256
    np.testing.assert_allclose(evaluated[STEPS]["eval_loss"], expected[STEPS]["eval_loss"], rtol=1e-5)
    assert evaluated[STEPS]["eval_tokens"] == expected[STEPS]["eval_tokens"]
    first = run.stdout.splitlines()[0]
    assert any(m in first for m in ("msrun ", "mindspore.parallel.cluster.run"))  # msrun, or its module
    assert "--worker_num=2" in first and '"mf-train", "run"' in first and '"--use_parallel", "True"' in first
    for rank in (0, 1):
        assert f"[rank {rank}] {{ Epoch:[  1/  1], step:[    6/    6], loss: " in run.stdout
    kept = sorted(p.name for p in (folder / "output" / "checkpoint").iterdir())
    assert kept == ["tiny-1_3", "tiny-1_6"]
    final = folder / "output" / "checkpoint" / "tiny-1_6"
    for name in ("layout.json", "strategy/ckpt_strategy.ckpt", "config.json", "task.yaml", "tokenizer.model"):
        assert (final / name).is_file(), name
    states = [json.loads((final / f"rank_{r}" / "trainer_state.json").read_text()) for r in (0, 1)]
    assert [s["step"] for s in states] == [6, 6] and states[0]["consumed_batches"] == 6
    assert states[0]["rng"] and states[1]["rng"]


@pytest.mark.slow
def test_mp2_killed_on_one_rank_resumes_bit_for_bit(mp2):
    """The launcher stops the job naming the killed rank; only whole checkpoints are published; the resumed run
    repeats steps 4 and 5 from the step-3 checkpoint exactly as the killed run computed them."""
    folder, killed, before, published, resumed = mp2
    assert killed.returncode == 137 and "rank 1 exited with code 137" in killed.stderr, killed.stderr[-3000:]
    assert published == ["tiny-1_3"]
    assert f"resumed from {folder / 'output' / 'checkpoint' / 'tiny-1_3'} at step 3" in resumed.stdout
    first = [json.loads(line) for line in before.splitlines() if '"loss"' in line]
    assert [r["step"] for r in first] == [1, 2, 3, 4, 5]
    again = records(folder / "output")
    for r in first[3:]:
        for key in ("loss", "grad_norm", "loss_scale", "overflow", "lr", "tokens"):
            assert again[r["step"]][key] == r[key], (r["step"], key)


@pytest.mark.slow
def test_dp2_mp2_from_a_differently_sharded_checkpoint_trains_as_one_process(tmp_path, sp_model, wiki, base,
                                                                              one_process):
    task = make_task(tmp_path, sp_model, wiki, base / "split4", dp=2, mp=2, batch=2, auto_trans_ckpt=True,
                     src_strategy_path_or_dir=str(base / "split4.json"))
    launched(task, 4, tmp_path / "logs")
    check_against_one_process(tmp_path / "output", one_process, tmp_path)


def refused(*args):
    """A `mf-train` command that must fail with one line before any worker starts."""
    env = {k: v for k, v in os.environ.items() if k not in ("MS_ROLE", "RANK_TABLE_FILE")}  # not under a launcher
    run = subprocess.run([script("mf-train"), *map(str, args)], capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 2, run.stdout[-2000:] + run.stderr[-2000:]
    lines = [line for line in run.stderr.splitlines() if line.startswith("Error")]
    assert len(lines) == 1, run.stderr
    return lines[0]


def test_bad_layouts_and_flags_fail_before_any_worker_starts(tmp_path, sp_model, wiki, base):
    task = make_task(tmp_path, sp_model, wiki, base / "whole", mp=2)
    logs = tmp_path / "logs"
    common = ["launch", "--worker_num", 2, "--log_dir", logs, "--config", task]
    assert "but there are 2 devices" in refused(*common, "--set", "parallel_config.data_parallel=2")
    assert "num_heads (4) is not divisible by model_parallel (3)" in refused(
        *common[:2], 3, *common[3:], "--set", "parallel_config.model_parallel=3")
    assert "n_kv_heads (1) is not divisible by model_parallel (2)" in refused(
        *common, "--set", "model.model_config.n_kv_heads=1")
    assert "load_checkpoint" in refused(*common, "--load_checkpoint", tmp_path / "missing")
    assert "pet_config" in refused(*common, "--set", "model.model_config.pet_config.pet_type=lora")
    assert "--bogus" in refused(*common, "--bogus", 1)
    assert "use_parallel" in refused(*common, "--use_parallel", "False")
    assert not logs.exists()  # no worker started, no msrun log written
    assert "mf-train launch" in refused("run", "--config", task, "--use_parallel", "True")
