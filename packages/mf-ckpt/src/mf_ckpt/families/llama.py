"""Llama 2/3, Mistral and Mixtral, as MindFormers' convert_weight.py maps them (HF layouts kept as they are:
HF's q/k rows are already in the rotate-half order our RoPE uses; Mixtral's experts stacked per layer)."""

import re

from mf_ckpt.rules import Rename, Stack

_ATTENTION = [("attention.wq", "self_attn.q_proj"), ("attention.wk", "self_attn.k_proj"),
              ("attention.wv", "self_attn.v_proj"), ("attention.wo", "self_attn.o_proj")]
_FFN = [("w1", "gate_proj"), ("w2", "down_proj"), ("w3", "up_proj")]
# buffers old HF files carry, which hold no weights
_BUFFERS = re.compile(r".*\.rotary_emb\.inv_freq$")


def rules(config):
    h, v, d = config.hidden_size, config.vocab_size, config.head_dim
    q, kv, f = config.num_heads * d, config.kv_heads * d, config.ffn_hidden_size
    out = [Rename("model.tok_embeddings.embedding_weight", "model.embed_tokens.weight", (v, h))]
    for i in range(config.num_layers):
        ours, hf = f"model.layers.{i}.", f"model.layers.{i}."
        shapes = {"attention.wq": (q, h), "attention.wk": (kv, h), "attention.wv": (kv, h), "attention.wo": (h, q)}
        for name, hf_name in _ATTENTION:
            out.append(Rename(f"{ours}{name}.weight", f"{hf}{hf_name}.weight", shapes[name]))
            if config.qkv_has_bias and name != "attention.wo":
                out.append(Rename(f"{ours}{name}.bias", f"{hf}{hf_name}.bias", shapes[name][:1]))
        out.append(Rename(f"{ours}attention_norm.weight", f"{hf}input_layernorm.weight", (h,)))
        out.append(Rename(f"{ours}ffn_norm.weight", f"{hf}post_attention_layernorm.weight", (h,)))
        if config.is_moe:
            e = config.moe_config.expert_num
            moe = f"{hf}block_sparse_moe."
            out.append(Rename(f"{ours}feed_forward.router.dense.weight", f"{moe}gate.weight", (e, h)))
            for w, shape in (("w1", (f, h)), ("w2", (h, f)), ("w3", (f, h))):
                out.append(Stack(f"{ours}feed_forward.ffn.{w}.weight",
                                 [f"{moe}experts.{x}.{w}.weight" for x in range(e)], (e, *shape)))
        else:
            shapes = {"w1": (f, h), "w2": (h, f), "w3": (f, h)}
            for name, hf_name in _FFN:
                out.append(Rename(f"{ours}feed_forward.{name}.weight", f"{hf}mlp.{hf_name}.weight", shapes[name]))
    out.append(Rename("model.norm_out.weight", "model.norm.weight", (h,)))
    if not config.tie_word_embeddings:
        out.append(Rename("lm_head.weight", "lm_head.weight", (v, h)))
    return out


def ignorable(name, config):
    """HF tensors that carry nothing to convert: RoPE buffers, a tied head saved anyway."""
    return bool(_BUFFERS.match(name)) or (config.tie_word_embeddings and name == "lm_head.weight")
