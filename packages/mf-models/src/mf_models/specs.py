"""Parameter names and shapes of each family, from the config alone (no mindspore, nothing allocated).

``param_shapes(config)`` equals ``{p.name: p.shape for p in model.get_parameters()}`` of the network built from
the same config (a test checks it), so tools (``mf-models params``, mf-ckpt's converters) can rely on it.

Layouts (MindFormers'): Linear weights are (out, in), except GPT-2/Bloom ``attention.projection`` and
``output.mapping``/``output.projection``, stored (in, out); Mixtral experts are stacked (expert_num, out, in).
"""

from mf_config import BloomConfig, GPT2Config, LlamaConfig

ARCHITECTURES = {"LlamaConfig": "LlamaForCausalLM", "MixtralConfig": "LlamaForCausalLM",
                 "GPT2Config": "GPT2LMHeadModel", "BloomConfig": "BloomLMHeadModel"}


def llama_shapes(c):
    h, d, kv, f, e = c.hidden_size, c.head_dim, c.kv_heads, c.ffn_hidden_size, c.moe_config.expert_num
    out = {"model.tok_embeddings.embedding_weight": (c.vocab_size, h)}
    for i in range(c.num_layers):
        p = f"model.layers.{i}."
        out[p + "attention_norm.weight"] = (h,)
        for name, rows in (("wq", c.num_heads * d), ("wk", kv * d), ("wv", kv * d)):
            out[p + f"attention.{name}.weight"] = (rows, h)
            if c.qkv_has_bias:
                out[p + f"attention.{name}.bias"] = (rows,)
        out[p + "attention.wo.weight"] = (h, c.num_heads * d)
        out[p + "ffn_norm.weight"] = (h,)
        if c.is_moe:
            out[p + "feed_forward.router.dense.weight"] = (e, h)
            out[p + "feed_forward.ffn.w1.weight"] = (e, f, h)
            out[p + "feed_forward.ffn.w2.weight"] = (e, h, f)
            out[p + "feed_forward.ffn.w3.weight"] = (e, f, h)
        else:
            out[p + "feed_forward.w1.weight"] = (f, h)
            out[p + "feed_forward.w3.weight"] = (f, h)
            out[p + "feed_forward.w2.weight"] = (h, f)
    out["model.norm_out.weight"] = (h,)
    if not c.tie_word_embeddings:
        out["lm_head.weight"] = (c.vocab_size, h)
    return out


def _blocks(prefix, c):
    h, f = c.hidden_size, c.ffn_hidden_size
    out = {}
    for i in range(c.num_layers):
        p = f"{prefix}.blocks.{i}."
        out[p + "layernorm1.gamma"] = out[p + "layernorm1.beta"] = (h,)
        for name in ("dense1", "dense2", "dense3"):
            out[p + f"attention.{name}.weight"], out[p + f"attention.{name}.bias"] = (h, h), (h,)
        out[p + "attention.projection.weight"], out[p + "attention.projection.bias"] = (h, h), (h,)
        out[p + "layernorm2.gamma"] = out[p + "layernorm2.beta"] = (h,)
        out[p + "output.mapping.weight"], out[p + "output.mapping.bias"] = (h, f), (f,)
        out[p + "output.projection.weight"], out[p + "output.projection.bias"] = (f, h), (h,)
    return out


def gpt2_shapes(c):
    h = c.hidden_size
    return {"backbone.embedding.word_embedding.embedding_table": (c.vocab_size, h),
            "backbone.embedding.position_embedding.embedding_table": (c.seq_length, h),
            **_blocks("backbone", c),
            "backbone.layernorm.gamma": (h,), "backbone.layernorm.beta": (h,)}


def bloom_shapes(c):
    h = c.hidden_size
    return {"transformer.embedding.word_embedding.embedding_table": (c.vocab_size, h),
            "transformer.embedding.norm.gamma": (h,), "transformer.embedding.norm.beta": (h,),
            **_blocks("transformer", c),
            "transformer.ln_f.gamma": (h,), "transformer.ln_f.beta": (h,)}


def param_shapes(config):
    """{parameter name: shape} of the network for ``config`` (Llama/Mistral/Mixtral, GPT-2, Bloom)."""
    if isinstance(config, LlamaConfig):
        return llama_shapes(config)
    if isinstance(config, GPT2Config):
        return gpt2_shapes(config)
    if isinstance(config, BloomConfig):
        return bloom_shapes(config)
    raise TypeError(f"no network for {type(config).__name__}")


_COMPONENTS = (("embedding", ("embedding",)), ("attention", ("attention.",)), ("router", ("router.",)),
               ("experts", ("feed_forward.ffn.",)), ("mlp", ("feed_forward.", "output.")),
               ("norms", ("norm", "layernorm", "ln_f")), ("lm_head", ("lm_head",)))


def component_of(name):
    """The component a parameter belongs to: embedding, attention, router, experts, mlp, norms or lm_head."""
    for component, keys in _COMPONENTS:
        if any(k in name for k in keys):
            return component
    raise ValueError(f"no component for {name}")


def count(config):
    """{component: number of parameters} plus ``total``, computed from shapes only."""
    counts = {}
    for name, shape in param_shapes(config).items():
        size = 1
        for n in shape:
            size *= n
        key = component_of(name)
        counts[key] = counts.get(key, 0) + size
    counts["total"] = sum(counts.values())
    return counts
