"""Parameter names equal MindFormers' (checkpoints load both ways); mf-ckpt converts HF weights to these."""

import pytest

from mf_config import param_shapes

from .helpers import CONFIGS

LLAMA_LAYER = ["attention_norm.weight", "attention.wq.weight", "attention.wk.weight", "attention.wv.weight",
               "attention.wo.weight", "ffn_norm.weight"]
LLAMA = (["model.tok_embeddings.embedding_weight"]
         + [f"model.layers.{i}.{n}" for i in range(2) for n in LLAMA_LAYER + [
             "feed_forward.w1.weight", "feed_forward.w3.weight", "feed_forward.w2.weight"]]
         + ["model.norm_out.weight", "lm_head.weight"])
MIXTRAL = (["model.tok_embeddings.embedding_weight"]
           + [f"model.layers.{i}.{n}" for i in range(2) for n in LLAMA_LAYER + [
               "feed_forward.router.dense.weight", "feed_forward.ffn.w1.weight", "feed_forward.ffn.w2.weight",
               "feed_forward.ffn.w3.weight"]]
           + ["model.norm_out.weight", "lm_head.weight"])
BLOCK = ["layernorm1.gamma", "layernorm1.beta", "attention.dense1.weight", "attention.dense1.bias",
         "attention.dense2.weight", "attention.dense2.bias", "attention.dense3.weight", "attention.dense3.bias",
         "attention.projection.weight", "attention.projection.bias", "layernorm2.gamma", "layernorm2.beta",
         "output.mapping.weight", "output.mapping.bias", "output.projection.weight", "output.projection.bias"]
GPT2 = (["backbone.embedding.word_embedding.embedding_table",
         "backbone.embedding.position_embedding.embedding_table"]
        + [f"backbone.blocks.{i}.{n}" for i in range(2) for n in BLOCK]
        + ["backbone.layernorm.gamma", "backbone.layernorm.beta"])
BLOOM = (["transformer.embedding.word_embedding.embedding_table", "transformer.embedding.norm.gamma",
          "transformer.embedding.norm.beta"]
         + [f"transformer.blocks.{i}.{n}" for i in range(2) for n in BLOCK]
         + ["transformer.ln_f.gamma", "transformer.ln_f.beta"])
QWEN2 = (["model.tok_embeddings.embedding_weight"]
         + [f"model.layers.{i}.{n}" for i in range(2) for n in [
             "attention_norm.weight", "attention.wq.weight", "attention.wq.bias", "attention.wk.weight",
             "attention.wk.bias", "attention.wv.weight", "attention.wv.bias", "attention.wo.weight", "ffn_norm.weight",
             "feed_forward.w1.weight", "feed_forward.w3.weight", "feed_forward.w2.weight"]]
         + ["model.norm_out.weight", "lm_head.weight"])
NAMES = {"llama": LLAMA, "mixtral": MIXTRAL, "gpt2": GPT2, "bloom": BLOOM, "qwen2": QWEN2}


@pytest.mark.parametrize("family", NAMES)
def test_parameter_names_are_mindformers(family_models, family):
    assert [p.name for p in family_models[family].get_parameters()] == NAMES[family]


@pytest.mark.parametrize("family", NAMES)
def test_specs_equal_the_network(family_models, family):
    model = family_models[family]
    assert {p.name: tuple(p.shape) for p in model.get_parameters()} == param_shapes(CONFIGS[family]())


def test_layouts():
    """Shapes that a converter must honour: (out, in) Linear, (in, out) GPT-2/Bloom projections, stacked experts."""
    llama = param_shapes(CONFIGS["llama"]())
    assert llama["model.layers.0.attention.wk.weight"] == (16, 32)  # 2 kv heads x head_dim 8, hidden 32
    assert llama["model.layers.0.feed_forward.w2.weight"] == (32, 64)
    mixtral = param_shapes(CONFIGS["mixtral"]())
    assert mixtral["model.layers.1.feed_forward.ffn.w1.weight"] == (4, 48, 32)
    assert mixtral["model.layers.1.feed_forward.ffn.w2.weight"] == (4, 32, 48)
    assert mixtral["model.layers.1.feed_forward.router.dense.weight"] == (4, 32)
    gpt2 = param_shapes(CONFIGS["gpt2"]())
    assert gpt2["backbone.blocks.0.output.mapping.weight"] == (32, 128)
    assert gpt2["backbone.blocks.0.output.projection.weight"] == (128, 32)


def test_tied_llama_has_no_lm_head(family_models):
    names = param_shapes(CONFIGS["llama"](tie_word_embeddings=True))
    assert "lm_head.weight" not in names and len(names) == len(LLAMA) - 1
