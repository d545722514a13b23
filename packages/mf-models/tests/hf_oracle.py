"""Tiny `transformers` models of each family and their weights renamed to ours (as MindFormers' converters do)."""

import mindspore as ms
import numpy as np
import torch
import transformers


def hf_model(family, config):
    """A random tiny HF model matching our ``config`` (float32, eval mode)."""
    c = config
    common = dict(vocab_size=c.vocab_size, bos_token_id=c.bos_token_id, eos_token_id=c.eos_token_id,
                  pad_token_id=c.pad_token_id)
    if family in ("llama", "mixtral"):
        kw = dict(hidden_size=c.hidden_size, intermediate_size=c.ffn_hidden_size, num_hidden_layers=c.num_layers,
                  num_attention_heads=c.num_heads, num_key_value_heads=c.kv_heads, rms_norm_eps=c.rms_norm_eps,
                  rope_theta=c.theta, max_position_embeddings=c.seq_length, tie_word_embeddings=False, **common)
        if c.extend_method == "PI":
            kw["rope_scaling"] = {"rope_type": "linear", "factor": c.scaling_factor}
        if c.extend_method == "NTK":  # MindFormers' NTK is a change of base
            kw["rope_theta"] = c.theta * c.scaling_factor ** (c.head_dim / (c.head_dim - 2))
        if family == "mixtral":
            cfg = transformers.MixtralConfig(num_local_experts=c.moe_config.expert_num,
                                             num_experts_per_tok=c.moe_config.num_experts_chosen, **kw)
            model = transformers.MixtralForCausalLM(cfg)
        else:
            model = transformers.LlamaForCausalLM(transformers.LlamaConfig(**kw))
    elif family == "gpt2":
        cfg = transformers.GPT2Config(n_embd=c.hidden_size, n_layer=c.num_layers, n_head=c.num_heads,
                                      n_positions=c.seq_length, layer_norm_epsilon=c.layernorm_epsilon, **common)
        model = transformers.GPT2LMHeadModel(cfg)
    else:
        cfg = transformers.BloomConfig(hidden_size=c.hidden_size, n_layer=c.num_layers, n_head=c.num_heads,
                                       layer_norm_epsilon=c.layernorm_epsilon, **common)
        model = transformers.BloomForCausalLM(cfg)
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.2)
    return model.eval()


LLAMA = [("embed_tokens.weight", "tok_embeddings.embedding_weight"), ("self_attn.q_proj", "attention.wq"),
         ("self_attn.k_proj", "attention.wk"), ("self_attn.v_proj", "attention.wv"),
         ("self_attn.o_proj", "attention.wo"), ("mlp.gate_proj", "feed_forward.w1"), ("mlp.up_proj", "feed_forward.w3"),
         ("mlp.down_proj", "feed_forward.w2"), ("input_layernorm", "attention_norm"),
         ("post_attention_layernorm", "ffn_norm"), ("model.norm.", "model.norm_out.")]
GPT2 = [("backbone.wte.weight", "backbone.embedding.word_embedding.embedding_table"),
        ("backbone.wpe.weight", "backbone.embedding.position_embedding.embedding_table"), (".h.", ".blocks."),
        ("ln_1.weight", "layernorm1.gamma"), ("ln_1.bias", "layernorm1.beta"), ("ln_2.weight", "layernorm2.gamma"),
        ("ln_2.bias", "layernorm2.beta"), ("ln_f.weight", "layernorm.gamma"), ("ln_f.bias", "layernorm.beta"),
        ("attn.c_proj", "attention.projection"), ("mlp.c_fc", "output.mapping"), ("mlp.c_proj", "output.projection")]
BLOOM = [("word_embeddings.weight", "embedding.word_embedding.embedding_table"),
         ("word_embeddings_layernorm.weight", "embedding.norm.gamma"),
         ("word_embeddings_layernorm.bias", "embedding.norm.beta"), (".h.", ".blocks."),
         ("input_layernorm.weight", "layernorm1.gamma"), ("input_layernorm.bias", "layernorm1.beta"),
         ("post_attention_layernorm.weight", "layernorm2.gamma"), ("post_attention_layernorm.bias", "layernorm2.beta"),
         ("ln_f.weight", "ln_f.gamma"), ("ln_f.bias", "ln_f.beta"), ("self_attention.dense", "attention.projection"),
         ("mlp.dense_h_to_4h", "output.mapping"), ("mlp.dense_4h_to_h", "output.projection")]


def _rename(name, table):
    for old, new in table:
        name = name.replace(old, new)
    return name


def _llama(sd, family, config):
    out = {}
    f = config.ffn_hidden_size
    for name, v in sd.items():
        n = _rename(name, LLAMA)
        if ".mlp.gate." in n:
            out[n.replace("mlp.gate", "feed_forward.router.dense")] = v
        elif n.endswith("mlp.experts.gate_up_proj"):
            out[n.replace("mlp.experts.gate_up_proj", "feed_forward.ffn.w1.weight")] = v[:, :f]
            out[n.replace("mlp.experts.gate_up_proj", "feed_forward.ffn.w3.weight")] = v[:, f:]
        elif n.endswith("mlp.experts.down_proj"):
            out[n.replace("mlp.experts.down_proj", "feed_forward.ffn.w2.weight")] = v
        else:
            out[n] = v
    return out


def _gpt2(sd, config):
    out = {}
    for name, v in sd.items():
        n = name.replace("transformer.", "backbone.", 1)
        if n.endswith("attn.bias") and v.ndim > 1 or "masked_bias" in n or n.startswith("lm_head"):
            continue
        n = _rename(n, GPT2)
        if "attn.c_attn" in n:
            for i, part in enumerate(np.split(v, 3, axis=-1)):
                target = n.replace("attn.c_attn", f"attention.dense{i + 1}")
                out[target] = part.T if v.ndim == 2 else part
        else:
            out[n] = v
    return out


def _bloom(sd, config):
    h, nh = config.hidden_size, config.num_heads
    out = {}
    for name, v in sd.items():
        if name.startswith("lm_head"):
            continue
        n = _rename(name, BLOOM)
        if "query_key_value" in n:
            parts = v.reshape(nh, 3, h // nh, *v.shape[1:])
            for i in range(3):
                out[n.replace("self_attention.query_key_value", f"attention.dense{i + 1}")] = \
                    parts[:, i].reshape(h, *v.shape[1:])
        elif ("projection" in n or "mapping" in n) and n.endswith("weight"):
            out[n] = v.T
        else:
            out[n] = v
    return out


def ours_from_hf(family, hf, config):
    """HF state dict -> {our parameter name: numpy array}."""
    sd = {k: v.detach().numpy().copy() for k, v in hf.state_dict().items()}
    if family in ("llama", "mixtral"):
        return _llama(sd, family, config)
    return _gpt2(sd, config) if family == "gpt2" else _bloom(sd, config)


def load_numpy(model, weights):
    """Set every parameter of ``model`` from ``weights`` (names must match exactly)."""
    params = {p.name: p for p in model.get_parameters()}
    assert set(params) == set(weights), (set(params) ^ set(weights))
    for name, value in weights.items():
        params[name].set_data(ms.Tensor(np.ascontiguousarray(value, dtype=np.float32)))
