"""The call contract, the masked loss, and training steps (loss and gradients) in graph mode and PyNative."""

import mindspore as ms
import numpy as np
import pytest
from mindspore import nn

from .helpers import build


def train_step(model, graph):
    """One AdamW step as a Cell (compiled once in graph mode; op by op in PyNative)."""
    ms.set_context(mode=ms.GRAPH_MODE if graph else ms.PYNATIVE_MODE)
    step = nn.TrainOneStepCell(model, nn.AdamWeightDecay(model.trainable_params(), learning_rate=1e-2))
    step.set_train(True)
    return step


BATCH = np.random.default_rng(3).integers(3, 97, (2, 13)).astype(np.int32)


@pytest.mark.parametrize("family,graph", [("llama", True), ("llama", False), ("mixtral", True), ("gpt2", True),
                                          ("bloom", True)])
def test_loss_falls_over_30_steps(family, graph):
    model = build(family)
    step = train_step(model, graph)
    ids = ms.Tensor(BATCH)
    try:
        steps = 30 if graph else 8  # PyNative runs op by op: fewer steps keep the suite short
        losses = [float(step(ids).asnumpy()) for _ in range(steps)]
    finally:
        ms.set_context(mode=ms.PYNATIVE_MODE)
    assert np.isfinite(losses).all()
    assert losses[-1] < (0.5 if graph else 0.9) * losses[0]


def test_call_contract_and_masked_loss(family_models):
    ms.set_context(mode=ms.PYNATIVE_MODE)
    model = family_models["llama"]
    ids = np.array([[5, 6, 0, 7, 8, 9], [10, 11, 12, 13, 14, 15]], np.int32)  # 0 is pad_token_id
    labels = ids.copy()
    labels[1, 3] = -100
    model.set_train(False)
    logits = model(ms.Tensor(ids[:, :-1])).asnumpy()
    assert logits.shape == (2, 5, 97) and logits.dtype == np.float32
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    target = labels[:, 1:]
    mask = (target != -100) & (ids[:, :-1] != 0)
    expected = -(np.take_along_axis(logp, np.maximum(target, 0)[..., None], -1)[..., 0] * mask).sum() / mask.sum()
    model.set_train(True)
    loss = model(ms.Tensor(ids), ms.Tensor(labels)).asnumpy()
    model.set_train(False)
    assert loss.shape == () and abs(float(loss) - expected) < 1e-5


@pytest.mark.parametrize("family", ["gpt2", "mixtral"])
def test_graph_mode_forward_equals_pynative(family_models, family):
    model = family_models[family]
    model.set_train(False)
    ids = ms.Tensor(BATCH)
    ms.set_context(mode=ms.PYNATIVE_MODE)
    eager = model(ids).asnumpy()
    ms.set_context(mode=ms.GRAPH_MODE)
    try:
        graph = model(ids).asnumpy()
    finally:
        ms.set_context(mode=ms.PYNATIVE_MODE)
    np.testing.assert_allclose(graph, eager, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("family", ["gpt2", "bloom", "llama"])
def test_tied_head_is_the_word_embedding(family):
    ms.set_context(mode=ms.PYNATIVE_MODE)
    model = build(family, tie_word_embeddings=True)
    model.set_train(False)
    table = {"gpt2": lambda: model.backbone.embedding.word_embedding.embedding_table,
             "bloom": lambda: model.transformer.embedding.word_embedding.embedding_table,
             "llama": lambda: model.model.tok_embeddings.embedding_weight}[family]()
    values = table.asnumpy()
    values[7] = 0.0
    table.set_data(ms.Tensor(values))
    logits = model(ms.Tensor(BATCH[:, :5])).asnumpy()
    assert (logits[..., 7] == 0).all() and (logits[..., 8] != 0).all()


@pytest.mark.parametrize("graph", [True, False])
@pytest.mark.parametrize("shape", [(2, 3, 5, 7), (2, 4, 96, 96)])  # below and above broadcast.EXPLICIT_FROM
def test_attention_softmax_gradient_equals_mindspores(graph, shape):
    """The gradient of attention's softmax (its own backward pass, broadcasting explicitly) against
    ``ops.softmax``'s."""
    from mindspore import ops

    from mf_models.broadcast import softmax

    rng = np.random.default_rng(5)
    x, w = (ms.Tensor(rng.normal(size=shape).astype(np.float32) * 3) for _ in range(2))

    class Weighted(nn.Cell):
        def __init__(self, ours):
            super().__init__()
            self.ours = ours

        def construct(self, x, w):
            return ops.sum((softmax(x) if self.ours else ops.softmax(x, -1)) * w)

    ms.set_context(mode=ms.GRAPH_MODE if graph else ms.PYNATIVE_MODE)
    try:
        ours, theirs = (ms.grad(Weighted(ours))(x, w).asnumpy() for ours in (True, False))
    finally:
        ms.set_context(mode=ms.PYNATIVE_MODE)
    assert np.abs(theirs).max() > 1e-3
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)  # float32 sums in another order


@pytest.mark.parametrize("graph", [True, False])
@pytest.mark.parametrize("t_shape", [(4, 128, 1), (128,), (4, 1, 128), (4, 128, 128)])  # column, row, middle, none
def test_scale_by_gradients_equal_a_broadcasting_product(graph, t_shape):
    """``scale_by(x, t)`` (explicit broadcast, its own backward pass) against MindSpore's ``x * t``."""
    from mindspore import ops

    from mf_models.broadcast import scale_by

    rng = np.random.default_rng(6)
    x, w = (ms.Tensor(rng.normal(size=(4, 128, 128)).astype(np.float32)) for _ in range(2))
    t = ms.Tensor(rng.normal(size=t_shape).astype(np.float32))

    class Weighted(nn.Cell):
        def __init__(self, ours):
            super().__init__()
            self.ours = ours

        def construct(self, x, t, w):
            return ops.sum((scale_by(x, t) if self.ours else x * t) * w)

    ms.set_context(mode=ms.GRAPH_MODE if graph else ms.PYNATIVE_MODE)
    try:
        ours, theirs = (ms.grad(Weighted(ours), grad_position=(0, 1))(x, t, w) for ours in (True, False))
    finally:
        ms.set_context(mode=ms.PYNATIVE_MODE)
    for a, b in zip(ours, theirs):
        assert a.shape == b.shape
        np.testing.assert_allclose(a.asnumpy(), b.asnumpy(), rtol=1e-5, atol=1e-4)
