"""``BloomLMHeadModel``: ALiBi positions, LayerNorm on the word embedding, head tied to the word embedding.

Parameter names are MindFormers' (``transformer.embedding.word_embedding.embedding_table``,
``transformer.embedding.norm.gamma``, ``transformer.blocks.N.attention.dense1.weight`` (query; dense2 key,
dense3 value: Bloom's fused per-head query_key_value split as MindFormers' converter does),
``transformer.ln_f.gamma``); see ``mf_models.specs``.
"""

import mindspore as ms
from mindspore import Tensor, nn, ops

from mf_config import BloomConfig
from mf_config.registry import register
from mf_models.layers import (
    LayerNorm,
    PreLNBlock,
    VocabEmbedding,
    alibi_slopes,
    dtypes,
    positions_and_bias,
    run_blocks,
    write_index,
)
from mf_models.modeling import TiedEmbeddingLM


class BloomEmbedding(nn.Cell):
    """``word_embedding`` followed by its LayerNorm ``norm``."""

    def __init__(self, config, param_dtype, compute_dtype, norm_dtype):
        super().__init__()
        self.word_embedding = VocabEmbedding(config.vocab_size, config.hidden_size, param_dtype,
                                        compute_dtype, config.initializer_range)
        self.norm = LayerNorm(config.hidden_size, config.layernorm_epsilon, param_dtype, norm_dtype)

    def construct(self, input_ids):
        return self.norm(self.word_embedding(input_ids))


class BloomModel(nn.Cell):
    """The backbone: ``embedding``, ``blocks``, ``ln_f``; ALiBi bias ``slope_h * key_position`` per head."""

    def __init__(self, config):
        super().__init__()
        self.cache_heads = config.num_heads
        param, compute, norm, softmax = dtypes(config)
        self.embedding = BloomEmbedding(config, param, compute, norm)
        self.blocks = nn.CellList([PreLNBlock(config, param, compute, norm, softmax)
                                   for _ in range(config.num_layers)])
        self.ln_f = LayerNorm(config.hidden_size, config.layernorm_epsilon, param, norm)
        self.slopes = Tensor(alibi_slopes(config.num_heads).reshape(1, -1, 1, 1), ms.float32)

    def construct(self, input_ids, start, offset, caches=None):
        b, s = input_ids.shape
        length = s if caches is None else caches[0].shape[0] // (b * self.cache_heads)
        _, key_positions, bias = positions_and_bias(b, s, length, start, offset)
        bias = bias + self.slopes * ops.cast(key_positions, ms.float32).reshape(b, 1, 1, length)
        write = None if caches is None else write_index(b, self.cache_heads, length, start)
        h, kv = run_blocks(self.blocks, self.embedding(input_ids), bias, caches, write)
        return self.ln_f(h), kv


@register("model")
class BloomLMHeadModel(TiedEmbeddingLM):
    """Bloom with its head tied to ``transformer.embedding.word_embedding``."""

    config_class = BloomConfig

    def __init__(self, config=None):
        super().__init__(config, "transformer", BloomModel)

    def forward(self, input_ids, start=None, offset=None, caches=None, last=None):
        """Logits (b, s, V) float32, per-layer keys/values and a zero aux loss; see ``CausalLM``."""
        return self.tied_forward(self.transformer, input_ids, start, offset, caches, last)
