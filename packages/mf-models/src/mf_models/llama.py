"""``LlamaForCausalLM``: Llama 2, Llama 3, Mistral and (with ``moe_config.expert_num > 1``) Mixtral.

Parameter names are MindFormers' (``model.tok_embeddings.embedding_weight``, ``model.layers.N.attention.wq.weight``,
``model.layers.N.feed_forward.w1.weight`` or, for MoE, ``feed_forward.router.dense.weight`` and stacked
``feed_forward.ffn.w1.weight``, ``model.norm_out.weight``, ``lm_head.weight``); see ``mf_config.family("llama")``.
"""

import math

import mindspore as ms
from mindspore import Tensor, nn, ops

from mf_config import LlamaConfig, MixtralConfig
from mf_config.registry import register
from mf_models import native
from mf_models.attention import attention, update_cache
from mf_models.cells import Embedding, Linear, RMSNorm, SwiGLU
from mf_models.dtypes import dtypes
from mf_models.modeling import CausalLM, select_columns
from mf_models.moe import MoEFeedForward
from mf_models.positions import apply_rope, half_swap, rope_tables


class LlamaAttention(nn.Cell):
    """Grouped-query attention with rotary positions: ``wq``, ``wk``, ``wv``, ``wo``."""

    def __init__(self, config):
        super().__init__()
        param, compute, _, softmax = dtypes(config)
        h, d, kv = config.hidden_size, config.head_dim, config.kv_heads
        std = config.initializer_range
        kw = dict(param_dtype=param, compute_dtype=compute, init_std=std)
        self.wq = Linear(h, config.num_heads * d, has_bias=config.qkv_has_bias, **kw)
        self.wk = Linear(h, kv * d, has_bias=config.qkv_has_bias, **kw)
        self.wv = Linear(h, kv * d, has_bias=config.qkv_has_bias, **kw)
        self.wo = Linear(config.num_heads * d, h, **kw)
        self.n_heads, self.n_kv, self.head_dim = config.num_heads, kv, d
        self.scale = 1.0 / math.sqrt(d)
        self.softmax_dtype = softmax
        self.fused_softmax = native.fused(native.SoftmaxWithBias, softmax)
        self.swap = half_swap(d, compute)

    def construct(self, x, cos, sin, bias, past_k=None, past_v=None, write=None):
        b, s, _ = x.shape
        q = apply_rope(self.wq(x).reshape(b, s, self.n_heads, self.head_dim), cos, sin, self.swap)
        k = apply_rope(self.wk(x).reshape(b, s, self.n_kv, self.head_dim), cos, sin, self.swap).transpose(0, 2, 1, 3)
        v = self.wv(x).reshape(b, s, self.n_kv, self.head_dim).transpose(0, 2, 1, 3)
        if past_k is not None:
            k = update_cache(past_k, k, write)
            v = update_cache(past_v, v, write)
        return self.wo(attention(q, k, v, bias, self.scale, self.softmax_dtype, self.fused_softmax)), k, v


class LlamaDecodeLayer(nn.Cell):
    """Pre-norm block: ``attention_norm`` -> ``attention``; ``ffn_norm`` -> ``feed_forward`` (SwiGLU or MoE)."""

    def __init__(self, config):
        super().__init__()
        param, compute, norm, _ = dtypes(config)
        self.attention_norm = RMSNorm(config.hidden_size, config.rms_norm_eps, param, norm)
        self.attention = LlamaAttention(config)
        self.ffn_norm = RMSNorm(config.hidden_size, config.rms_norm_eps, param, norm)
        self.is_moe = config.is_moe
        if self.is_moe:
            self.feed_forward = MoEFeedForward(config)
        else:
            self.feed_forward = SwiGLU(config.hidden_size, config.ffn_hidden_size, param, compute,
                                       config.initializer_range)

    def construct(self, x, cos, sin, bias, past_k=None, past_v=None, write=None):
        h, k, v = self.attention(self.attention_norm(x), cos, sin, bias, past_k, past_v, write)
        x = x + h
        if self.is_moe:
            out, aux = self.feed_forward(self.ffn_norm(x))
            return x + out, k, v, aux
        return x + self.feed_forward(self.ffn_norm(x)), k, v


class LlamaModel(nn.Cell):
    """The backbone: ``tok_embeddings``, ``layers``, ``norm_out``; returns hidden states, keys/values, aux loss."""

    def __init__(self, config):
        super().__init__()
        param, compute, norm, _ = dtypes(config)
        self.tok_embeddings = Embedding(config.vocab_size, config.hidden_size, param, compute, config.initializer_range)
        self.layers = nn.CellList([LlamaDecodeLayer(config) for _ in range(config.num_layers)])
        self.norm_out = RMSNorm(config.hidden_size, config.rms_norm_eps, param, norm)
        self.num_layers = config.num_layers
        self.is_moe = config.is_moe
        self.head_dim = config.head_dim
        self.max_positions = max(config.seq_length, config.max_position_embedding or 0)
        cos, sin = rope_tables(config.head_dim, self.max_positions, config.theta, config.extend_method,
                               config.scaling_factor)
        self.cos = Tensor(cos, compute)
        self.sin = Tensor(sin, compute)

    def construct(self, input_ids, positions, bias, caches=None, write=None):
        b, s = input_ids.shape
        cos = ops.gather(self.cos, positions, 0).reshape(b, s, 1, self.head_dim)
        sin = ops.gather(self.sin, positions, 0).reshape(b, s, 1, self.head_dim)
        h = self.tok_embeddings(input_ids)
        kv = ()
        aux = ops.zeros((), ms.float32)
        for i in range(self.num_layers):
            cache = () if caches is None else (caches[2 * i], caches[2 * i + 1], write)
            out = self.layers[i](h, cos, sin, bias, *cache)
            h, k, v = out[0], out[1], out[2]
            kv = kv + (k, v)
            if self.is_moe:
                aux = aux + out[3]
        return self.norm_out(h), kv, aux


@register("model")
class LlamaForCausalLM(CausalLM):
    """Llama 2/3, Mistral, Mixtral (MoE when ``config.moe_config.expert_num > 1``): ``model`` + ``lm_head``."""

    config_class = LlamaConfig

    def __init__(self, config: LlamaConfig | None = None) -> None:
        super().__init__(config)
        config = self.config
        param, compute, _, _ = dtypes(config)
        self.model = LlamaModel(config)
        self.tie = config.tie_word_embeddings
        if not self.tie:
            self.lm_head = Linear(config.hidden_size, config.vocab_size, param_dtype=param, compute_dtype=compute,
                                  init_std=config.initializer_range)
        self.num_layers = config.num_layers
        self.cache_heads, self.cache_dim = config.kv_heads, config.head_dim
        self.max_positions = self.model.max_positions
        self.compute_dtype = compute

    def head_weight(self) -> ms.Parameter:
        """``lm_head.weight`` (None once ``lm_head`` is another layer than mf's ``Linear``, e.g. LoRA's, which
        computes more than ``x @ W.T``), or the word embedding when the head is tied to it."""
        if self.tie:
            return self.model.tok_embeddings.embedding_weight
        return self.lm_head.weight if type(self.lm_head) is Linear else None

    def compute_logits(self, input_ids, positions, bias, caches=None, write=None, last=None, head=True):
        """Logits (b, s, V) float32 (or the hidden state, ``head=False``), per-layer keys/values and the MoE aux
        loss; see ``CausalLM``."""
        h, kv, aux = self.model(input_ids, positions, bias, caches, write)
        if last is not None:
            h = select_columns(h, last)
        if not head:
            return h, kv, aux
        if self.tie:
            return self.tied_logits(h, self.model.tok_embeddings.embedding_weight), kv, aux
        return ops.cast(self.lm_head(h), ms.float32), kv, aux


@register("model")
class MixtralForCausalLM(LlamaForCausalLM):
    """``LlamaForCausalLM`` with Mixtral 8x7B's defaults (MindFormers itself names ``LlamaForCausalLM``)."""

    config_class = MixtralConfig
