"""Hugging Face ``config.json`` <-> our model configs (Llama/Mistral, Mixtral, GPT-2, Bloom).

``from_hf_dict(d)`` picks the class from ``model_type``; ``to_hf_dict(config)`` writes what
``transformers`` reads. Keys of the HF file that have no counterpart are kept as extra keys of
our config (prefixed ``hf_``), so a round trip keeps them too.
"""

from mf_config.errors import ConfigError
from mf_config.model_configs import BloomConfig, GPT2Config, LlamaConfig, MixtralConfig, MoEConfig

# (hf key, our key) pairs shared by the families that use them
_COMMON = [("vocab_size", "vocab_size"), ("bos_token_id", "bos_token_id"), ("eos_token_id", "eos_token_id"),
           ("pad_token_id", "pad_token_id"), ("initializer_range", "initializer_range"),
           ("tie_word_embeddings", "tie_word_embeddings")]
_LLAMA = [*_COMMON, ("hidden_size", "hidden_size"), ("intermediate_size", "intermediate_size"),
          ("num_hidden_layers", "num_layers"), ("num_attention_heads", "num_heads"),
          ("num_key_value_heads", "n_kv_heads"), ("max_position_embeddings", "seq_length"),
          ("rms_norm_eps", "rms_norm_eps"), ("rope_theta", "theta"), ("attention_bias", "qkv_has_bias")]
_LLAMA_NO_BIAS = [pair for pair in _LLAMA if pair[0] != "attention_bias"]
_GPT2 = [*_COMMON, ("n_embd", "hidden_size"), ("n_layer", "num_layers"), ("n_head", "num_heads"),
         ("n_positions", "seq_length"), ("resid_pdrop", "hidden_dropout_rate"),
         ("attn_pdrop", "attention_dropout_rate"), ("embd_pdrop", "embedding_dropout_prob"),
         ("layer_norm_epsilon", "layernorm_epsilon")]
_BLOOM = [*_COMMON, ("hidden_size", "hidden_size"), ("n_layer", "num_layers"), ("n_head", "num_heads"),
          ("hidden_dropout", "hidden_dropout_rate"), ("attention_dropout", "attention_dropout_rate"),
          ("layer_norm_epsilon", "layernorm_epsilon")]
_MOE = [("num_local_experts", "expert_num"), ("num_experts_per_tok", "num_experts_chosen"),
        ("router_aux_loss_coef", "aux_loss_factor")]

_FAMILIES = {
    "llama": (LlamaConfig, _LLAMA, "LlamaForCausalLM"),
    "mistral": (LlamaConfig, _LLAMA_NO_BIAS, "MistralForCausalLM"),
    "mixtral": (MixtralConfig, _LLAMA_NO_BIAS, "MixtralForCausalLM"),
    "gpt2": (GPT2Config, _GPT2, "GPT2LMHeadModel"),
    "bloom": (BloomConfig, _BLOOM, "BloomForCausalLM"),
}
_DTYPES = {"float32": "float32", "float16": "float16", "bfloat16": "bfloat16"}
# HF keys our side derives or never needs, dropped on the way in
_DERIVED = {"model_type", "transformers_version", "architectures", "torch_dtype", "dtype", "rope_scaling",
            "head_dim", "hidden_act", "activation_function", "n_inner", "n_ctx", "n_embed", "num_attention_heads",
            "num_hidden_layers", "use_cache", "max_position_embeddings", "rope_parameters"}
_EXTRA_PREFIX = "hf_"


def model_type_of(config):
    """The HF ``model_type`` of one of our configs."""
    if isinstance(config, LlamaConfig) and config.is_moe:
        return "mixtral"
    if isinstance(config, LlamaConfig):
        return getattr(config, f"{_EXTRA_PREFIX}model_type", "llama")
    return config.model_type


def from_hf_dict(hf):
    """Our config for a Hugging Face ``config.json`` dict."""
    model_type = hf.get("model_type")
    if model_type not in _FAMILIES:
        raise ConfigError(f"unsupported model_type {model_type!r}; supported: {', '.join(_FAMILIES)}",
                          key="model_type")
    cls, pairs, _ = _FAMILIES[model_type]
    hf = dict(hf)
    if model_type == "bloom" and "n_embed" in hf:
        hf.setdefault("hidden_size", hf["n_embed"])
    kwargs = {ours: hf[theirs] for theirs, ours in pairs if theirs in hf}
    used = {theirs for theirs, _ in pairs}
    if cls in (LlamaConfig, MixtralConfig):
        head_dim = hf.get("head_dim")
        if head_dim is not None and head_dim * hf.get("num_attention_heads", 32) != hf.get("hidden_size", 4096):
            raise ConfigError(f"head_dim {head_dim} != hidden_size / num_attention_heads is not supported",
                              key="head_dim")
        if "max_position_embeddings" in hf:
            kwargs["max_position_embedding"] = hf["max_position_embeddings"]
        _rope_from_hf(hf, kwargs)
        if model_type == "mistral":
            kwargs[f"{_EXTRA_PREFIX}model_type"] = "mistral"
    if model_type == "gpt2" and hf.get("n_inner"):
        kwargs["expand_ratio"] = hf["n_inner"] // hf.get("n_embd", 768)
    if model_type == "mixtral":
        kwargs["moe_config"] = MoEConfig(**{ours: hf[theirs] for theirs, ours in _MOE if theirs in hf})
        used |= {theirs for theirs, _ in _MOE}
    dtype = hf.get("torch_dtype") or hf.get("dtype") or "float32"
    if dtype in _DTYPES:
        kwargs["compute_dtype"] = kwargs["param_init_type"] = _DTYPES[dtype]
    for key, value in hf.items():
        if key not in used and key not in _DERIVED:
            kwargs[f"{_EXTRA_PREFIX}{key}"] = value
    if model_type == "gpt2" and "tie_word_embeddings" not in kwargs:
        kwargs["tie_word_embeddings"] = True
    return cls(**kwargs)


def _rope_from_hf(hf, kwargs):
    """rope_theta/rope_scaling (transformers 4) or rope_parameters (transformers 5) -> theta, extend_method."""
    params = hf.get("rope_parameters") or {}
    scaling = params or hf.get("rope_scaling") or {}
    if "rope_theta" in params:
        kwargs["theta"] = params["rope_theta"]
    kind = scaling.get("rope_type", scaling.get("type", "default"))
    if kind in ("linear", "dynamic"):
        kwargs["extend_method"] = "PI" if kind == "linear" else "NTK"
        kwargs["scaling_factor"] = scaling["factor"]
    elif kind != "default":
        raise ConfigError(f"rope type {kind!r} is not supported (supported: default, linear, dynamic)",
                          key="rope_scaling")


def to_hf_dict(config):
    """The Hugging Face ``config.json`` dict for one of our configs."""
    model_type = model_type_of(config)
    _, pairs, arch = _FAMILIES[model_type]
    hf = {"architectures": [arch], "model_type": model_type}
    for theirs, ours in pairs:
        value = getattr(config, ours)
        if value is not None:
            hf[theirs] = value
    if model_type in ("llama", "mistral", "mixtral"):
        hf["intermediate_size"] = config.ffn_hidden_size
        hf["num_key_value_heads"] = config.kv_heads
        hf["max_position_embeddings"] = config.max_position_embedding or config.seq_length
        hf["hidden_act"] = "silu"
        if model_type != "mixtral":
            hf["head_dim"] = config.head_dim
        rope = {"rope_theta": config.theta, "rope_type": "default"}
        if config.extend_method != "None":
            kind = "linear" if config.extend_method == "PI" else "dynamic"
            hf["rope_scaling"] = {"rope_type": kind, "factor": config.scaling_factor}
            rope.update(rope_type=kind, factor=config.scaling_factor)
        hf["rope_parameters"] = rope
    if model_type == "mixtral":
        hf.update({theirs: getattr(config.moe_config, ours) for theirs, ours in _MOE})
    if model_type == "gpt2":
        hf["n_inner"] = None if config.expand_ratio == 4 else config.ffn_hidden_size
        hf["activation_function"] = "gelu_new"
    hf["torch_dtype"] = config.param_init_type
    hf["use_cache"] = True
    for key in config.extra_keys():
        if key.startswith(_EXTRA_PREFIX) and key != f"{_EXTRA_PREFIX}model_type":
            hf[key[len(_EXTRA_PREFIX):]] = getattr(config, key)
    return hf
