"""Bloom, as MindFormers' convert_weight.py maps it: ``query_key_value`` ((heads, 3, head_dim) rows)
split per head into ``dense1/2/3``; ``dense``, ``dense_h_to_4h`` and ``dense_4h_to_h`` transposed to the
(in, out) layout of our ``projection``/``mapping``; LayerNorms become ``gamma``/``beta``; the head is tied."""

from mf_ckpt.rules import Fused, Rename

BASE_PREFIX = "transformer."  # what files saved from the base model (no LM head) leave out


def _qkv(ours, hf, n, d, h, kind):
    if kind == "weight":
        def split(w):
            return [w.reshape(n, 3, d, h)[:, j].reshape(n * d, h) for j in range(3)]

        def fuse(parts):
            import numpy as np  # only the reverse conversion builds new arrays

            return np.stack([p.reshape(n, d, h) for p in parts], axis=1).reshape(3 * n * d, h)

        return Fused(ours, hf, [(h, h)] * 3, (3 * h, h), split, fuse)

    def split_bias(b):
        return [b.reshape(n, 3, d)[:, j].reshape(n * d) for j in range(3)]

    def fuse_bias(parts):
        import numpy as np

        return np.stack([p.reshape(n, d) for p in parts], axis=1).reshape(3 * n * d)

    return Fused(ours, hf, [(h,)] * 3, (3 * h,), split_bias, fuse_bias)


def _norm(ours, hf, h):
    return [Rename(f"{ours}.gamma", f"{hf}.weight", (h,)), Rename(f"{ours}.beta", f"{hf}.bias", (h,))]


def rules(config):
    h, v, f, n = config.hidden_size, config.vocab_size, config.ffn_hidden_size, config.num_heads
    out = [Rename("transformer.embedding.word_embedding.embedding_table", "transformer.word_embeddings.weight", (v, h))]
    out += _norm("transformer.embedding.norm", "transformer.word_embeddings_layernorm", h)
    for i in range(config.num_layers):
        ours, hf = f"transformer.blocks.{i}.", f"transformer.h.{i}."
        out += _norm(f"{ours}layernorm1", f"{hf}input_layernorm", h)
        for kind in ("weight", "bias"):
            out.append(_qkv([f"{ours}attention.dense{j}.{kind}" for j in (1, 2, 3)],
                            f"{hf}self_attention.query_key_value.{kind}", n, h // n, h, kind))
        out += [Rename(f"{ours}attention.projection.weight", f"{hf}self_attention.dense.weight", (h, h), True),
                Rename(f"{ours}attention.projection.bias", f"{hf}self_attention.dense.bias", (h,))]
        out += _norm(f"{ours}layernorm2", f"{hf}post_attention_layernorm", h)
        out += [Rename(f"{ours}output.mapping.weight", f"{hf}mlp.dense_h_to_4h.weight", (h, f), True),
                Rename(f"{ours}output.mapping.bias", f"{hf}mlp.dense_h_to_4h.bias", (f,)),
                Rename(f"{ours}output.projection.weight", f"{hf}mlp.dense_4h_to_h.weight", (f, h), True),
                Rename(f"{ours}output.projection.bias", f"{hf}mlp.dense_4h_to_h.bias", (h,))]
    out += _norm("transformer.ln_f", "transformer.ln_f", h)
    return out


def ignorable(name, config):
    """The tied head when a file carries it."""
    return name == "lm_head.weight"
