"""Tensor-parallel versions of mf-models' layers, swapped in from outside by ``parallelize``. Each holds this
rank's block of the weights under the same attribute names (``weight``, ``bias``, ``embedding_weight``,
``embedding_table``), so parameter names stay MindFormers'."""

import mindspore as ms
from mindspore import Parameter, nn, ops

REGION_ATTR = "mf_region"  # the attribute under which RegionInput keeps the wrapped cell (stripped from names)


def block_of(param, box):
    """The block ``box`` ((start, stop) per dim) of a Parameter, as a new Tensor (any dtype, bf16 included)."""
    t = param.value() if hasattr(param, "value") else param
    for dim, (start, stop) in enumerate(box):
        if (start, stop) != (0, param.shape[dim]):
            t = ops.narrow(t, dim, start, stop - start)
    return t.copy()


def new_param(tensor, like, name):
    return Parameter(tensor, name=name, requires_grad=like.requires_grad)


class RegionInput(nn.Cell):
    """``cell`` with its first input passed through ``copy`` (CopyToRegion): one all-reduce of the input's
    gradient for all the column-parallel layers the cell holds."""

    def __init__(self, cell, copy):
        super().__init__(auto_prefix=False)
        setattr(self, REGION_ATTR, cell)
        self.copy = copy

    def construct(self, x, *args):
        return self.mf_region(self.copy(x), *args)


class ParallelLinear(nn.Cell):
    """mf-models' ``Linear`` with this rank's block of the weight: column-split (local output features) or
    row-split (local input features, output all-reduced by ``reduce`` before the bias is added)."""

    def __init__(self, src, weight, bias, row, reduce, out_channels):
        super().__init__()
        self.weight = new_param(weight, src.weight, "weight")
        self.has_bias = src.has_bias
        if self.has_bias:
            self.bias = new_param(bias, src.bias, "bias")
        self.matmul = ops.MatMul(transpose_b=src.matmul.transpose_b)
        self.compute_dtype, self.cast_weight = src.compute_dtype, src.cast_weight
        self.out_channels = out_channels
        self.row = row
        self.reduce = reduce

    def construct(self, x):
        shape = x.shape
        x = x.reshape(-1, shape[-1])
        weight = ops.cast(self.weight, self.compute_dtype) if self.cast_weight else self.weight
        y = self.matmul(x, weight)
        if self.row:
            y = self.reduce(y)
        if self.has_bias:
            y = y + (ops.cast(self.bias, self.compute_dtype) if self.cast_weight else self.bias)
        return y.reshape(shape[:-1] + (self.out_channels,))


class ParallelHead(nn.Cell):
    """A vocabulary-split output head (``lm_head``): the input enters the region, each rank computes its
    vocabulary slice of the logits; outside training they are gathered (for generation and eval), in training
    they stay split for ``VocabParallelCrossEntropy``."""

    def __init__(self, src, weight, copy, gather):
        super().__init__()
        self.weight = new_param(weight, src.weight, "weight")
        self.matmul = ops.MatMul(transpose_b=src.matmul.transpose_b)
        self.compute_dtype, self.cast_weight = src.compute_dtype, src.cast_weight
        self.copy, self.gather = copy, gather

    def construct(self, x):
        shape = x.shape
        x = self.copy(x).reshape(-1, shape[-1])
        weight = ops.cast(self.weight, self.compute_dtype) if self.cast_weight else self.weight
        y = self.matmul(x, weight)
        y = y.reshape(shape[:-1] + (y.shape[-1],))
        return y if self.training else self.gather(y)


def _lookup(table, ids, start, compute_dtype, cast_table, reduce):
    """Rows of the local vocabulary slice ``table`` for global ``ids`` (zeros for other ranks' ids), summed
    over the group."""
    rows = table.shape[0]
    local = ids - start
    inside = ops.logical_and(local >= 0, local < rows)
    out = ops.gather(table, ops.select(inside, local, ops.zeros_like(local)), 0)
    out = out * ops.cast(inside, out.dtype).expand_dims(-1)
    if cast_table:
        out = ops.cast(out, compute_dtype)
    return reduce(out)


class VocabParallelEmbedding(nn.Cell):
    """Llama's ``Embedding`` (``embedding_weight``) with this rank's vocabulary rows."""

    def __init__(self, src, table, start, reduce):
        super().__init__()
        self.embedding_weight = new_param(table, src.embedding_weight, "embedding_weight")
        self.start, self.reduce = start, reduce
        self.compute_dtype, self.cast_table = src.compute_dtype, src.cast_table

    def construct(self, ids):
        return _lookup(self.embedding_weight, ids, self.start, self.compute_dtype, self.cast_table, self.reduce)


class VocabParallelEmbeddingTable(nn.Cell):
    """GPT-2/Bloom's ``VocabEmbedding`` (``embedding_table``) with this rank's vocabulary rows."""

    def __init__(self, src, table, start, reduce):
        super().__init__()
        self.embedding_table = new_param(table, src.embedding_table, "embedding_table")
        self.start, self.reduce = start, reduce
        self.compute_dtype, self.cast_table = src.compute_dtype, src.cast_table

    def construct(self, ids):
        return _lookup(self.embedding_table, ids, self.start, self.compute_dtype, self.cast_table, self.reduce)


class VocabParallelCrossEntropy(nn.Cell):
    """mf-models' ``CrossEntropyLoss`` on vocabulary-split logits (b, s, V/mp): the maximum, the sum of
    exponentials and the target's logit are reduced over the group, so no rank holds the full logits."""

    def __init__(self, start, reduce_max, reduce):
        super().__init__()
        self.start = start
        self.reduce_max, self.reduce = reduce_max, reduce

    def construct(self, logits, labels, mask):
        logits = ops.cast(logits.reshape(-1, logits.shape[-1]), ms.float32)
        rows = logits.shape[-1]
        labels = ops.maximum(labels.reshape(-1), 0) - self.start
        mask = ops.cast(mask.reshape(-1), ms.float32)
        shifted = logits - self.reduce_max(ops.max(logits, -1, keepdims=True)[0])
        sum_exp = self.reduce(ops.sum(ops.exp(shifted), -1))
        inside = ops.logical_and(labels >= 0, labels < rows)
        index = ops.select(inside, labels, ops.zeros_like(labels)).reshape(-1, 1)
        target = ops.gather_elements(shifted, 1, index).reshape(-1) * ops.cast(inside, ms.float32)
        nll = ops.log(sum_exp) - self.reduce(target)
        return ops.sum(nll * mask) / ops.maximum(ops.sum(mask), 1.0)


class ParallelExpertLinear(nn.Cell):
    """mf-models' ``ExpertLinear`` with this rank's experts and features; ``reduce`` after a row split."""

    def __init__(self, src, weight, row, reduce):
        super().__init__()
        self.weight = new_param(weight, src.weight, "weight")
        self.matmul = ops.BatchMatMul(transpose_b=True)
        self.compute_dtype, self.cast_weight = src.compute_dtype, src.cast_weight
        self.row, self.reduce = row, reduce

    def construct(self, x):
        weight = ops.cast(self.weight, self.compute_dtype) if self.cast_weight else self.weight
        y = self.matmul(x, weight)
        return self.reduce(y) if self.row else y


class TiedVocabParallel:
    """Mixed into a GPT-2/Bloom (or tied Llama) network whose word table is vocabulary-split: its head is that
    table, so the hidden state enters the region and the logits are gathered outside training."""

    def tied_logits(self, hidden, table):
        b, s, h = hidden.shape
        hidden = self.mf_vocab_copy(hidden)
        logits = ops.MatMul(transpose_b=True)(hidden.reshape(-1, h), ops.cast(table, hidden.dtype))
        logits = ops.cast(logits, ms.float32).reshape(b, s, -1)
        return logits if self.training else self.mf_vocab_gather(logits)
