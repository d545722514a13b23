"""The distributed checks, run on every rank under `mf-parallel launch`; each rank writes what it computed to
OUT/rank_N.npz (and sharded checkpoints under OUT), which tests/test_distributed.py compares with the
single-process reference it computed itself.

    python workers/scenarios.py mp2|dp2mp2 INPUTS OUT
"""

import json
import sys
from pathlib import Path

import mindspore as ms
import numpy as np
from families import GENERATE, RESUME_AT, STEPS, batch, greedy, network, optimizer_of, train_step_cell
from mindspore import nn, ops

import mf_models.cells  # noqa: F401  (initialises MindSpore's numpy bridge before any Parameter)
from mf_parallel import parallelize, train_hooks
from mf_parallel.runtime import init_communication


def gradients(model, ids):
    model.set_train(True)
    params = model.trainable_params()
    loss, grads = ms.value_and_grad(model, None, params)(ms.Tensor(ids))
    return float(loss.asnumpy()), {p.name: g for p, g in zip(params, grads)}


def family_checks(family, inputs, out, results, rank):
    """Logits, loss, every gradient's block and greedy generation of ``family`` under mp=2, from the full
    checkpoint the test wrote (loaded into this rank's layout by the loader)."""
    ms.set_seed(100 + rank)  # another random init on purpose: every value must come from the checkpoint
    model = parallelize(network(family, model_parallel=2))
    hooks = train_hooks(model)
    hooks.checkpoint.load(inputs / family)
    ids = batch(2)
    model.set_train(False)
    results[f"{family}.logits"] = model(ms.Tensor(ids)).asnumpy()
    loss, grads = gradients(model, ids)
    results[f"{family}.loss"] = np.float32(loss)
    for name, g in grads.items():
        results[f"{family}.grad.{name}"] = g.asnumpy()
    if family in GENERATE:
        results[f"{family}.generated"] = greedy(model)
    if family == "llama":
        hooks.checkpoint.save(out / "ckpt_llama_mp2")


def bare_all_reduce(results, rank):
    """A column- then row-parallel pair whose row output is all-reduced by a bare ops.AllReduce, and by
    ReduceFromRegion: the weight gradients of both, to compare with one process's."""
    from mf_parallel.comm import CopyToRegion, Group, ReduceFromRegion

    group = Group("mccl_world_group", (0, 1), rank, True)
    rng = np.random.default_rng(7)
    w1, w2, x = rng.standard_normal((8, 4)), rng.standard_normal((4, 8)), rng.standard_normal((3, 4))

    class Pair(nn.Cell):
        def __init__(self, reduce):
            super().__init__()
            self.w1 = ms.Parameter(ms.Tensor(w1[rank * 4:(rank + 1) * 4], ms.float32), name="w1")
            self.w2 = ms.Parameter(ms.Tensor(w2[:, rank * 4:(rank + 1) * 4], ms.float32), name="w2")
            self.copy, self.reduce = CopyToRegion(group), reduce

        def construct(self, x):
            h = ops.relu(ops.matmul(self.copy(x), self.w1.T))
            return ops.sum(self.reduce(ops.matmul(h, self.w2.T)) ** 2)

    for kind, reduce in (("bare", ops.AllReduce(group=group.name)), ("region", ReduceFromRegion(group))):
        pair = Pair(reduce)
        _, grads = ms.value_and_grad(pair, None, pair.trainable_params())(ms.Tensor(x, ms.float32))
        results[f"pair.{kind}.w1"], results[f"pair.{kind}.w2"] = grads[0].asnumpy(), grads[1].asnumpy()


def mp2(inputs, out):
    rank, _ = init_communication()
    results = {}
    for family in ("llama", "mixtral", "gpt2", "bloom"):
        family_checks(family, inputs, out, results, rank)
    bare_all_reduce(results, rank)
    return rank, results


def dp2mp2(inputs, out):
    """Llama trained 5 steps from a checkpoint split 4 ways (loaded into dp2 x mp2), then saved with its optimizer;
    Mixtral with experts over ep2 and mp2: logits, loss and reduced gradients."""
    rank, _ = init_communication()
    results = {}
    model = parallelize(network("llama", data_parallel=2, model_parallel=2))
    hooks = train_hooks(model)
    hooks.checkpoint.load(inputs / "llama_mp4", src_strategy=inputs / "llama_mp4" / "layout.json")
    dp_rank, dp = hooks.data_shard
    results["data_shard"] = np.array([dp_rank, dp])
    rows = batch(4)[dp_rank * 2:(dp_rank + 1) * 2]
    optimizer = optimizer_of(model)
    step = train_step_cell(model, optimizer, hooks)

    def steps(n):
        return [tuple(float(t.asnumpy()) for t in step(ms.Tensor(rows))) for _ in range(n)]

    run = steps(RESUME_AT)
    state = (model, optimizer)
    hooks.checkpoint.save(out / "ckpt_llama_step3", cells=state, rank_files={"note.json": json.dumps(
        {"rank": rank}).encode()})
    run += steps(STEPS - RESUME_AT)
    results["llama.losses"], results["llama.norms"] = np.array(run).T
    hooks.checkpoint.save(out / "ckpt_llama_dp2mp2", cells=state, extra={"step": np.int32(STEPS)})
    final = {p.name: p.asnumpy() for cell in state for p in cell.get_parameters()}
    hooks.checkpoint.load(out / "ckpt_llama_step3", cells=state)  # resume from step 3 with the same graph
    results["resume.losses"] = np.array(steps(STEPS - RESUME_AT))[:, 0]
    results["resume.max_weight_difference"] = np.float32(max(
        np.abs(p.asnumpy() - final[p.name]).max() for cell in state for p in cell.get_parameters()))
    grads = tuple(ops.zeros(p.shape, p.dtype) for p in model.trainable_params())
    results["finite.all"] = hooks.all_finite(grads).asnumpy()
    if rank == 3:  # one rank's block overflows: every rank must see it
        grads = grads[:-1] + (ops.fill(ms.float32, grads[-1].shape, float("inf")),)
    results["finite.one_rank_inf"] = hooks.all_finite(grads).asnumpy()
    results["global_rank"] = np.int32(hooks.global_rank)
    moe = parallelize(network("mixtral", data_parallel=2, model_parallel=2, expert_parallel=2))
    moe_hooks = train_hooks(moe)
    moe_hooks.checkpoint.load(inputs / "mixtral")
    rows = batch(4)[dp_rank * 2:(dp_rank + 1) * 2]
    moe.set_train(False)
    results["mixtral.logits"] = moe(ms.Tensor(rows)).asnumpy()
    loss, grads = gradients(moe, rows)
    params = moe.trainable_params()
    reduced = moe_hooks.grad_reducer(tuple(grads[p.name] for p in params))
    results["mixtral.loss"] = moe_hooks.loss_mean(ms.Tensor(np.float32(loss))).asnumpy()
    for p, g in zip(params, reduced):
        results[f"mixtral.grad.{p.name}"] = g.asnumpy()
    return rank, results


def main():
    scenario, inputs, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    ms.set_context(mode=ms.GRAPH_MODE, device_target="CPU")
    rank, results = {"mp2": mp2, "dp2mp2": dp2mp2}[scenario](inputs, out)
    np.savez(out / f"rank_{rank}.tmp.npz", **results)
    Path(out / f"rank_{rank}.tmp.npz").rename(out / f"rank_{rank}.npz")
    (out / f"rank_{rank}.done").write_text(json.dumps({"rank": rank}))


if __name__ == "__main__":
    main()
