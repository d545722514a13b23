"""``GPT2LMHeadModel``: learned positions, pre-LayerNorm blocks, GELU (tanh form), head tied to the word embedding.

Parameter names are MindFormers' (``backbone.embedding.word_embedding.embedding_table``,
``backbone.embedding.position_embedding.embedding_table``, ``backbone.blocks.N.attention.dense1.weight``,
``backbone.blocks.N.output.mapping.weight``, ``backbone.layernorm.gamma``); see ``mf_config.family("gpt2")``.
"""

from mindspore import nn

from mf_config import GPT2Config
from mf_config.registry import register
from mf_models.blocks import PreLNBlock, run_blocks
from mf_models.cells import LayerNorm, VocabEmbedding
from mf_models.dtypes import dtypes
from mf_models.modeling import TiedEmbeddingLM


class GPT2Embedding(nn.Cell):
    """``word_embedding`` plus ``position_embedding`` (one row per position up to ``seq_length``)."""

    def __init__(self, config, param_dtype, compute_dtype):
        super().__init__()
        std = config.initializer_range
        self.word_embedding = VocabEmbedding(config.vocab_size, config.hidden_size, param_dtype,
                                        compute_dtype, std)
        self.position_embedding = VocabEmbedding(config.seq_length, config.hidden_size, param_dtype,
                                            compute_dtype, std)

    def construct(self, input_ids, positions):
        return self.word_embedding(input_ids) + self.position_embedding(positions)


class GPT2Model(nn.Cell):
    """The backbone: ``embedding``, ``blocks``, ``layernorm``."""

    def __init__(self, config):
        super().__init__()
        param, compute, norm, softmax = dtypes(config)
        self.embedding = GPT2Embedding(config, param, compute)
        self.blocks = nn.CellList([PreLNBlock(config, param, compute, norm, softmax)
                                   for _ in range(config.num_layers)])
        self.layernorm = LayerNorm(config.hidden_size, config.layernorm_epsilon, param, norm)

    def construct(self, input_ids, positions, bias, caches=None, write=None):
        h, kv = run_blocks(self.blocks, self.embedding(input_ids, positions), bias, caches, write)
        return self.layernorm(h), kv


@register("model")
class GPT2LMHeadModel(TiedEmbeddingLM):
    """GPT-2 with its head tied to ``backbone.embedding.word_embedding``."""

    config_class = GPT2Config

    def __init__(self, config: GPT2Config | None = None) -> None:
        super().__init__(config, "backbone", GPT2Model)
