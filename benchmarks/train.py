"""`mf-train run` against a hand-written torch loop over transformers' LlamaForCausalLM, same shapes and data.

Both sides train a Llama from scratch on WikiText text tokenized by mf-data (Mistral's tokenizer, vocab 32000):
AdamW (betas 0.9/0.95, weight decay 0.1 on matrices), warmup-cosine schedule, gradient clipping at 1.0, float32,
the same number of CPU threads (OMP_NUM_THREADS, torch.set_num_threads, MindSpore's runtime_num_threads), each in
its own process, taking turns (order swapped every round). Ours is the whole trainer (data loading, callbacks, a
log line and a metrics.jsonl line per step, a checkpoint at the end). Printed per size:

- tokens/s after the first 5 steps, ours / torch (> 1: ours is faster), best of --repeat turns;
- the trainer's overhead over its bare compiled step (wall time of the steps / time inside the step call - 1);
- time to the first step (process start to step 1 done: imports, build, compile);
- peak RSS of each process; the checkpoint save (weights, optimizer state, manifest) against copying its bytes;
- each whole process's wall and CPU time (from wait4: imports, build, compile and steps) and the cores it used,
  which verifies the thread setting (``--pin``: one pinned core, inherited by both children).

``--recompute``: both sides recompute each layer's forward pass in the backward pass (ours
``recompute_config.recompute: true``, torch transformers' ``gradient_checkpointing_enable()``).

Issue 18 sets no target for training; the figures are for comparison.

    python benchmarks/train.py [--sizes tiny small] [--steps 30] [--repeat 2] [--threads 2] [--pin] [--recompute]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common

THREADS = _common.cpu_setup()

import yaml  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "packages" / "mf-train" / "src" / "mf_train" / "configs" / "pretrain_llama_tiny.yaml"
SIZES = {  # layers, hidden, heads, kv heads, seq, batch
    "tiny": (2, 256, 4, 2, 128, 4),
    "small": (4, 1024, 16, 8, 512, 4),
}
WARM = 5


def script(name):
    return str(Path(sys.executable).parent / name)


def assets():
    from mf_config.testing import find_assets

    return find_assets()


def sp_model():
    return assets() / "tokenizers" / "mistral-7b-v0.1.sp.model"


def dataset(seq, cache):
    out = cache / f"wiki_{seq}"
    if not out.exists():
        subprocess.run([script("mf-data"), "preprocess", "--dataset_type", "wiki", "--input_glob",
                        str(assets() / "text" / "wiki.train.tokens"), "--tokenizer", str(sp_model()),
                        "--seq_length", str(seq),
                        "--output_file", str(out), "--format", "indexed", "--no_progress"], check=True)
    return out


def task_yaml(size, data, steps, threads, folder, recompute):
    layers, hidden, heads, kv, seq, batch = SIZES[size]
    task = yaml.safe_load(EXAMPLE.read_text())
    task["model"]["model_config"].update(num_layers=layers, hidden_size=hidden, num_heads=heads, n_kv_heads=kv,
                                         seq_length=seq, intermediate_size=None)
    task["processor"]["tokenizer"]["vocab_file"] = str(sp_model())
    task["train_dataset"]["data_loader"]["dataset_dir"] = str(data)
    task["runner_config"].update(batch_size=batch, sink_mode=True, sink_size=steps, epochs=1)
    task["context"]["runtime_num_threads"] = threads
    task["do_eval"] = False
    task["recompute_config"] = {"recompute": recompute}
    task["output_dir"] = str(folder / "output")
    task["callbacks"] = [{"type": "MFLossMonitor", "per_print_times": 1},
                         {"type": "CheckpointMonitor", "prefix": size, "save_checkpoint_steps": 10 ** 6}]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "task.yaml"
    path.write_text(yaml.safe_dump(task, sort_keys=False))
    return path


def child(command, threads):
    """Run a side in its own process: (its stdout, wall seconds, CPU seconds, its own peak RSS in MB)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    return _common.child(command, env=env)


def ours(size, data, steps, threads, folder, recompute):
    task = task_yaml(size, data, steps, threads, folder, recompute)
    shutil.rmtree(folder / "output", ignore_errors=True)
    _, wall, cpu, rss = child([script("mf-train"), "run", "--config", str(task), "--no_progress"], threads)
    records = [json.loads(x) for x in (folder / "output" / "metrics.jsonl").read_text().splitlines()]
    steps_ = [r for r in records if "loss" in r]
    saved = [r for r in records if "checkpoint" in r][-1]
    span = steps_[-1]["elapsed_s"] - steps_[WARM - 1]["elapsed_s"]
    inside = sum(r["step_time_ms"] for r in steps_[WARM:]) / 1000
    tokens = sum(r["tokens"] for r in steps_[WARM:])
    first = wall - steps_[-1]["elapsed_s"] + steps_[0]["elapsed_s"]  # process start to step 1 (end part excluded)
    return {"tokens_per_s": tokens / span, "overhead": span / inside - 1, "first_step_s": first, "rss_mb": rss,
            "save_s": saved["save_s"], "ckpt_bytes": saved["bytes"], "ckpt": saved["checkpoint"],
            "loss": steps_[-1]["loss"], "process_s": wall, "process_cpu_s": cpu}


def torch_side(size, data, steps, threads, recompute):
    out, wall, cpu, rss = child([sys.executable, __file__, "--torch-child", size, str(data), str(steps),
                                 str(threads), str(int(recompute))], threads)
    result = json.loads(out.strip().splitlines()[-1])
    result["first_step_s"] = wall - result.pop("after_first_s")
    result.update(rss_mb=rss, process_s=wall, process_cpu_s=cpu)
    return result


def torch_loop(size, data, steps, threads, recompute=False):
    """The torch side, in its own process: what a user writes with transformers and torch.optim."""
    start = time.perf_counter()
    import math

    import numpy as np
    import torch
    import transformers

    from mf_config import LlamaConfig
    from mf_data.dataset import numpy_batches

    torch.set_num_threads(threads)
    layers, hidden, heads, kv, seq, batch = SIZES[size]
    ffn = LlamaConfig(hidden_size=hidden, num_heads=heads).ffn_hidden_size
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(transformers.LlamaConfig(
        vocab_size=32000, hidden_size=hidden, intermediate_size=ffn, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=kv, max_position_embeddings=seq, rms_norm_eps=1e-5))
    model.train()
    if recompute:
        model.gradient_checkpointing_enable()
    decay = [p for p in model.parameters() if p.ndim > 1]
    rest = [p for p in model.parameters() if p.ndim <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}],
                            lr=3e-3, betas=(0.9, 0.95), eps=1e-8)
    warm = max(1, int(0.05 * steps))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: s / warm if s < warm else
                                              0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (s - warm) / (steps - warm))))
    section = {"data_loader": {"type": "IndexedDataset", "dataset_dir": data, "shuffle": True},
               "input_columns": ["input_ids"]}
    times, after_first = [], None
    for i, rows in enumerate(numpy_batches(section, batch_size=batch)):
        if i == steps:
            break
        ids = torch.from_numpy(rows["input_ids"].astype(np.int64))
        loss = model(input_ids=ids, labels=ids).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        value = loss.item()
        print(f"step {i + 1} loss {value:.6f}", file=sys.stderr)  # as a trainer logs each step
        times.append(time.perf_counter())
        if after_first is None:
            after_first = time.perf_counter() - start
    tokens = batch * (seq - 1) * (steps - WARM)
    return {"tokens_per_s": tokens / (times[-1] - times[WARM - 1]), "after_first_s": time.perf_counter() - start
            - after_first, "loss": value}


def copy_seconds(folder):
    """Best of 3: copying a checkpoint folder's bytes (from the page cache, as the save writes from memory)."""
    best = float("inf")
    for _ in range(3):
        with tempfile.TemporaryDirectory(dir=Path(folder).parent) as tmp:
            start = time.perf_counter()
            for f in Path(folder).iterdir():
                shutil.copyfile(f, Path(tmp) / f.name)
            os.sync()
            best = min(best, time.perf_counter() - start)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--recompute", action="store_true", help="both sides recompute layers in the backward")
    parser.add_argument("--torch-child", nargs=5, help=argparse.SUPPRESS)
    _common.add_cpu_args(parser)
    args = parser.parse_args()
    args.threads = THREADS or 2
    if args.torch_child:
        size, data, steps, threads, recompute = args.torch_child
        print(json.dumps(torch_loop(size, data, int(steps), int(threads), bool(int(recompute)))))
        return
    how = "OMP/MKL env, torch.set_num_threads, runtime_num_threads"
    print(f"before: {_common.load()}; {_common.describe(args.threads, how)}; {args.steps} steps"
          f"{'; layers recomputed' if args.recompute else ''}", flush=True)
    with tempfile.TemporaryDirectory(prefix="mf-bench-train-") as tmp:
        tmp = Path(tmp)
        for size in args.sizes:
            data = dataset(SIZES[size][4], tmp)
            runs = []
            for i in range(args.repeat):  # taking turns, so a slow moment of the machine falls on both
                sides = [lambda: ours(size, data, args.steps, args.threads, tmp / size, args.recompute),  # noqa: B023
                         lambda: torch_side(size, data, args.steps, args.threads, args.recompute)]  # noqa: B023
                done = [side() for side in (sides if i % 2 == 0 else sides[::-1])]
                runs.append(done if i % 2 == 0 else done[::-1])
            report(size, runs, tmp / size)
    print(f"after: {_common.load()}")


def report(size, runs, folder):
    best_ours = max((r[0] for r in runs), key=lambda r: r["tokens_per_s"])
    best_torch = max((r[1] for r in runs), key=lambda r: r["tokens_per_s"])
    copy = copy_seconds(Path(best_ours["ckpt"]))
    rss = (f"{best_ours['rss_mb']:.0f} / {best_torch['rss_mb']:.0f} MB = "
           f"{best_ours['rss_mb'] / best_torch['rss_mb']:.2f}x")
    print(f"{size}: tokens/s ours {best_ours['tokens_per_s']:.0f}, torch {best_torch['tokens_per_s']:.0f}, "
          f"ratio {best_ours['tokens_per_s'] / best_torch['tokens_per_s']:.2f}x; trainer overhead "
          f"{best_ours['overhead'] * 100:.1f}%; first step {best_ours['first_step_s']:.1f} s / "
          f"{best_torch['first_step_s']:.1f} s; peak RSS {rss}; checkpoint {best_ours['ckpt_bytes'] / 1e6:.0f} MB "
          f"saved in {best_ours['save_s']:.2f} s = {best_ours['save_s'] / copy:.2f}x copying it ({copy:.2f} s)",
          flush=True)
    for name, r in (("ours", best_ours), ("torch", best_torch)):
        cores = r["process_cpu_s"] / r["process_s"]
        print(f"  {name:5} process {r['process_s']:.1f} s, CPU {r['process_cpu_s']:.1f} s ({cores:.2f} cores)")
        _common.check_cores(f"{size} {name} process", cores, THREADS)
    print(f"  process ratios torch/ours: wall {best_torch['process_s'] / best_ours['process_s']:.2f}x, CPU "
          f"{best_torch['process_cpu_s'] / best_ours['process_cpu_s']:.2f}x (no target in issue 18)")


if __name__ == "__main__":
    main()
