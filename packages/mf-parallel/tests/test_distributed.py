"""Tensor, data and expert parallelism under `mf-parallel launch` (msrun, CPU workers) against one process.

Two launches share the work (a launch costs 20-60 s here): mp=2 on 2 workers (Llama GQA with a vocabulary-parallel
embedding, head and cross-entropy; Mixtral; GPT-2 and Bloom with their tied head split by vocabulary; a bare
AllReduce against ReduceFromRegion; greedy generation; a sharded checkpoint) and dp=2 x mp=2 on 4 workers started
as two "nodes" of this machine (Llama trained 5 AdamW steps from a checkpoint split 4 ways with another layout,
saved with its optimizer; Mixtral with experts over ep=2 and mp=2). Each rank writes what it computed; the
references are computed here, in this process, by the unchanged networks.
"""

import json
import socket
import subprocess
import sys
from pathlib import Path

import mindspore as ms
import numpy as np
import pytest

from mf_parallel.mesh import Mesh
from mf_parallel.plans import plan_for

from .workers import reference as ref
from .workers.families import GENERATE, RESUME_AT, STEPS, config

DIST = Path(__file__).parent / "workers"

pytestmark = pytest.mark.slow
FAMILIES = ("llama", "mixtral", "gpt2", "bloom")
MSRUN = ("msrun ", "mindspore.parallel.cluster.run")  # msrun's script, or its module when no script is on PATH


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_command(*args):
    return [sys.executable, "-m", "mf_parallel.cli", "launch", *map(str, args)]


def finish(proc, what):
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, f"{what} failed ({proc.returncode}):\n{out[-6000:]}"
    return out


@pytest.fixture(scope="module")
def refs(tmp_path_factory):
    """The inputs the workers load and what one process computes from them."""
    inputs = tmp_path_factory.mktemp("inputs")
    ms.set_context(mode=ms.PYNATIVE_MODE)
    for family in FAMILIES:
        ref.save_family(family, inputs)
    ref.split_differently(inputs)
    out = {family: ref.evaluate(family, inputs, 2, generate=family in GENERATE) for family in FAMILIES}
    out["mixtral4"] = ref.evaluate("mixtral", inputs, 4)
    out["mixtral4_dropless"] = ref.loss_without_drops(inputs, 4)
    out["training"] = ref.training_reference(inputs)
    out["pair"] = ref.pair_reference()
    out["inputs"] = inputs
    return out


def results(folder, n):
    return [dict(np.load(folder / f"rank_{r}.npz")) for r in range(n)]


@pytest.fixture(scope="module")
def mp2(refs, tmp_path_factory):
    out, logs = tmp_path_factory.mktemp("mp2"), tmp_path_factory.mktemp("mp2_logs")
    cmd = launch_command("--worker_num", 2, "--master_port", free_port(), "--log_dir", logs, "--",
                         "python", DIST / "scenarios.py", "mp2", refs["inputs"], out)
    text = finish(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True), "mp2")
    return out, results(out, 2), text


@pytest.fixture(scope="module")
def dp2mp2(refs, tmp_path_factory):
    """Four workers as two nodes: node 0 through msrun (scheduler, ranks 0-1), node 1 started directly."""
    out, logs = tmp_path_factory.mktemp("dp2mp2"), tmp_path_factory.mktemp("dp2mp2_logs")
    port = free_port()
    nodes = [subprocess.Popen(launch_command("--worker_num", 4, "--local_worker_num", 2, "--node_rank", node,
                                             "--master_port", port, "--log_dir", logs / f"node{node}", "--",
                                             "python", DIST / "scenarios.py", "dp2mp2", refs["inputs"], out),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for node in (0, 1)]
    texts = [finish(p, f"node {i}") for i, p in enumerate(nodes)]
    return out, results(out, 4), texts


def block(full, family, name, mesh, rank, **parallel):
    """This rank's block of a full array, by the plan's placement of ``name``."""
    cfg = config(family, **parallel)
    placement = plan_for(cfg).resolve([name], cfg.parallel_config.vocab_emb_dp)[name]
    return full[tuple(slice(a, b) for a, b in placement.box(full.shape, mesh, rank))]


@pytest.mark.parametrize("family", FAMILIES)
def test_mp2_logits_loss_every_gradient_and_generation_equal_one_process(mp2, refs, family):
    _, ranks, _ = mp2
    r = refs[family]
    mesh = Mesh(mp=2)
    for rank, got in enumerate(ranks):
        np.testing.assert_allclose(got[f"{family}.logits"], r["logits"], rtol=1e-5, atol=2e-6)
        np.testing.assert_allclose(got[f"{family}.loss"], r["loss"], rtol=1e-6)
        names = {k.split(".grad.", 1)[1] for k in got if k.startswith(f"{family}.grad.")}
        assert names == set(r["grads"])
        for name, full in r["grads"].items():
            np.testing.assert_allclose(got[f"{family}.grad.{name}"], block(full, family, name, mesh, rank,
                                                                          model_parallel=2),
                                       rtol=1e-4, atol=1e-6, err_msg=f"{name} on rank {rank}")
        if family in GENERATE:
            np.testing.assert_array_equal(got[f"{family}.generated"], r["generated"])


def test_a_bare_all_reduce_gives_mp_times_the_gradient(mp2, refs):
    _, ranks, _ = mp2
    w1, w2 = refs["pair"]
    for rank, got in enumerate(ranks):
        cols = slice(rank * 4, (rank + 1) * 4)
        np.testing.assert_allclose(got["pair.region.w2"], w2[:, cols], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got["pair.region.w1"], w1[cols], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got["pair.bare.w2"], 2 * w2[:, cols], rtol=1e-5, atol=1e-6)


def test_mp2_launcher_prefixes_each_rank_and_prints_msrun(mp2):
    _, _, text = mp2
    first = text.splitlines()[0]
    assert any(m in first for m in MSRUN) and "--worker_num=2" in first and first.endswith("-m mf_parallel.worker")
    assert "MF_PARALLEL_COMMAND=" in first and "scenarios.py" in first
    assert "[rank 0] " in text and "[rank 1] " in text


def test_mp2_checkpoint_merges_to_the_full_one_and_its_strategy_file_says_the_same(mp2, refs, tmp_path):
    from click.testing import CliRunner

    from mf_ckpt.cli import main as mf_ckpt
    from mf_ckpt.store import open_checkpoint
    from mf_ckpt.strategy import load_layout

    folder = mp2[0] / "ckpt_llama_mp2"
    ours, theirs = load_layout(folder / "layout.json"), load_layout(folder / "strategy")
    assert ours.params == theirs.params and len(ours.params) == len(refs["llama"]["grads"])
    merge = CliRunner().invoke(mf_ckpt, ["merge", "--src_strategy", str(folder / "layout.json"), "--src_ckpt_dir",
                                         str(folder), "--dst_ckpt_dir", str(tmp_path / "merged")])
    assert merge.exit_code == 0, merge.output
    merged = open_checkpoint(tmp_path / "merged" / "rank_0")
    full = open_checkpoint(refs["inputs"] / "llama")
    assert set(merged.infos) == set(full.infos)
    for name in full.infos:
        np.testing.assert_array_equal(merged.get(name), full.get(name), err_msg=name)


def test_dp2mp2_five_steps_equal_one_process_on_the_global_batch(dp2mp2, refs, tmp_path):
    from mf_ckpt.resharding import reshard
    from mf_ckpt.store import open_checkpoint
    from mf_ckpt.strategy import load_layout

    out, ranks, _ = dp2mp2
    losses, norms, state = refs["training"]
    assert (norms > 0.5).all()  # every step is clipped: the global norm matters
    for got in ranks:
        np.testing.assert_allclose(got["llama.losses"], losses, rtol=1e-5)
        np.testing.assert_allclose(got["llama.norms"], norms, rtol=1e-4)
    folder = out / "ckpt_llama_dp2mp2"
    reshard(folder, tmp_path / "merged", src_layout=load_layout(folder / "layout.json"))
    merged = open_checkpoint(tmp_path / "merged" / "rank_0")
    for name, value in state.items():
        # five Adam steps (lr 1e-2) amplify float32 rounding: weights agree to ~3e-6
        np.testing.assert_allclose(merged.get(name), value, rtol=1e-3, atol=1e-5, err_msg=name)
    assert int(merged.get("step")) == STEPS
    assert any(n.startswith("adam_m.") for n in state) and any(n.startswith("adam_v.") for n in state)


def test_dp2mp2_resume_from_a_sharded_checkpoint_is_bitwise_equal(dp2mp2):
    """Steps 4-5 run again after loading the step-3 checkpoint (weights and optimizer state) give the same losses
    and weights, bit for bit; each rank's own file came back too."""
    from mf_parallel.checkpoint import rank_file

    out, ranks, _ = dp2mp2
    for rank, got in enumerate(ranks):
        np.testing.assert_array_equal(got["resume.losses"], got["llama.losses"][RESUME_AT:])
        assert got["resume.max_weight_difference"] == 0.0
        assert json.loads(rank_file(out / "ckpt_llama_step3", "note.json", rank)) == {"rank": rank}


def test_dp2mp2_data_shards_and_the_overflow_check_all_ranks_agree_on(dp2mp2):
    _, ranks, texts = dp2mp2
    mesh = Mesh(dp=2, mp=2)
    for rank, got in enumerate(ranks):
        assert got["data_shard"].tolist() == [mesh.index("dp", rank), 2] and got["global_rank"] == rank
        assert bool(got["finite.all"]) and not bool(got["finite.one_rank_inf"])  # rank 3's inf seen everywhere
    assert "starting its workers directly" in texts[1] and any(m in texts[0].splitlines()[0] for m in MSRUN)


def test_dp2mp2_mixtral_over_ep2_equals_one_process_with_capacity_drops(dp2mp2, refs):
    _, ranks, _ = dp2mp2
    r = refs["mixtral4"]
    assert abs(refs["mixtral4_dropless"] - r["loss"]) > 1e-4  # the reference drops tokens
    mesh = Mesh(dp=2, mp=2, ep=2)
    parallel = dict(data_parallel=2, model_parallel=2, expert_parallel=2)
    for rank, got in enumerate(ranks):
        d = mesh.index("dp", rank)
        np.testing.assert_allclose(got["mixtral.logits"], r["logits"][2 * d:2 * d + 2], rtol=1e-5, atol=2e-6)
        np.testing.assert_allclose(got["mixtral.loss"], r["loss"], rtol=1e-5)
        for name, full in r["grads"].items():
            np.testing.assert_allclose(got[f"mixtral.grad.{name}"], block(full, "mixtral", name, mesh, rank,
                                                                         **parallel),
                                       rtol=1e-4, atol=1e-6, err_msg=f"{name} on rank {rank}")
