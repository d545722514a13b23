"""GPT-2: learned positions, pre-LayerNorm blocks, GELU (tanh form), head tied to the word embedding.

Weights as MindFormers' convert_weight.py maps them: ``c_attn`` (Conv1D, (in, 3*out)) split into
``dense1/2/3`` stored (out, in); the other Conv1D weights keep their (in, out) layout, which our
``projection``/``mapping`` layers use; LayerNorms become ``gamma``/``beta``; the head is tied.
"""

import re

from mf_config.family_specs._shared import COMMON_KEYS, TINY, norm
from mf_config.model_configs import GPT2Config
from mf_config.rules import Fused, Rename
from mf_config.spec import FamilySpec, register_family

HF_KEYS = (*COMMON_KEYS, ("n_embd", "hidden_size"), ("n_layer", "num_layers"), ("n_head", "num_heads"),
           ("n_positions", "seq_length"), ("resid_pdrop", "hidden_dropout_rate"),
           ("attn_pdrop", "attention_dropout_rate"), ("embd_pdrop", "embedding_dropout_prob"),
           ("layer_norm_epsilon", "layernorm_epsilon"))
_BUFFERS = re.compile(r".*\.attn\.(bias|masked_bias)$")


def _fuse(parts, transposed=False):
    import numpy as np  # only the reverse conversion builds new arrays: the forward one takes views

    return np.concatenate([p.T for p in parts], axis=1) if transposed else np.concatenate(parts)


def _fuse_transposed(parts):
    return _fuse(parts, transposed=True)


def qkv(ours, hf, h, kind):
    """HF's fused ``c_attn`` weight (in, 3*out) or bias (3*out,) and our (out, in) ``dense1/2/3``."""
    if kind == "weight":
        return Fused(tuple(ours), hf, ((h, h),) * 3, (h, 3 * h),
                     lambda w: [w[:, j * h:(j + 1) * h].T for j in range(3)], _fuse_transposed)
    return Fused(tuple(ours), hf, ((h,),) * 3, (3 * h,), lambda b: [b[j * h:(j + 1) * h] for j in range(3)], _fuse)


def weight_rules(config):
    """``backbone.embedding`` (word and position tables), ``backbone.blocks.N``, ``backbone.layernorm``."""
    h, v, f = config.hidden_size, config.vocab_size, config.ffn_hidden_size
    out = [Rename("backbone.embedding.word_embedding.embedding_table", "transformer.wte.weight", (v, h)),
           Rename("backbone.embedding.position_embedding.embedding_table", "transformer.wpe.weight",
                  (config.seq_length, h))]
    for i in range(config.num_layers):
        ours, hf = f"backbone.blocks.{i}.", f"transformer.h.{i}."
        out += norm(f"{ours}layernorm1", f"{hf}ln_1", h)
        for kind in ("weight", "bias"):
            out.append(qkv([f"{ours}attention.dense{j}.{kind}" for j in (1, 2, 3)], f"{hf}attn.c_attn.{kind}", h,
                           kind))
        out += [Rename(f"{ours}attention.projection.weight", f"{hf}attn.c_proj.weight", (h, h)),
                Rename(f"{ours}attention.projection.bias", f"{hf}attn.c_proj.bias", (h,))]
        out += norm(f"{ours}layernorm2", f"{hf}ln_2", h)
        out += [Rename(f"{ours}output.mapping.weight", f"{hf}mlp.c_fc.weight", (h, f)),
                Rename(f"{ours}output.mapping.bias", f"{hf}mlp.c_fc.bias", (f,)),
                Rename(f"{ours}output.projection.weight", f"{hf}mlp.c_proj.weight", (f, h)),
                Rename(f"{ours}output.projection.bias", f"{hf}mlp.c_proj.bias", (h,))]
    out += norm("backbone.layernorm", "transformer.ln_f", h)
    return out


def hf_ignorable(name, config):
    """The causal-mask buffers of old GPT-2 files and the tied head when a file carries it."""
    return bool(_BUFFERS.match(name)) or name == "lm_head.weight"


def _read(hf, kwargs):
    if hf.get("n_inner"):
        kwargs["expand_ratio"] = hf["n_inner"] // hf.get("n_embd", 768)
    return set()


def _write(config, hf):
    hf["n_inner"] = None if config.expand_ratio == 4 else config.ffn_hidden_size
    hf["activation_function"] = "gelu_new"


GPT2 = register_family(FamilySpec(
    name="gpt2", config_class=GPT2Config, hf_model_type="gpt2", hf_architectures=("GPT2LMHeadModel",),
    mf_config_type="GPT2Config", mf_arch_type="GPT2LMHeadModel", weight_rules=weight_rules,
    accepts=lambda c: isinstance(c, GPT2Config), hf_keys=HF_KEYS, hf_read=_read, hf_write=_write,
    hf_ignorable=hf_ignorable, hf_base_prefix="transformer.",
    presets={
        "tiny": TINY,
        "gpt2": dict(eos_token_id=50256),
        "gpt2-medium": dict(hidden_size=1024, num_layers=24, num_heads=16),
        "gpt2-large": dict(hidden_size=1280, num_layers=36, num_heads=20),
        "gpt2-xl": dict(hidden_size=1600, num_layers=48, num_heads=25),
    }))
