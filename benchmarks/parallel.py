"""mf-parallel on CPU workers: step time of mp=2 and dp=2 against one process on the same global batch, the bytes
each rank sends per step against the analytical count, and per-rank weight memory against the whole model.

One AdamW step of a Llama (graph mode, the trainer's step: value_and_grad, the dp gradient reducer, the global
norm clip, the optimizer) on a global batch of b rows of s tokens. ``mp2``: vocabulary replicated
(``vocab_emb_dp``), so the model-parallel traffic is Megatron's alone: per layer two all-reduces of b*s*h in the
forward pass (attention and MLP outputs) and two in the backward pass (their inputs' gradients). ``mp2v``: the
vocabulary split too (weights 1/mp), which adds the embedding's all-reduce, the head input's gradient (b*s*h
each) and the parallel cross-entropy's three reductions of b*s values. ``dp2``: one all-reduce of every gradient.
A ring all-reduce of n bytes over p ranks sends 2(p-1)/p * n per rank.
Bytes sent are measured as the growth of ``wchar`` in /proc/self/io (bytes written to files and sockets) over the
timed steps; nothing else writes during them. MindSpore's CPU transport writes each payload byte twice as seen
by ``wchar`` (a bare AllGather of 4 MiB over 2 ranks writes 8 MiB per rank, where 4 MiB must be sent), so each
worker also times a bare all-reduce of 4 MiB: its bytes over the ring count are the transport factor, and the
step's bytes are compared with the analytical count times that factor.

    python benchmarks/parallel.py [--size tiny|small] [--steps 10] [--port 29700]
    python benchmarks/parallel.py --memory [--size small]

``--memory`` compares ``mf-parallel plan``'s activation estimate with a measured peak: the peak RSS (VmHWM) of
one process after training steps at batch 1, 2, 4 and 8 grows linearly with the batch; its slope per row is set
against the estimate's activation bytes per row (float32, no recompute, no flash attention).

On 2 cores no speed-up is expected (the workers share them); the figures to hold are the bytes and the memory.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

SIZES = {"tiny": dict(num_layers=2, hidden_size=256, num_heads=4, n_kv_heads=2, vocab_size=1000, seq=128, batch=4),
         "small": dict(num_layers=4, hidden_size=512, num_heads=8, n_kv_heads=4, vocab_size=1000, seq=256, batch=4)}


def build(size, parallel):
    from mf_config import LlamaConfig
    from mf_models import LlamaForCausalLM

    s = dict(SIZES[size])
    seq, batch = s.pop("seq"), s.pop("batch")
    config = LlamaConfig(**s, seq_length=seq + 1, compute_dtype="float32", param_init_type="float32",
                         parallel_config={"vocab_emb_dp": True, **parallel})  # mp2v overrides vocab_emb_dp
    import mindspore as ms

    ms.set_seed(0)
    return LlamaForCausalLM(config), seq, batch


def step_cell(model, hooks):
    from mindspore import nn, ops

    optimizer = nn.AdamWeightDecay(model.trainable_params(), learning_rate=1e-4)

    class Step(nn.Cell):
        def __init__(self):
            super().__init__(auto_prefix=False)
            self.model, self.optimizer = model, optimizer
            self.grad_fn = ops.value_and_grad(model, None, optimizer.parameters)
            self.hooks = hooks is not None
            if self.hooks:
                self.reduce, self.clip, self.mean = hooks.grad_reducer, hooks.clip_grads, hooks.loss_mean

        def construct(self, ids):
            loss, grads = self.grad_fn(ids)
            if self.hooks:
                grads = self.clip(self.reduce(grads), 1.0)
                loss = self.mean(loss)
            else:
                grads = ops.clip_by_global_norm(grads, 1.0)
            self.optimizer(grads)
            return loss

    step = Step()
    step.set_train(True)
    return step


def wchar():
    with open("/proc/self/io") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("wchar"))


def measure(step, ids, steps):
    import mindspore as ms

    data = ms.Tensor(ids)
    for _ in range(2):
        step(data).asnumpy()
    times, start_bytes = [], wchar()
    for _ in range(steps):
        t = time.perf_counter()
        step(data).asnumpy()
        times.append(time.perf_counter() - t)
    return statistics.median(times), (wchar() - start_bytes) / steps


def transport_factor():
    """wchar bytes of a bare 4 MiB all-reduce over the ring count (2(p-1)/p * 4 MiB, p = 2)."""
    import mindspore as ms
    import numpy as np
    from mindspore import nn, ops

    class Bare(nn.Cell):
        def __init__(self):
            super().__init__()
            self.all_reduce = ops.AllReduce()

        def construct(self, x):
            return self.all_reduce(x)

    cell, x = Bare(), ms.Tensor(np.ones(1 << 20, np.float32))
    cell(x).asnumpy()
    start = wchar()
    for _ in range(5):
        cell(x).asnumpy()
    return (wchar() - start) / 5 / (4 << 20)


def global_batch(size):
    import numpy as np

    s = SIZES[size]
    return np.random.default_rng(0).integers(3, s["vocab_size"], (s["batch"], s["seq"] + 1)).astype(np.int32)


def worker(size, layout, steps, out):
    import mindspore as ms

    import mf_models.cells  # noqa: F401
    from mf_parallel import parallelize, train_hooks

    ms.set_context(mode=ms.GRAPH_MODE, device_target="CPU")
    parallel = {"mp2": {"model_parallel": 2}, "mp2v": {"model_parallel": 2, "vocab_emb_dp": False},
                "dp2": {"data_parallel": 2}}[layout]
    model, _, _ = build(size, parallel)
    model = parallelize(model)
    hooks = train_hooks(model)
    rank, dp = hooks.data_shard
    ids = global_batch(size)
    rows = len(ids) // dp
    seconds, sent = measure(step_cell(model, hooks), ids[rank * rows:(rank + 1) * rows], steps)
    weights = sum(p.size * 4 for p in model.get_parameters())
    rank_id = model.parallel_state.runtime.rank
    (Path(out) / f"rank_{rank_id}.json").write_text(json.dumps({"seconds": seconds, "sent": sent,
                                                                 "weights": weights, "factor": transport_factor()}))


def single(size, steps):
    import mindspore as ms

    import mf_models.cells  # noqa: F401

    ms.set_context(mode=ms.GRAPH_MODE, device_target="CPU")
    model, _, _ = build(size, {})
    seconds, _ = measure(step_cell(model, None), global_batch(size), steps)
    return seconds, sum(p.size * 4 for p in model.get_parameters()), sum(p.size for p in model.trainable_params())


def launch(size, layout, steps, port, out):
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "mf_parallel.cli", "launch", "--worker_num", "2", "--master_port", str(port),
           "--log_dir", str(out / "logs"), "--", "python", __file__, "--worker", layout, "--size", size,
           "--steps", str(steps), "--out", str(out)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return [json.loads((out / f"rank_{r}.json").read_text()) for r in range(2)]


def report(size, steps, port, out):
    s = SIZES[size]
    one, full_weights, params = single(size, steps)
    tokens = s["batch"] * s["seq"]
    act = tokens * s["hidden_size"] * 4
    ring = 2 * (2 - 1) / 2
    expected = {"mp2": 4 * s["num_layers"] * act * ring, "mp2v": ((4 * s["num_layers"] + 2) * act + 16 * tokens) * ring,
                "dp2": params * 4 * ring}
    print(f"{size}: {s['num_layers']} layers, hidden {s['hidden_size']}, global batch {s['batch']} x {s['seq']}, "
          f"{steps} timed steps; load average {os.getloadavg()[0]:.1f} before")
    print(f"one process: {one * 1000:.1f} ms/step, weights {full_weights / 2**20:.2f} MiB")
    print("layout  ms/step  vs one  sent/rank/step (KiB)  analytical (KiB)  transport factor  "
          "sent/(analytical x factor)  weights/rank (MiB)  weights/whole")
    for i, layout in enumerate(("mp2", "mp2v", "dp2")):
        ranks = launch(size, layout, steps, port + i, out / layout)
        ms = max(r["seconds"] for r in ranks) * 1000
        sent = statistics.mean(r["sent"] for r in ranks)
        weights = max(r["weights"] for r in ranks)
        factor = statistics.mean(r["factor"] for r in ranks)
        print(f"{layout:6}  {ms:7.1f}  {ms / (one * 1000):6.2f}  {sent / 1024:20.1f}  {expected[layout] / 1024:16.1f}"
              f"  {factor:16.3f}  {sent / expected[layout] / factor:25.3f}  {weights / 2**20:18.2f}"
              f"  {weights / full_weights:13.3f}")
    print(f"load average {os.getloadavg()[0]:.1f} after")


def memory_worker(size, rows):
    """Peak RSS after three training steps of one process at ``rows`` rows (printed as JSON)."""
    import mindspore as ms
    import numpy as np

    import mf_models.cells  # noqa: F401

    ms.set_context(mode=ms.GRAPH_MODE, device_target="CPU")
    model, seq, _ = build(size, {})
    step = step_cell(model, None)
    ids = ms.Tensor(np.random.default_rng(0).integers(3, SIZES[size]["vocab_size"], (rows, seq + 1)).astype(np.int32))
    for _ in range(3):
        step(ids).asnumpy()
    with open("/proc/self/status") as f:
        print(json.dumps({"hwm": next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) * 1024}))


def memory_report(size):
    from mf_parallel.memory import Workload, estimate
    from mf_parallel.mesh import Mesh

    peaks = {}
    for rows in (1, 2, 4, 8):
        out = subprocess.run([sys.executable, __file__, "--size", size, "--memory_rows", str(rows)],
                             capture_output=True, text=True, check=True).stdout
        peaks[rows] = json.loads(out.strip().splitlines()[-1])["hwm"]
    model, seq, _ = build(size, {})
    work = [estimate(model.config, Mesh(), Workload(batch=rows, seq=seq)).activations for rows in (1, 8)]
    measured, estimated = (peaks[8] - peaks[1]) / 7, (work[1] - work[0]) / 7
    print(f"{size}: peak RSS at batch 1, 2, 4, 8 x {seq}: " + ", ".join(f"{v / 2**20:.0f}" for v in peaks.values())
          + " MiB")
    print(f"activations per batch row: measured {measured / 2**20:.1f} MiB, plan's estimate "
          f"{estimated / 2**20:.1f} MiB (measured / estimate {measured / estimated:.2f})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--port", type=int, default=29700)
    parser.add_argument("--out", default="/tmp/mf_parallel_bench")
    parser.add_argument("--worker", choices=("mp2", "mp2v", "dp2"))
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--memory_rows", type=int)
    args = parser.parse_args()
    if args.memory_rows:
        memory_worker(args.size, args.memory_rows)
    elif args.memory:
        memory_report(args.size)
    elif args.worker:
        worker(args.size, args.worker, args.steps, args.out)
    else:
        report(args.size, args.steps, args.port, Path(args.out))


if __name__ == "__main__":
    main()
