"""Bloom: ALiBi positions, LayerNorm on the word embedding, fused per-head query-key-value, tied head.

Weights as MindFormers' convert_weight.py maps them: ``query_key_value`` ((heads, 3, head_dim) rows) split
per head into ``dense1/2/3``; ``dense``, ``dense_h_to_4h`` and ``dense_4h_to_h`` transposed to the (in, out)
layout of our ``projection``/``mapping``; LayerNorms become ``gamma``/``beta``; the head is tied.
"""

from mf_config.family_specs._shared import COMMON_KEYS, TINY, norm
from mf_config.model_configs import BloomConfig
from mf_config.rules import Fused, Rename
from mf_config.spec import FamilySpec, register_family

HF_KEYS = (*COMMON_KEYS, ("hidden_size", "hidden_size"), ("n_layer", "num_layers"), ("n_head", "num_heads"),
           ("hidden_dropout", "hidden_dropout_rate"), ("attention_dropout", "attention_dropout_rate"),
           ("layer_norm_epsilon", "layernorm_epsilon"))


def qkv(ours, hf, n, d, h, kind):
    """HF's per-head fused ``query_key_value`` weight (3*h, h) or bias (3*h,) and our ``dense1/2/3``."""
    rest = (h,) if kind == "weight" else ()

    def split(fused):
        return [fused.reshape(n, 3, d, *rest)[:, j].reshape(n * d, *rest) for j in range(3)]

    def fuse(parts):
        import numpy as np  # only the reverse conversion builds new arrays: the forward one takes views

        return np.stack([p.reshape(n, d, *rest) for p in parts], axis=1).reshape(3 * n * d, *rest)

    return Fused(tuple(ours), hf, ((h, *rest),) * 3, (3 * h, *rest), split, fuse)


def weight_rules(config):
    """``transformer.embedding`` (word table and its norm), ``transformer.blocks.N``, ``transformer.ln_f``."""
    h, v, f, n = config.hidden_size, config.vocab_size, config.ffn_hidden_size, config.num_heads
    out = [Rename("transformer.embedding.word_embedding.embedding_table", "transformer.word_embeddings.weight", (v, h))]
    out += norm("transformer.embedding.norm", "transformer.word_embeddings_layernorm", h)
    for i in range(config.num_layers):
        ours, hf = f"transformer.blocks.{i}.", f"transformer.h.{i}."
        out += norm(f"{ours}layernorm1", f"{hf}input_layernorm", h)
        for kind in ("weight", "bias"):
            out.append(qkv([f"{ours}attention.dense{j}.{kind}" for j in (1, 2, 3)],
                           f"{hf}self_attention.query_key_value.{kind}", n, h // n, h, kind))
        out += [Rename(f"{ours}attention.projection.weight", f"{hf}self_attention.dense.weight", (h, h), True),
                Rename(f"{ours}attention.projection.bias", f"{hf}self_attention.dense.bias", (h,))]
        out += norm(f"{ours}layernorm2", f"{hf}post_attention_layernorm", h)
        out += [Rename(f"{ours}output.mapping.weight", f"{hf}mlp.dense_h_to_4h.weight", (h, f), True),
                Rename(f"{ours}output.mapping.bias", f"{hf}mlp.dense_h_to_4h.bias", (f,)),
                Rename(f"{ours}output.projection.weight", f"{hf}mlp.dense_4h_to_h.weight", (f, h), True),
                Rename(f"{ours}output.projection.bias", f"{hf}mlp.dense_4h_to_h.bias", (h,))]
    out += norm("transformer.ln_f", "transformer.ln_f", h)
    return out


def _read(hf, kwargs):
    if "n_embed" in hf:  # the name of bigscience's own files
        kwargs.setdefault("hidden_size", hf["n_embed"])
    return set()


BLOOM = register_family(FamilySpec(
    name="bloom", config_class=BloomConfig, hf_model_type="bloom", hf_architectures=("BloomForCausalLM",),
    mf_config_type="BloomConfig", mf_arch_type="BloomLMHeadModel", weight_rules=weight_rules,
    accepts=lambda c: isinstance(c, BloomConfig), hf_keys=HF_KEYS, hf_read=_read,
    hf_ignorable=lambda name, config: name == "lm_head.weight", hf_base_prefix="transformer.",
    presets={
        "tiny": TINY,
        "bloom-560m": dict(seq_length=2048, hidden_size=1024, num_layers=24, num_heads=16),
        "bloom-1b7": dict(seq_length=2048, hidden_size=2048, num_layers=24, num_heads=16),
        "bloom-7b1": dict(seq_length=2048, hidden_size=4096, num_layers=30, num_heads=32),
    }))
