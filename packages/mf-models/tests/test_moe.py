"""Mixtral routing: k experts per token with weights summing to 1, dropless inference, capacity and aux loss."""

import mindspore as ms
import numpy as np
import pytest

from mf_config import MoEConfig
from mf_models.moe import MoEFeedForward, capacity_of

from .helpers import CONFIGS


@pytest.fixture(scope="module")
def moe():
    ms.set_context(mode=ms.PYNATIVE_MODE)
    layer = MoEFeedForward(CONFIGS["mixtral"](initializer_range=0.3))
    layer.set_train(False)
    return layer


X = np.random.default_rng(5).normal(size=(3, 5, 32)).astype(np.float32)


def reference(layer, x):
    """Mixtral's formula in numpy: softmax router, top-k, renormalise, weighted sum of SwiGLU experts."""
    w = {n: p.asnumpy() for n, p in layer.parameters_and_names()}
    logits = x @ w["router.dense.weight"].T
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    out = np.zeros_like(x)
    for t in range(x.shape[0]):
        top = np.argsort(-probs[t])[:2]
        for e in top:
            h = x[t] @ w["ffn.w1.weight"][e].T
            h = h / (1 + np.exp(-h)) * (x[t] @ w["ffn.w3.weight"][e].T)
            out[t] += probs[t, e] / probs[t, top].sum() * (h @ w["ffn.w2.weight"][e].T)
    return out


def test_each_token_goes_to_k_experts_with_weights_summing_to_1(moe):
    gates, chosen, probs = (t.asnumpy() for t in moe.router(ms.Tensor(X.reshape(-1, 32))))
    assert ((gates > 0).sum(-1) == 2).all()
    np.testing.assert_allclose(gates.sum(-1), 1.0, rtol=1e-6)
    assert (np.sort(chosen, -1) == np.sort(np.argsort(-probs, -1)[:, :2], -1)).all()


def test_dropless_inference_for_any_batch(moe):
    out, aux = moe(ms.Tensor(X))
    flat = X.reshape(-1, 32)
    np.testing.assert_allclose(out.asnumpy().reshape(-1, 32), reference(moe, flat), rtol=1e-5, atol=1e-5)
    one_by_one = np.concatenate([moe(ms.Tensor(flat[i:i + 1, None]))[0].asnumpy()[0] for i in range(len(flat))])
    np.testing.assert_allclose(out.asnumpy().reshape(-1, 32), one_by_one, rtol=1e-5, atol=1e-5)
    assert float(aux.asnumpy()) == 0.0


def test_training_capacity_drops_overflow_and_adds_aux_loss(moe):
    flat = ms.Tensor(X.reshape(-1, 32))
    gates, chosen, probs = moe.router(flat)
    n, e = 15, 4
    cap = capacity_of(n, 2, e, 0.5)
    dispatch, combine = (t.asnumpy().reshape(n, e, cap) for t in moe.buffers(gates, chosen, cap))
    demand = np.bincount(chosen.asnumpy().reshape(-1), minlength=e)
    assert (dispatch.sum((0, 2)) == np.minimum(demand, cap)).all()  # each expert keeps what fits
    assert (dispatch.sum(0) <= 1).all()  # one token per buffer slot
    assert demand.max() > cap  # so some assignments were dropped
    moe.set_train(True)
    try:
        out, aux = moe(ms.Tensor(X))  # capacity_factor 1.1
        roomy = MoEFeedForward(CONFIGS["mixtral"](moe_config=MoEConfig(expert_num=4, num_experts_chosen=2,
                                                                      capacity_factor=2.0)))
        roomy.set_train(True)
        for (_, mine), (_, theirs) in zip(moe.parameters_and_names(), roomy.parameters_and_names()):
            theirs.set_data(mine.data)
        roomy_out, _ = roomy(ms.Tensor(X))
    finally:
        moe.set_train(False)
    p = probs.asnumpy()
    first = np.eye(e)[chosen.asnumpy()[:, 0]]
    assert abs(float(aux.asnumpy()) - 0.05 * e * (first.mean(0) * p.mean(0)).sum()) < 1e-6
    # with room for every assignment (capacity = all tokens) training routing equals dropless inference
    np.testing.assert_allclose(roomy_out.asnumpy().reshape(-1, 32), reference(moe, X.reshape(-1, 32)),
                               rtol=1e-5, atol=1e-5)
