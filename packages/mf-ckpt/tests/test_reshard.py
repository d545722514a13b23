"""split / merge / transform on checkpoints sharded by the tests: model parallel 2 and 4, data-parallel
replicas, pipeline stages, optimizer sharding; split then merge is the identity."""

import json
import shutil

import ml_dtypes
import numpy as np
import pytest

from mf_ckpt.output import Spec, save_file
from mf_ckpt.store import open_checkpoint

H, F, V = 16, 32, 24
SPLITS = {  # name -> (shape, split_dim, stage in the pipeline layouts)
    "model.tok_embeddings.embedding_weight": ((V, H), 0, 0),
    "model.layers.0.attention.wq.weight": ((H, H), 0, 0),
    "model.layers.0.attention.wo.weight": ((H, H), 1, 0),
    "model.layers.0.feed_forward.w1.weight": ((F, H), 0, 0),
    "model.layers.0.feed_forward.w2.weight": ((H, F), 1, 0),
    "model.layers.0.attention_norm.weight": ((H,), None, 0),
    "model.layers.1.attention.wq.weight": ((H, H), 0, 1),
    "model.layers.1.feed_forward.w1.weight": ((F, H), 0, 1),
    "model.norm_out.weight": ((H,), None, 1),
    "lm_head.weight": ((V, H), 0, 1),
}


def our_layout(mp, dp=1, pipeline=False, opt=False):
    params = {n: {"split_dim": d, "stage": s if pipeline else 0} for n, (_, d, s) in SPLITS.items()}
    return {"data_parallel": dp, "model_parallel": mp, "optimizer_shard": opt, "params": params}


LAYOUTS = {
    "mp2": our_layout(2),
    "mp4": our_layout(4),
    "dp2_mp2": our_layout(2, dp=2),
    "pp2_mp2": our_layout(2, pipeline=True),
    "opt_dp2_mp2": our_layout(2, dp=2, opt=True),
}
WORLD = {"mp2": 2, "mp4": 4, "dp2_mp2": 4, "pp2_mp2": 4, "opt_dp2_mp2": 4}


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    """(path, arrays) of a full checkpoint: float32, a bfloat16 tensor, and an int step counter."""
    rng = np.random.default_rng(0)
    arrays = {n: rng.standard_normal(shape).astype(np.float32) for n, (shape, _, _) in SPLITS.items()}
    arrays["model.layers.1.feed_forward.w1.weight"] = arrays["model.layers.1.feed_forward.w1.weight"].astype(
        ml_dtypes.bfloat16)
    arrays["global_step"] = np.array([42], np.int32)
    path = tmp_path_factory.mktemp("full") / "full.safetensors"
    save_file(path, [Spec(n, {np.dtype(np.float32): "F32", np.dtype(np.int32): "I32"}.get(a.dtype, "BF16"), a.shape,
                          lambda a=a: [a]) for n, a in arrays.items()], lambda n: None)
    return path, arrays


@pytest.fixture(scope="module")
def strategies(tmp_path_factory):
    folder = tmp_path_factory.mktemp("strategies")
    for name, layout in LAYOUTS.items():
        (folder / f"{name}.json").write_text(json.dumps(layout))
    return folder


def load_rank(folder, rank):
    ckpt = open_checkpoint(folder / f"rank_{rank}" / f"checkpoint_{rank}.safetensors")
    return {n: np.array(ckpt.get(n)) for n in ckpt.infos}


def assert_same(arrays, path):
    ckpt = open_checkpoint(path)
    assert set(ckpt.infos) == set(arrays)
    for name, a in arrays.items():
        b = ckpt.get(name)
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), name


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_split_then_merge_is_identity(layout, full, strategies, tmp_path, cli):
    strategy = strategies / f"{layout}.json"
    r = cli("split", "--dst_strategy", strategy, "--src_ckpt", full[0], "--dst_ckpt_dir", tmp_path / "shards")
    assert r.exit_code == 0, r.output
    ranks = sorted(p.name for p in (tmp_path / "shards").iterdir())
    assert ranks == sorted(f"rank_{i}" for i in range(WORLD[layout]))
    assert "mf-ckpt merge" in cli("info", tmp_path / "shards").output
    assert all(cli("verify", tmp_path / "shards" / rank).exit_code == 0 for rank in ranks)
    r = cli("merge", "--src_strategy", strategy, "--src_ckpt_dir", tmp_path / "shards", "--dst_ckpt_dir",
            tmp_path / "merged")
    assert r.exit_code == 0, r.output
    assert_same(full[1], tmp_path / "merged/rank_0/checkpoint_0.safetensors")


def test_shards_hold_the_blocks_the_layout_names(full, strategies, tmp_path, cli):
    arrays = full[1]
    wq, wo, norm = (arrays[f"model.layers.0.{n}.weight"] for n in ("attention.wq", "attention.wo", "attention_norm"))
    for layout in ("mp2", "dp2_mp2", "pp2_mp2", "opt_dp2_mp2"):
        assert cli("split", "--dst_strategy", strategies / f"{layout}.json", "--src_ckpt", full[0],
                   "--dst_ckpt_dir", tmp_path / layout).exit_code == 0
    mp2 = [load_rank(tmp_path / "mp2", r) for r in range(2)]
    np.testing.assert_array_equal(mp2[1]["model.layers.0.attention.wq.weight"], wq[H // 2:])
    np.testing.assert_array_equal(mp2[0]["model.layers.0.attention.wo.weight"], wo[:, :H // 2])
    np.testing.assert_array_equal(mp2[1]["model.layers.0.attention_norm.weight"], norm)
    assert mp2[1]["global_step"].tolist() == [42]
    dp = [load_rank(tmp_path / "dp2_mp2", r) for r in range(4)]
    assert all(np.array_equal(dp[2][n], dp[0][n]) and np.array_equal(dp[3][n], dp[1][n]) for n in dp[0])
    pp = [load_rank(tmp_path / "pp2_mp2", r) for r in range(4)]
    assert "model.layers.1.attention.wq.weight" not in pp[1] and "model.layers.0.attention.wq.weight" not in pp[2]
    np.testing.assert_array_equal(pp[3]["model.layers.1.attention.wq.weight"],
                                  arrays["model.layers.1.attention.wq.weight"][H // 2:])
    opt = [load_rank(tmp_path / "opt_dp2_mp2", r) for r in range(4)]
    for rank, rows in ((0, slice(0, 4)), (1, slice(8, 12)), (2, slice(4, 8)), (3, slice(12, 16))):
        np.testing.assert_array_equal(opt[rank]["model.layers.0.attention.wq.weight"], wq[rows])
    np.testing.assert_array_equal(opt[2]["model.layers.0.attention.wo.weight"], wo[H // 2:, :H // 2])


def test_transform_between_layouts(full, strategies, tmp_path, cli):
    s = {n: strategies / f"{n}.json" for n in LAYOUTS}
    assert cli("split", "--dst_strategy", s["mp2"], "--src_ckpt", full[0], "--dst_ckpt_dir", tmp_path / "a"
               ).exit_code == 0
    steps = [("mp2", "opt_dp2_mp2", "a", "b"), ("opt_dp2_mp2", "pp2_mp2", "b", "c"), ("pp2_mp2", "mp4", "c", "d")]
    for src, dst, a, b in steps:
        r = cli("transform", "--src_strategy", s[src], "--dst_strategy", s[dst], "--src_ckpt_dir", tmp_path / a,
                "--dst_ckpt_dir", tmp_path / b)
        assert r.exit_code == 0, r.output
    assert cli("split", "--dst_strategy", s["mp4"], "--src_ckpt", full[0], "--dst_ckpt_dir", tmp_path / "direct"
               ).exit_code == 0
    for rank in range(4):
        assert cli("diff", tmp_path / f"d/rank_{rank}", tmp_path / f"direct/rank_{rank}").exit_code == 0
    assert cli("transform", "--src_strategy", s["mp4"], "--src_ckpt_dir", tmp_path / "d", "--dst_ckpt_dir",
               tmp_path / "e").exit_code == 0
    assert_same(full[1], tmp_path / "e/rank_0/checkpoint_0.safetensors")


def test_missing_rank_and_wrong_shapes(full, strategies, tmp_path, cli):
    assert cli("split", "--dst_strategy", strategies / "mp4.json", "--src_ckpt", full[0], "--dst_ckpt_dir",
               tmp_path / "s").exit_code == 0
    shutil.rmtree(tmp_path / "s/rank_2")
    r = cli("merge", "--src_strategy", strategies / "mp4.json", "--src_ckpt_dir", tmp_path / "s", "--dst_ckpt_dir",
            tmp_path / "m")
    assert r.exit_code == 2 and "missing rank folders [2]" in r.output and not (tmp_path / "m").exists()
    r = cli("merge", "--src_strategy", strategies / "mp2.json", "--src_ckpt_dir", tmp_path / "s", "--dst_ckpt_dir",
            tmp_path / "m")
    assert r.exit_code == 2 and "rank folders [3] beyond the layout's 2 ranks" in r.output


def test_layout_that_does_not_divide_a_tensor(full, tmp_path, cli):
    strategy = tmp_path / "mp5.json"
    strategy.write_text(json.dumps(our_layout(5)))
    r = cli("split", "--dst_strategy", strategy, "--src_ckpt", full[0], "--dst_ckpt_dir", tmp_path / "s")
    assert r.exit_code == 2 and "model.tok_embeddings.embedding_weight: dimension 0 (24) does not split into 5" in \
        r.output and not (tmp_path / "s").exists()
    strategy.write_text(json.dumps({"model_parallel": 2, "params": {"lm_head.weight": {"split_dim": 2}}}))
    r = cli("split", "--dst_strategy", strategy, "--src_ckpt", full[0], "--dst_ckpt_dir", tmp_path / "s")
    assert r.exit_code == 2 and "lm_head.weight: split_dim 2 is outside a 2-D tensor" in r.output
