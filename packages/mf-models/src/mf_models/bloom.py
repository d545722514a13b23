"""``BloomLMHeadModel``: ALiBi positions, LayerNorm on the word embedding, head tied to the word embedding.

Parameter names are MindFormers' (``transformer.embedding.word_embedding.embedding_table``,
``transformer.embedding.norm.gamma``, ``transformer.blocks.N.attention.dense1.weight`` (query; dense2 key,
dense3 value: Bloom's fused per-head query_key_value split as MindFormers' converter does),
``transformer.ln_f.gamma``); see the family spec ``mf_config.family("bloom")``.
"""

import mindspore as ms
from mindspore import Tensor, nn, ops

from mf_config import BloomConfig
from mf_config.registry import register
from mf_models.blocks import PreLNBlock, run_blocks
from mf_models.cells import LayerNorm, VocabEmbedding
from mf_models.dtypes import dtypes
from mf_models.modeling import TiedEmbeddingLM
from mf_models.positions import alibi_slopes


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
    """The backbone: ``embedding``, ``blocks``, ``ln_f``; ALiBi bias ``slope_h * key_slot`` per head (HF's
    ``slope_h * key_position`` differs from it by a constant per row, which softmax cancels)."""

    def __init__(self, config):
        super().__init__()
        param, compute, norm, softmax = dtypes(config)
        self.embedding = BloomEmbedding(config, param, compute, norm)
        self.blocks = nn.CellList([PreLNBlock(config, param, compute, norm, softmax)
                                   for _ in range(config.num_layers)])
        self.ln_f = LayerNorm(config.hidden_size, config.layernorm_epsilon, param, norm)
        self.slopes = Tensor(alibi_slopes(config.num_heads).reshape(1, -1, 1, 1), ms.float32)

    def construct(self, input_ids, positions, bias, caches=None, write=None):
        bias = bias + self.slopes * ops.arange(bias.shape[-1], dtype=ms.float32)
        h, kv = run_blocks(self.blocks, self.embedding(input_ids), bias, caches, write)
        return self.ln_f(h), kv


@register("model")
class BloomLMHeadModel(TiedEmbeddingLM):
    """Bloom with its head tied to ``transformer.embedding.word_embedding``."""

    config_class = BloomConfig
    uses_positions = False  # ALiBi: the mask's key slots are all it needs

    def __init__(self, config: BloomConfig | None = None) -> None:
        super().__init__(config, "transformer", BloomModel)
