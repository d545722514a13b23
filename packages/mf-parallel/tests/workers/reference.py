"""The single-process reference of the distributed checks (run in the pytest process, PyNative): the full
checkpoints the workers load, and what one process computes on the same (global) batches."""

import json

import mindspore as ms
import numpy as np
from mindspore import nn, ops

from .families import STEPS, batch, greedy, network, optimizer_of, train_step_cell


def gradients(model, ids):
    model.set_train(True)
    params = model.trainable_params()
    loss, grads = ms.value_and_grad(model, None, params)(ms.Tensor(ids))
    return float(loss.asnumpy()), {p.name: g.asnumpy() for p, g in zip(params, grads)}


def save_family(family, inputs):
    """``family``'s tiny model (seed 0) saved as our folder ``inputs/family``."""
    ms.set_seed(0)
    network(family).save_pretrained(inputs / family)


def evaluate(family, inputs, rows, generate=False):
    """Logits, loss, gradients (and greedy tokens) of the saved ``family`` model on ``batch(rows)``."""
    model = network(family)
    model.load_weights(inputs / family)
    ids = batch(rows)
    model.set_train(False)
    out = {"logits": model(ms.Tensor(ids)).asnumpy()}
    out["loss"], out["grads"] = gradients(model, ids)
    out["generated"] = greedy(model) if generate else None
    return out


def loss_without_drops(inputs, rows):
    """Mixtral's loss on ``batch(rows)`` with room for every token (capacity_factor 100): differs from the
    reference loss when its capacity drops tokens."""
    from mf_models.llama import LlamaForCausalLM

    from .families import config

    cfg = config("mixtral")
    cfg.moe_config.capacity_factor = 100.0
    model = LlamaForCausalLM(cfg)
    model.load_weights(inputs / "mixtral")
    model.set_train(True)
    return float(model(ms.Tensor(batch(rows))).asnumpy())


def split_differently(inputs):
    """The Llama checkpoint split 4 ways along dimension 0 of every matrix (unlike any mf-parallel layout), with
    its layout in mf-ckpt's JSON form: what the dp2 x mp2 run loads."""
    from mf_ckpt.resharding import reshard
    from mf_ckpt.store import open_checkpoint
    from mf_ckpt.strategy import load_layout

    ckpt = open_checkpoint(inputs / "llama")
    params = {n: {"split_dim": 0} for n, i in ckpt.infos.items() if len(i.shape) == 2 and i.shape[0] % 4 == 0}
    ckpt.close()
    layout_file = inputs / "llama_mp4_layout.json"
    layout_file.write_text(json.dumps({"model_parallel": 4, "params": params}))
    reshard(inputs / "llama", inputs / "llama_mp4", dst_layout=load_layout(layout_file))
    (inputs / "llama_mp4" / "layout.json").write_text(layout_file.read_text())


def training_reference(inputs):
    """Five AdamW steps of one process on the global batch (4 rows), clipped by MindSpore's clip_by_global_norm."""
    model = network("llama")
    model.load_weights(inputs / "llama")
    optimizer = optimizer_of(model)
    step = train_step_cell(model, optimizer)
    losses, norms = zip(*[(float(a.asnumpy()), float(b.asnumpy())) for a, b in
                          (step(ms.Tensor(batch(4))) for _ in range(STEPS))])
    state = {p.name: p.asnumpy() for p in optimizer.get_parameters()}
    state.update({p.name: p.asnumpy() for p in model.get_parameters()})
    return np.array(losses), np.array(norms), state


def pair_reference():
    """Weight gradients of the two-layer pair of scenarios.bare_all_reduce in one process."""
    rng = np.random.default_rng(7)
    w1, w2, x = rng.standard_normal((8, 4)), rng.standard_normal((4, 8)), rng.standard_normal((3, 4))

    class Pair(nn.Cell):
        def __init__(self):
            super().__init__()
            self.w1 = ms.Parameter(ms.Tensor(w1, ms.float32), name="w1")
            self.w2 = ms.Parameter(ms.Tensor(w2, ms.float32), name="w2")

        def construct(self, x):
            return ops.sum(ops.matmul(ops.relu(ops.matmul(x, self.w1.T)), self.w2.T) ** 2)

    pair = Pair()
    _, grads = ms.value_and_grad(pair, None, pair.trainable_params())(ms.Tensor(x, ms.float32))
    return grads[0].asnumpy(), grads[1].asnumpy()
