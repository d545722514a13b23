"""GPT-2, as MindFormers' convert_weight.py maps it: ``c_attn`` (Conv1D, (in, 3*out)) split into
``dense1/2/3`` stored (out, in); the other Conv1D weights keep their (in, out) layout, which our
``projection``/``mapping`` layers use; LayerNorms become ``gamma``/``beta``; the head is tied."""

import re

from mf_ckpt.rules import Fused, Rename

BASE_PREFIX = "transformer."  # what files saved from the base model (no LM head) leave out

_BUFFERS = re.compile(r".*\.attn\.(bias|masked_bias)$")


def _fuse(parts, transposed=False):
    import numpy as np  # only the reverse conversion builds new arrays: the forward one takes views

    return np.concatenate([p.T for p in parts], axis=1) if transposed else np.concatenate(parts)


def _qkv(ours, hf, h, kind):
    if kind == "weight":
        return Fused(ours, hf, [(h, h)] * 3, (h, 3 * h), lambda w: [w[:, j * h:(j + 1) * h].T for j in range(3)],
                     lambda parts: _fuse(parts, transposed=True))
    return Fused(ours, hf, [(h,)] * 3, (3 * h,), lambda b: [b[j * h:(j + 1) * h] for j in range(3)], _fuse)


def _norm(ours, hf, h):
    return [Rename(f"{ours}.gamma", f"{hf}.weight", (h,)), Rename(f"{ours}.beta", f"{hf}.bias", (h,))]


def rules(config):
    h, v, f = config.hidden_size, config.vocab_size, config.ffn_hidden_size
    out = [Rename("backbone.embedding.word_embedding.embedding_table", "transformer.wte.weight", (v, h)),
           Rename("backbone.embedding.position_embedding.embedding_table", "transformer.wpe.weight",
                  (config.seq_length, h))]
    for i in range(config.num_layers):
        ours, hf = f"backbone.blocks.{i}.", f"transformer.h.{i}."
        out += _norm(f"{ours}layernorm1", f"{hf}ln_1", h)
        for kind in ("weight", "bias"):
            names = [f"{ours}attention.dense{j}.{kind}" for j in (1, 2, 3)]
            out.append(_qkv(names, f"{hf}attn.c_attn.{kind}", h, kind))
        out += [Rename(f"{ours}attention.projection.weight", f"{hf}attn.c_proj.weight", (h, h)),
                Rename(f"{ours}attention.projection.bias", f"{hf}attn.c_proj.bias", (h,))]
        out += _norm(f"{ours}layernorm2", f"{hf}ln_2", h)
        out += [Rename(f"{ours}output.mapping.weight", f"{hf}mlp.c_fc.weight", (h, f)),
                Rename(f"{ours}output.mapping.bias", f"{hf}mlp.c_fc.bias", (f,)),
                Rename(f"{ours}output.projection.weight", f"{hf}mlp.c_proj.weight", (f, h)),
                Rename(f"{ours}output.projection.bias", f"{hf}mlp.c_proj.bias", (h,))]
    out += _norm("backbone.layernorm", "transformer.ln_f", h)
    return out


def ignorable(name, config):
    """The causal-mask buffers of old GPT-2 files and the tied head when a file carries it."""
    return bool(_BUFFERS.match(name)) or name == "lm_head.weight"
