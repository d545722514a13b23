"""The family plans against the networks' real parameter names, the checks of a layout against a model, and the
layouts (ours and MindSpore's strategy file) a plan gives."""

from types import SimpleNamespace

import numpy as np
import pytest

from mf_config import BloomConfig, GPT2Config, LlamaConfig, MixtralConfig, param_shapes
from mf_config.errors import MFError
from mf_parallel.config_check import check_layout
from mf_parallel.mesh import Mesh
from mf_parallel.plans import plan_for

CONFIGS = {"llama3_8b": LlamaConfig(n_kv_heads=8, vocab_size=128256, intermediate_size=14336),
           "mixtral": MixtralConfig(num_layers=2), "gpt2": GPT2Config(), "bloom": BloomConfig(num_heads=32,
                                                                                             hidden_size=4096)}
SPLIT = {"llama3_8b": {"attention.wq", "attention.wk", "attention.wv", "attention.wo", "feed_forward.w1",
                       "feed_forward.w2", "feed_forward.w3"},
         "mixtral": {"attention.wq", "attention.wk", "attention.wv", "attention.wo", "feed_forward.ffn.w1",
                     "feed_forward.ffn.w2", "feed_forward.ffn.w3"},
         "gpt2": {"attention.dense1", "attention.dense2", "attention.dense3", "attention.projection",
                  "output.mapping", "output.projection"}}
SPLIT["bloom"] = SPLIT["gpt2"]


@pytest.mark.parametrize("name", CONFIGS)
def test_every_layer_matrix_is_split_and_norms_are_not(name):
    config = CONFIGS[name]
    shapes = param_shapes(config)
    placements = plan_for(config).resolve(shapes, vocab_emb_dp=False)
    for pname in shapes:
        p = placements[pname]
        layer_part = ".".join(pname.split(".")[3:-1]) if ".layers." in pname or ".blocks." in pname else None
        if layer_part in SPLIT[name] and pname.endswith("weight"):
            assert p.dims, pname
        if "norm" in pname or pname.endswith(("gamma", "beta")) or "position_embedding" in pname:
            assert not p.dims, pname
        if "router" in pname:
            assert not p.dims, pname
        if "embedding_weight" in pname or "word_embedding" in pname or pname == "lm_head.weight":
            assert p.kind == "vocab", pname
    vocab_dp = plan_for(config).resolve(shapes, vocab_emb_dp=True)
    assert all(p.kind != "vocab" for p in vocab_dp.values())


def test_row_biases_stay_whole_and_column_biases_split():
    placements = plan_for(CONFIGS["gpt2"]).resolve(param_shapes(CONFIGS["gpt2"]))
    assert placements["backbone.blocks.0.attention.dense1.bias"].dims == ((0, "mp"),)
    assert placements["backbone.blocks.0.attention.projection.bias"].dims == ()
    assert placements["backbone.blocks.0.output.mapping.weight"].dims == ((1, "mp"),)  # stored (in, out)
    assert placements["backbone.blocks.0.output.projection.weight"].dims == ((0, "mp"),)


@pytest.mark.parametrize("layout,devices,key", [
    (dict(model_parallel=3), 3, "model_parallel"),                  # 32 heads
    (dict(model_parallel=16), 16, "model_parallel"),                # 8 kv heads (GQA)
    (dict(data_parallel=2), 8, "data_parallel"),                    # 2 devices in the layout, 8 in the job
    (dict(data_parallel=4, expert_parallel=3), 4, "expert_parallel"),
])
def test_bad_layouts_name_the_key_before_anything_starts(layout, devices, key):
    with pytest.raises(MFError) as e:
        check_layout(MixtralConfig(num_layers=2), layout, devices)
    assert key in e.value.key


def test_a_vocabulary_that_does_not_split_is_refused_naming_the_parameter():
    config = LlamaConfig(num_layers=1, hidden_size=64, num_heads=4, vocab_size=97, intermediate_size=64)
    check_layout(config, {"model_parallel": 2, "vocab_emb_dp": True}, 2)
    with pytest.raises(MFError) as e:
        check_layout(config, {"model_parallel": 2, "vocab_emb_dp": False}, 2)
    assert "model.tok_embeddings.embedding_weight" in str(e.value) and e.value.key.endswith("model_parallel")


def fake_checkpoint(config, mesh):
    from mf_parallel.checkpoint import ShardedCheckpoint

    shapes = param_shapes(config)
    plan = plan_for(config)
    state = SimpleNamespace(runtime=SimpleNamespace(mesh=mesh, rank=0), plan=plan, mesh=mesh, full_shapes=shapes,
                            placements=plan.resolve(shapes, vocab_emb_dp=False))
    return ShardedCheckpoint(None, state), shapes, state


def test_layout_json_and_strategy_file_give_mf_ckpt_the_same_layout_with_optimizer_states(tmp_path):
    import json

    from mf_ckpt.strategy import load_layout
    from mf_parallel.strategy_file import strategy_bytes

    config = MixtralConfig(num_layers=1, hidden_size=64, num_heads=4, n_kv_heads=2, intermediate_size=32,
                           vocab_size=128)
    mesh = Mesh(dp=2, mp=2, ep=2)
    ckpt, shapes, state = fake_checkpoint(config, mesh)
    local = {n: state.placements[n].local_shape(s, mesh) for n, s in shapes.items()}
    local.update({f"adam_m.{n}": s for n, s in local.items()})
    local["global_step"] = (1,)
    data = ckpt.layout_json(local)
    (tmp_path / "layout.json").write_text(json.dumps(data))
    (tmp_path / "strategy.ckpt").write_bytes(strategy_bytes(data))
    ours, theirs = load_layout(tmp_path / "layout.json"), load_layout(tmp_path / "strategy.ckpt")
    assert ours.params == theirs.params and ours.world_size == 4
    w1 = "model.layers.0.feed_forward.ffn.w1.weight"
    assert ours.params[w1].dev_matrix == (1, 2, 2) and ours.params[w1].tensor_map == (1, 0, -1)
    assert ours.params[f"adam_m.{w1}"] == ours.params[w1]
    full = shapes[w1]
    boxes = {ours.box(w1, full, r) for r in range(4)}
    assert len(boxes) == 4  # experts over ep, each expert's rows over mp: four distinct blocks
    assert ours.box("global_step", (1,), 3) == ((0, 1),)


def test_mindspore_merges_shards_with_our_strategy_file(tmp_path):
    """mindspore.transform_checkpoints (the oracle) reads our strategy file and rebuilds the full checkpoint."""
    import mindspore as ms

    from mf_ckpt.resharding import reshard
    from mf_ckpt.strategy import load_layout
    from mf_parallel.strategy_file import strategy_bytes

    config = LlamaConfig(num_layers=1, hidden_size=32, num_heads=4, n_kv_heads=2, intermediate_size=64,
                         vocab_size=64)
    mesh = Mesh(dp=1, mp=2)
    ckpt, shapes, state = fake_checkpoint(config, mesh)
    rng = np.random.default_rng(0)
    arrays = {n: rng.standard_normal(s).astype(np.float32) for n, s in shapes.items()}
    (tmp_path / "full").mkdir()
    ms.save_checkpoint([{"name": n, "data": ms.Tensor(a)} for n, a in arrays.items()], str(tmp_path / "full/w.ckpt"))
    data = ckpt.layout_json({n: state.placements[n].local_shape(s, mesh) for n, s in shapes.items()})
    (tmp_path / "strategy.ckpt").write_bytes(strategy_bytes(data))
    reshard(tmp_path / "full" / "w.ckpt", tmp_path / "shards", dst_layout=load_layout(tmp_path / "strategy.ckpt"),
            fmt="ckpt")
    ms.transform_checkpoints(str(tmp_path / "shards"), str(tmp_path / "merged"), "merged_",
                             str(tmp_path / "strategy.ckpt"), None)
    merged = ms.load_checkpoint(str(next((tmp_path / "merged" / "rank_0").glob("*.ckpt"))))
    for name, value in arrays.items():
        np.testing.assert_array_equal(merged[name].asnumpy(), value, err_msg=name)



def test_every_family_finds_its_plan_as_its_tp_plan_part_and_an_unplanned_one_is_refused():
    """The plans are the families' parts (entry points): Qwen2 (q/k/v biases split with their weights) and Mistral
    get Llama's; a family without a plan is refused naming the key."""
    from mf_config import preset
    from mf_config.spec import families, register_part
    from mf_parallel.plans import BLOOM, GPT2, LLAMA

    expected = {"llama": LLAMA, "mistral": LLAMA, "mixtral": LLAMA, "qwen2": LLAMA, "gpt2": GPT2, "bloom": BLOOM}
    assert {spec.name: spec.part("tp_plan") for spec in families() if spec.name in expected} == expected
    qwen2 = preset("qwen2", "tiny")
    placements = plan_for(qwen2).resolve(param_shapes(qwen2))
    assert placements["model.layers.0.attention.wq.bias"].dims == ((0, "mp"),)
    register_part("gpt2", "tp_plan", None)
    try:
        with pytest.raises(MFError, match="model.model_config.type: no tensor-parallel plan for family 'gpt2'; "
                                          "families with one: bloom, llama, mistral, mixtral, qwen2"):
            plan_for(GPT2Config())
    finally:
        register_part("gpt2", "tp_plan", GPT2)
