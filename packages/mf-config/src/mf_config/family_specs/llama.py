"""Llama 2/3, Mistral and Mixtral: one network (MindFormers' ``LlamaForCausalLM``), three Hugging Face model types.

Weights as MindFormers' convert_weight.py maps them (HF layouts kept as they are: HF's q/k rows are already in
the rotate-half order our RoPE uses; Mixtral's experts stacked per layer into ``feed_forward.ffn.w1/w2/w3``).
"""

import re

from mf_config.errors import ConfigError
from mf_config.family_specs._shared import COMMON_KEYS, TINY
from mf_config.model_configs import LLAMA3_KEYS, LlamaConfig, MixtralConfig, MoEConfig
from mf_config.rules import Rename, Stack
from mf_config.spec import FamilySpec, register_family

LLAMA_KEYS = (*COMMON_KEYS, ("hidden_size", "hidden_size"), ("intermediate_size", "intermediate_size"),
              ("num_hidden_layers", "num_layers"), ("num_attention_heads", "num_heads"),
              ("num_key_value_heads", "n_kv_heads"), ("max_position_embeddings", "seq_length"),
              ("rms_norm_eps", "rms_norm_eps"), ("rope_theta", "theta"))
MOE_KEYS = (("num_local_experts", "expert_num"), ("num_experts_per_tok", "num_experts_chosen"),
            ("router_aux_loss_coef", "aux_loss_factor"))

_ATTENTION = (("attention.wq", "self_attn.q_proj"), ("attention.wk", "self_attn.k_proj"),
              ("attention.wv", "self_attn.v_proj"), ("attention.wo", "self_attn.o_proj"))
_FFN = (("w1", "gate_proj"), ("w2", "down_proj"), ("w3", "up_proj"))
_BUFFERS = re.compile(r".*\.rotary_emb\.inv_freq$")  # buffers old HF files carry, which hold no weights


def _attention(i, config):
    h, d = config.hidden_size, config.head_dim
    q, kv = config.num_heads * d, config.kv_heads * d
    shapes = {"attention.wq": (q, h), "attention.wk": (kv, h), "attention.wv": (kv, h), "attention.wo": (h, q)}
    out = []
    for name, hf_name in _ATTENTION:
        ours, hf = f"model.layers.{i}.{name}", f"model.layers.{i}.{hf_name}"
        out.append(Rename(f"{ours}.weight", f"{hf}.weight", shapes[name]))
        if config.qkv_has_bias and name != "attention.wo":
            out.append(Rename(f"{ours}.bias", f"{hf}.bias", shapes[name][:1]))
    return out


def _feed_forward(i, config):
    h, f = config.hidden_size, config.ffn_hidden_size
    ours, hf = f"model.layers.{i}.feed_forward", f"model.layers.{i}."
    shapes = {"w1": (f, h), "w2": (h, f), "w3": (f, h)}
    if not config.is_moe:
        return [Rename(f"{ours}.{w}.weight", f"{hf}mlp.{hf_name}.weight", shapes[w]) for w, hf_name in _FFN]
    e, moe = config.moe_config.expert_num, f"{hf}block_sparse_moe."
    out = [Rename(f"{ours}.router.dense.weight", f"{moe}gate.weight", (e, h))]
    for w in ("w1", "w2", "w3"):
        out.append(Stack(f"{ours}.ffn.{w}.weight", tuple(f"{moe}experts.{x}.{w}.weight" for x in range(e)),
                         (e, *shapes[w])))
    return out


def weight_rules(config):
    """``model.tok_embeddings``, per layer ``attention``/norms/``feed_forward`` (or router and stacked experts),
    ``model.norm_out`` and ``lm_head`` (absent when tied)."""
    h, v = config.hidden_size, config.vocab_size
    out = [Rename("model.tok_embeddings.embedding_weight", "model.embed_tokens.weight", (v, h))]
    for i in range(config.num_layers):
        out += _attention(i, config)
        out.append(Rename(f"model.layers.{i}.attention_norm.weight", f"model.layers.{i}.input_layernorm.weight", (h,)))
        out.append(Rename(f"model.layers.{i}.ffn_norm.weight", f"model.layers.{i}.post_attention_layernorm.weight",
                          (h,)))
        out += _feed_forward(i, config)
    out.append(Rename("model.norm_out.weight", "model.norm.weight", (h,)))
    if not config.tie_word_embeddings:
        out.append(Rename("lm_head.weight", "lm_head.weight", (v, h)))
    return out


def hf_ignorable(name, config):
    """RoPE buffers, and a tied head saved anyway."""
    return bool(_BUFFERS.match(name)) or (config.tie_word_embeddings and name == "lm_head.weight")


def read_rope(hf, kwargs):
    """HF's head_dim (refused unless hidden/heads), max_position_embeddings, and rope_theta/rope_scaling
    (transformers 4) or rope_parameters (transformers 5) -> theta, extend_method, scaling_factor."""
    head_dim = hf.get("head_dim")
    if head_dim is not None and head_dim * hf.get("num_attention_heads", 32) != hf.get("hidden_size", 4096):
        raise ConfigError(f"head_dim {head_dim} != hidden_size / num_attention_heads is not supported",
                          key="head_dim")
    if "max_position_embeddings" in hf:
        kwargs["max_position_embedding"] = hf["max_position_embeddings"]
    params = hf.get("rope_parameters") or {}
    scaling = params or hf.get("rope_scaling") or {}
    if "rope_theta" in params:
        kwargs["theta"] = params["rope_theta"]
    kind = scaling.get("rope_type", scaling.get("type", "default"))
    if kind in ("linear", "dynamic"):
        kwargs["extend_method"] = "PI" if kind == "linear" else "NTK"
        kwargs["scaling_factor"] = scaling["factor"]
    elif kind == "llama3":
        kwargs["extend_method"] = "LLAMA3"
        kwargs["scaling_factor"] = {key: scaling.get(key) for key in LLAMA3_KEYS}
    elif kind != "default":
        raise ConfigError(f"rope type {kind!r} is not supported (supported: default, linear, dynamic, llama3)",
                          key="rope_scaling")
    return set()


def write_rope(config, hf, head_dim=True):
    """The Llama keys HF derives: intermediate and kv sizes, positions, activation, head_dim, RoPE."""
    hf["intermediate_size"] = config.ffn_hidden_size
    hf["num_key_value_heads"] = config.kv_heads
    hf["max_position_embeddings"] = config.max_position_embedding or config.seq_length
    hf["hidden_act"] = "silu"
    if head_dim:
        hf["head_dim"] = config.head_dim
    rope = {"rope_theta": config.theta, "rope_type": "default"}
    if config.extend_method != "None":
        kind = {"PI": "linear", "NTK": "dynamic", "LLAMA3": "llama3"}[config.extend_method]
        factors = dict(config.scaling_factor) if kind == "llama3" else {"factor": config.scaling_factor}
        hf["rope_scaling"] = {"rope_type": kind, **factors}  # transformers 4 reads this, transformers 5 the next
        rope.update(rope_type=kind, **factors)
    hf["rope_parameters"] = rope


def _read_mixtral(hf, kwargs):
    read_rope(hf, kwargs)
    kwargs["moe_config"] = MoEConfig(**{ours: hf[theirs] for theirs, ours in MOE_KEYS if theirs in hf})
    return {theirs for theirs, _ in MOE_KEYS}


def _write_mixtral(config, hf):
    write_rope(config, hf, head_dim=False)
    hf.update({theirs: getattr(config.moe_config, ours) for theirs, ours in MOE_KEYS})


def is_dense_llama(config):
    return isinstance(config, LlamaConfig) and not config.is_moe


LLAMA = register_family(FamilySpec(
    name="llama", config_class=LlamaConfig, hf_model_type="llama", hf_architectures=("LlamaForCausalLM",),
    mf_config_type="LlamaConfig", mf_arch_type="LlamaForCausalLM", weight_rules=weight_rules,
    accepts=is_dense_llama,
    hf_keys=(*LLAMA_KEYS, ("attention_bias", "qkv_has_bias")), hf_read=read_rope, hf_write=write_rope,
    hf_ignorable=hf_ignorable,
    presets={
        "tiny": {**TINY, "n_kv_heads": 2, "intermediate_size": 64},
        "llama2-7b": dict(seq_length=4096, vocab_size=32000, rms_norm_eps=1e-5),
        "llama2-13b": dict(seq_length=4096, hidden_size=5120, num_layers=40, num_heads=40, vocab_size=32000),
        "llama2-70b": dict(seq_length=4096, hidden_size=8192, num_layers=80, num_heads=64, n_kv_heads=8,
                           ffn_dim_multiplier=1.3, multiple_of=256, vocab_size=32000),
        "llama3-8b": dict(seq_length=8192, n_kv_heads=8, vocab_size=128256, intermediate_size=14336,
                          theta=500000.0, bos_token_id=128000, eos_token_id=128001, pad_token_id=128002),
        "llama3-70b": dict(seq_length=8192, hidden_size=8192, num_layers=80, num_heads=64, n_kv_heads=8,
                           vocab_size=128256, intermediate_size=28672, theta=500000.0, bos_token_id=128000,
                           eos_token_id=128001, pad_token_id=128002),
    }))

MISTRAL = register_family(FamilySpec(
    name="mistral", config_class=LlamaConfig, hf_model_type="mistral", hf_architectures=("MistralForCausalLM",),
    mf_config_type="LlamaConfig", mf_arch_type="LlamaForCausalLM", weight_rules=weight_rules,
    accepts=is_dense_llama, claims=lambda c: False, hf_keys=LLAMA_KEYS, hf_read=read_rope, hf_write=write_rope,
    hf_ignorable=hf_ignorable,
    presets={
        "tiny": {**TINY, "n_kv_heads": 2, "intermediate_size": 64, "hf_model_type": "mistral"},
        "mistral-7b": dict(seq_length=32768, n_kv_heads=8, intermediate_size=14336, vocab_size=32000,
                           hf_model_type="mistral"),
    }))

MIXTRAL = register_family(FamilySpec(
    name="mixtral", config_class=MixtralConfig, hf_model_type="mixtral", hf_architectures=("MixtralForCausalLM",),
    mf_config_type="LlamaConfig", mf_arch_type="LlamaForCausalLM", weight_rules=weight_rules,
    accepts=lambda c: isinstance(c, LlamaConfig) and c.is_moe, hf_keys=LLAMA_KEYS, hf_read=_read_mixtral,
    hf_write=_write_mixtral, hf_ignorable=hf_ignorable,
    presets={
        "tiny": {**TINY, "n_kv_heads": 2, "intermediate_size": 48, "theta": 10000.0,
                 "moe_config": dict(expert_num=4, num_experts_chosen=2, capacity_factor=1.1, aux_loss_factor=0.05)},
        "mixtral-8x7b": dict(vocab_size=32000, rms_norm_eps=1e-5,
                             moe_config=dict(expert_num=8, num_experts_chosen=2)),
    }))
