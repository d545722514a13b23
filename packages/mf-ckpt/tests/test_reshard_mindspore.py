"""Our split and merge against ``mindspore.transform_checkpoints``, given strategy files written with
MindSpore's own protobuf classes (``mindspore.train.node_strategy_pb2``)."""

import mindspore as ms
import numpy as np
import pytest
from mindspore.train import node_strategy_pb2

from mf_ckpt.store import open_checkpoint

H, F, V = 16, 32, 24
PARAMS = {  # name -> (shape, split_dim, pipeline stage)
    "model.tok_embeddings.embedding_weight": ((V, H), 0, 0),
    "model.layers.0.attention.wq.weight": ((H, H), 0, 0),
    "model.layers.0.attention.wo.weight": ((H, H), 1, 0),
    "model.layers.0.attention_norm.weight": ((H,), None, 0),
    "model.layers.1.feed_forward.w1.weight": ((F, H), 0, 1),
    "model.layers.1.feed_forward.w2.weight": ((H, F), 1, 1),
    "lm_head.weight": ((V, H), 0, 1),
}
# name -> (dev_matrix, stages, optimizer shard (step, size) of split parameters)
LAYOUTS = {"mp2": ([1, 2], 1, (0, 0)), "mp4": ([1, 4], 1, (0, 0)), "dp2_mp2": ([2, 2], 1, (0, 0)),
           "opt_dp2_mp2": ([2, 2], 1, (2, 2)), "opt_all_dp4_mp2": ([4, 2], 1, (2, -1)), "pp2_mp2": ([1, 2], 2, (0, 0))}


def strategy_map(dev_matrix, opt, stage=None):
    """A ParallelStrategyMap for the parameters of ``stage`` (all when None)."""
    m = node_strategy_pb2.ParallelStrategyMap()
    m.current_stage = stage or 0
    item = m.parallel_strategy_item.add()
    item.node_name = "Default/network-LlamaForCausalLM/MatMul-op0"
    item.parallel_strategys.stage = stage or 0
    item.parallel_strategys.parallel_strategy.add().dim.extend([1, 2])
    for name, (shape, split, s) in PARAMS.items():
        if stage is not None and s != stage:
            continue
        layout = m.parallel_layout_item.add()
        layout.param_name = name
        p = layout.parallel_layouts
        p.dev_matrix.add().dim.extend(dev_matrix)
        p.tensor_map.add().dim.extend([0 if d == split else -1 for d in range(len(shape))])
        p.param_split_shape.add()
        p.indices_offset.add()
        p.field = 0
        step, size = opt if split is not None else (0, 0)
        p.opt_weight_shard_step, p.opt_weight_shard_size = step, size
    return m


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """Strategy files, the full checkpoint (rank_0/full.ckpt) and its arrays."""
    base = tmp_path_factory.mktemp("ms")
    rng = np.random.default_rng(1)
    arrays = {n: rng.standard_normal(shape).astype(np.float32) for n, (shape, _, _) in PARAMS.items()}
    (base / "full/rank_0").mkdir(parents=True)
    ms.save_checkpoint([{"name": n, "data": ms.Tensor(a)} for n, a in arrays.items()],
                       str(base / "full/rank_0/full.ckpt"))
    strategies = {}
    for name, (dev, stages, opt) in LAYOUTS.items():
        if stages == 1:
            path = base / f"{name}.ckpt"
            path.write_bytes(strategy_map(dev, opt).SerializeToString())
        else:
            stage_dir = base / f"{name}_stages"
            stage_dir.mkdir()
            for stage in range(stages):
                (stage_dir / f"strategy_{stage}.ckpt").write_bytes(strategy_map(dev, opt, stage).SerializeToString())
            path = base / f"{name}_merged.ckpt"
            ms.merge_pipeline_strategys(str(stage_dir), str(path))
        strategies[name] = path
    return base, strategies, arrays


def ckpt_arrays(path):
    return {n: p.asnumpy() for n, p in ms.load_checkpoint(str(path)).items()}


def assert_same_shards(a, b, world):
    """rank_N/checkpoint_N.ckpt under ``a`` and ``b`` hold the same tensors, for every rank."""
    for rank in range(world):
        x = ckpt_arrays(a / f"rank_{rank}/checkpoint_{rank}.ckpt")
        y = ckpt_arrays(b / f"rank_{rank}/checkpoint_{rank}.ckpt")
        assert x.keys() == y.keys() and all(np.array_equal(x[n], y[n]) for n in x), rank


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_split_and_merge_equal_mindspore(layout, setup, tmp_path, cli):
    base, strategies, arrays = setup
    strategy = strategies[layout]
    world = int(np.prod(LAYOUTS[layout][0])) * LAYOUTS[layout][1]
    ours, theirs = tmp_path / "ours", tmp_path / "ms"
    r = cli("split", "--dst_strategy", strategy, "--src_ckpt", base / "full/rank_0/full.ckpt", "--dst_ckpt_dir", ours,
            "--format", "ckpt")
    assert r.exit_code == 0, r.output
    ms.transform_checkpoints(str(base / "full"), str(theirs), "checkpoint_", None, str(strategy))
    assert_same_shards(ours, theirs, world)
    r = cli("merge", "--src_strategy", strategy, "--src_ckpt_dir", theirs, "--dst_ckpt_dir", tmp_path / "merged")
    assert r.exit_code == 0, r.output
    ms.transform_checkpoints(str(ours), str(tmp_path / "ms_merged"), "checkpoint_", str(strategy), None)
    theirs_merged = ckpt_arrays(tmp_path / "ms_merged/rank_0/checkpoint_0.ckpt")
    ours_merged = tmp_path / "merged/rank_0/checkpoint_0.safetensors"
    merged = open_checkpoint(ours_merged)
    assert set(merged.infos) == set(arrays) == set(theirs_merged)
    for name, a in arrays.items():
        np.testing.assert_array_equal(merged.get(name), a)
        np.testing.assert_array_equal(theirs_merged[name], a)


def test_per_stage_strategy_folder_equals_merged_file(setup, tmp_path, cli):
    base, strategies, arrays = setup
    for src, out in ((base / "pp2_mp2_stages", "a"), (strategies["pp2_mp2"], "b")):
        assert cli("split", "--dst_strategy", src, "--src_ckpt", base / "full/rank_0/full.ckpt", "--dst_ckpt_dir",
                   tmp_path / out).exit_code == 0
    for rank in range(4):
        assert cli("diff", tmp_path / f"a/rank_{rank}", tmp_path / f"b/rank_{rank}").exit_code == 0


def test_mindspore_json_strategy(setup, tmp_path, cli):
    """MindSpore's JSON strategy form (what ``build_searched_strategy`` reads) gives what MindSpore gives."""
    import json

    base, _, _ = setup
    items = {}
    for name, (shape, split, _) in PARAMS.items():
        items[name] = {"dev_matrix": [2, 2], "tensor_map": [0 if d == split else -1 for d in range(len(shape))],
                       "field": 0, "opt_weight_shard_step": 2 if split is not None else 0,
                       "opt_weight_shard_size": 2 if split is not None else 0}
    strategy = tmp_path / "strategy.json"
    strategy.write_text(json.dumps({"current_stage": 0, "parallel_strategy_item": {"op": {"stage": 0}},
                                    "parallel_layout_item": items}))
    assert cli("split", "--dst_strategy", strategy, "--src_ckpt", base / "full/rank_0/full.ckpt", "--dst_ckpt_dir",
               tmp_path / "ours", "--format", "ckpt").exit_code == 0
    ms.transform_checkpoints(str(base / "full"), str(tmp_path / "ms"), "checkpoint_", None, str(strategy))
    assert_same_shards(tmp_path / "ours", tmp_path / "ms", 4)


def test_nested_tensor_maps(setup, tmp_path, cli):
    """A tensor dimension split over two device dimensions (MindSpore's ``Layout`` with tuple maps), in both orders."""
    base, _, arrays = setup
    m = node_strategy_pb2.ParallelStrategyMap()
    m.current_stage = 0
    item = m.parallel_strategy_item.add()
    item.node_name = "Default/MatMul-op0"
    item.parallel_strategys.stage = 0
    nested = {"model.layers.0.attention.wq.weight": [[1, 0], [-1]],
              "model.layers.1.feed_forward.w2.weight": [[-1], [0, 1]]}
    for name, maps in nested.items():
        layout = m.parallel_layout_item.add()
        layout.param_name = name
        p = layout.parallel_layouts
        p.dev_matrix.add().dim.extend([2, 2])
        for dims in maps:
            p.tensor_map.add().dim.extend(dims)
        p.param_split_shape.add()
        p.indices_offset.add()
        p.field = p.opt_weight_shard_step = p.opt_weight_shard_size = 0
    strategy = tmp_path / "nested.ckpt"
    strategy.write_bytes(m.SerializeToString())
    assert cli("split", "--dst_strategy", strategy, "--src_ckpt", base / "full/rank_0/full.ckpt", "--dst_ckpt_dir",
               tmp_path / "ours", "--format", "ckpt").exit_code == 0
    ms.transform_checkpoints(str(base / "full"), str(tmp_path / "ms"), "checkpoint_", None, str(strategy))
    assert_same_shards(tmp_path / "ours", tmp_path / "ms", 4)
    assert ckpt_arrays(tmp_path / "ours/rank_3/checkpoint_3.ckpt")["model.layers.0.attention.wq.weight"].shape == (
        H // 4, H)
    assert cli("merge", "--src_strategy", strategy, "--src_ckpt_dir", tmp_path / "ms", "--dst_ckpt_dir",
               tmp_path / "merged").exit_code == 0
    merged = open_checkpoint(tmp_path / "merged/rank_0/checkpoint_0.safetensors")
    assert all(np.array_equal(merged.get(n), a) for n, a in arrays.items())
