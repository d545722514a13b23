"""Training checkpoints follow mf's publication discipline (mf_config.fileio, proved with mf_config.faults): a save
killed at each publication step, failing on a full disk at each fsync, or racing a second writer leaves the old
checkpoint or the new one, complete and verified, and a re-run leaves nothing behind; a pruning killed at each step
leaves whole checkpoints only, and the next run's clean-up removes the rest."""

import hashlib
import shutil

import mindspore as ms
import numpy as np
import pytest

from mf_ckpt.manifest import verify
from mf_config import faults
from mf_config.fileio import clean_stale_in
from mf_config.reliability import tally
from mf_train import checkpoint

NAME = "tiny_rank_0-1_3"


def params(seed):
    """Weights, an optimizer moment and the global step, as a trainer's checkpoint holds them."""
    rng = np.random.default_rng(seed)
    return {name: ms.Parameter(ms.Tensor(value), name=name) for name, value in (
        ("model.tok_embeddings.embedding_weight", rng.standard_normal((16, 8)).astype(np.float32)),
        ("adam_m.model.tok_embeddings.embedding_weight", rng.standard_normal((16, 8)).astype(np.float32)),
        ("global_step", np.array([seed], np.int32)))}


def saver(folder, seed, name=NAME):
    values, state = params(seed), {"step": seed, "epoch": 1, "consumed_batches": seed}

    def extra(tmp):
        (tmp / "config.json").write_text('{"type": "LlamaConfig"}\n', encoding="utf-8")

    return lambda: checkpoint.save(folder, name, values, state, extra)


def contents(path):
    """What resume sees at ``path`` (verified first): {file: SHA-256}, or None when there is no checkpoint."""
    if not path.exists():
        return None
    return {n: hashlib.sha256((path / n).read_bytes()).hexdigest() for n in verify(path)}


def test_a_checkpoint_save_killed_at_every_step(tmp_path, budget):
    folder = tmp_path / "checkpoint" / "rank_0"
    actions = ("kill", "term") if budget.long else ("kill",)
    tally("faults", faults.exercise_writer(saver(folder, 1), saver(folder, 2), contents, folder / NAME, actions))


def test_a_full_disk_at_every_fsync_of_a_save(tmp_path):
    folder = tmp_path / "checkpoint" / "rank_0"
    tally("faults", faults.full_disk(saver(folder, 1), saver(folder, 2), contents, folder / NAME))
    run = faults.run_forked(saver(folder, 2), "nospace", 0)
    assert run.status == 2 and run.message.startswith("could not write the checkpoint: no space left writing")
    assert run.message.endswith("; the previous ones are intact"), run


def test_a_second_writer_of_a_checkpoint_fails_at_once(tmp_path):
    tally("races", faults.race(saver(tmp_path / "ckpt", 1), tmp_path / "ckpt" / NAME))


def listed(folder):
    """The checkpoints resume would consider, each verified."""
    names = [p.name for p in checkpoint.complete(folder)]
    for name in names:
        verify(folder / name)
    return names


@pytest.fixture(scope="module")
def three(tmp_path_factory):
    """Three saved checkpoints (steps 1, 2, 3), to copy."""
    folder = tmp_path_factory.mktemp("three") / "rank_0"
    for step in (1, 2, 3):
        saver(folder, step, f"tiny_rank_0-1_{step}")()
    return folder


def test_a_pruning_killed_at_every_step(tmp_path, three):
    folder = tmp_path / "rank_0"
    newest = folder / "tiny_rank_0-1_3"
    prune = lambda: checkpoint.prune(folder, 1, newest)  # noqa: E731 - keep the newest only
    shutil.copytree(three, folder)
    traced = faults.run_forked(prune)
    assert traced.status == 0 and listed(folder) == ["tiny_rank_0-1_3"] and traced.ops, traced
    states = (["tiny_rank_0-1_1", "tiny_rank_0-1_2", "tiny_rank_0-1_3"], ["tiny_rank_0-1_2", "tiny_rank_0-1_3"],
              ["tiny_rank_0-1_3"])
    for at in range(len(traced.ops)):
        shutil.rmtree(folder)
        shutil.copytree(three, folder)
        run = faults.run_forked(prune, "kill", at)
        assert run.status == -9 and listed(folder) in states, run
        clean_stale_in(folder)  # what the next run does first
        assert sorted(p.name for p in folder.iterdir()) == listed(folder), f"left behind after a kill at {at}"
        tally("faults")
