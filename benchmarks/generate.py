"""mf-generate vs transformers (torch, CPU): greedy generation tokens/s of a tiny and a small Llama.

The same random weights (a transformers model saved and converted on the fly by mf-ckpt) run in
``mf_generate.generate`` (MindSpore graph mode, float32) with ``use_past`` on (prefill + one-token decode
steps on the static KV cache) and off (full recompute of a fixed window each step), and in transformers'
``generate`` with its cache, in one process. Both sides get the same stopping rule: no eos (ours
``eos_token_id=[]``, transformers' generation config without one), so each stops at exactly ``new`` tokens and
neither pays for a rule the other lacks. Prints tokens/s (new tokens of all rows / wall time), CPU seconds per call,
cores used, and the ratios ours/transformers of tokens per wall second and per CPU second (> 1: ours is faster);
then the decode time per token at positions 16 and 256 and the graphs a generation uses.

Cold start is measured, not excluded: each side in a fresh process (``--child``) loads the folder and generates
once; ours runs twice on an empty compile cache folder (``MF_COMPILE_CACHE``): cold (compiles), then warm (loads
the graphs the first run left). Rows: load, time to the first token, first call and its CPU time. Usage:

    python benchmarks/generate.py [--sizes tiny small] [--batches 1 8] [--new 64 256] [--off_new 16] [--repeat 7]
                                  [--threads N] [--pin]

The issue 18 variants: ``--threads 1 --pin`` (one pinned core: the decode target) and ``--threads 2``.
Every figure is the best of ``--repeat`` runs, ours and transformers taking turns (the first, cold call of each
apart): on a shared VM the same work takes up to twice as long from one second to the next, and the best run is
the one least disturbed. ``--off_new`` caps the tokens of the (slow, kept-for-checking) use_past=off runs; their
cost per step does not depend on the step, as the recomputed window has a fixed size.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import _common

THREADS = _common.cpu_setup()  # before torch and MindSpore load: they read the thread env once

import mindspore as ms  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402

from mf_generate import generate  # noqa: E402
from mf_generate.loading import load_pretrained  # noqa: E402

SIZES = {  # name: (layers, hidden, heads, kv heads, intermediate, vocab)
    "tiny": (2, 256, 4, 2, 704, 1000),
    "small": (4, 512, 8, 4, 1408, 32000),
}
PROMPT = 32


def models(size, folder):
    """(ours, transformers') with the same random weights."""
    layers, hidden, heads, kv, inter, vocab = SIZES[size]
    torch.manual_seed(0)
    config = transformers.LlamaConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=inter,
                                      num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv,
                                      max_position_embeddings=512, bos_token_id=1, eos_token_id=2)
    theirs = transformers.LlamaForCausalLM(config).eval()
    theirs.save_pretrained(folder)
    ours, _ = load_pretrained(folder)
    return ours, no_eos(theirs)


def no_eos(theirs):
    """transformers' model with the stopping rule ours gets (``eos_token_id=[]``): none but the token count."""
    theirs.generation_config.eos_token_id = None
    return theirs


def ours_fn(model, prompts, new, use_past):
    def run():
        out = generate(model, prompts, max_new_tokens=new, do_sample=False, use_past=use_past, eos_token_id=[])
        assert all(len(o) == PROMPT + new for o in out)
    return run


def theirs_fn(model, prompts, new, streamer=None):
    ids = torch.tensor(prompts)

    def run():
        with torch.no_grad():
            out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new, do_sample=False,
                                 use_cache=True, pad_token_id=0, streamer=streamer)
        assert out.shape[1] == PROMPT + new
    return run


def decode_times(model, positions=(16, 256), window=8, runs=7):
    """Seconds of one batch-1 decode step at each position (the median of the steps within ``window`` of it in
    a generation after an 8-token prompt, best of ``runs`` generations), and the number of graphs compiled for
    those generations (the first compiles; the others reuse them)."""
    steps = []
    decode = model.decode

    def timed_decode(*args, **kwargs):
        start = time.perf_counter()
        out = decode(*args, **kwargs)
        out.asnumpy()
        steps[-1].append(time.perf_counter() - start)
        return out

    model.decode = timed_decode
    model.decode_sessions.clear()  # forget compiled graphs: count those this generation compiles
    try:
        for _ in range(runs + 1):  # the first compiles
            steps.append([])
            generate(model, [list(range(3, 11))], max_new_tokens=max(positions) + window, do_sample=False,
                     use_past=True, eos_token_id=[])
    finally:
        del model.decode
    # step i feeds the token at position 8 + i
    return {p: min(statistics.median(run[p - 8 - window // 2:p - 8 + window // 2]) for run in steps[1:])
            for p in positions}, sum(len(g.compile_cache) for g in model.decode_sessions.graphs().values())


class FirstToken(transformers.generation.streamers.BaseStreamer):
    """Notes when transformers hands out its first new token (its first ``put`` is the prompt)."""

    def __init__(self):
        self.puts, self.at = 0, None

    def put(self, value):
        self.puts += 1
        if self.puts == 2:
            self.at = time.perf_counter()

    def end(self):
        pass


def first_call(side, folder, batch, new):
    """In a fresh process: load the folder, generate once; the seconds of each part and the first call's CPU."""
    prompts = np.random.default_rng(0).integers(3, SIZES["tiny"][-1], (batch, PROMPT)).tolist()  # in every vocab
    start = time.perf_counter()
    if side == "ours":
        model, _ = load_pretrained(folder)
    else:
        model = no_eos(transformers.LlamaForCausalLM.from_pretrained(folder).eval())
    loaded, timing, streamer = time.perf_counter(), {}, FirstToken()
    wall, cpu, _ = _common.timed(lambda: generate(model, prompts, max_new_tokens=new, do_sample=False,
                                                  eos_token_id=[], timing=timing) if side == "ours" else
                                 theirs_fn(model, prompts, new, streamer)())
    first = timing["first_token_s"] if side == "ours" else streamer.at - loaded
    return {"load_s": loaded - start, "first_token_s": first, "call_s": wall, "call_cpu_s": cpu}


def cold_rows(size, folder, batch, new, args):
    """The first call of each side in fresh processes: transformers, ours on an empty compile cache, ours again
    (the cache the first left: MindSpore's graphs under mf's journal, compile_cache.py)."""
    command = [sys.executable, __file__, "--child", "SIDE", str(folder), str(batch), str(new)]
    command += [f"--threads={THREADS}"] if THREADS else []
    command += ["--pin"] if args.pin else []
    rows = {}
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "MF_COMPILE_CACHE": cache}
        for name, side in (("transformers", "theirs"), ("ours cold cache", "ours"), ("ours warm cache", "ours")):
            out, wall, cpu, _ = _common.child([side if c == "SIDE" else c for c in command], env=env)
            rows[name] = {**json.loads(out.strip().splitlines()[-1]), "process_s": wall, "process_cpu_s": cpu}
    for name, r in rows.items():
        print(f"{size:6} {batch:5d} {new:4d} {name:16} load {r['load_s']:6.2f} s, first token "
              f"{r['first_token_s']:6.3f} s, first call {r['call_s']:6.2f} s (CPU {r['call_cpu_s']:6.2f} s); "
              f"process {r['process_s']:6.2f} s "
              f"(CPU {r['process_cpu_s']:6.2f} s, both frameworks imported)", flush=True)
    if size == "tiny":
        _common.check("tiny: ours' time to first token on a warm compile cache", rows["ours warm cache"]
                      ["first_token_s"], 1.0, higher=False, unit=" s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--new", nargs="+", type=int, default=[64, 256])
    parser.add_argument("--off_new", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    _common.add_cpu_args(parser)
    args = parser.parse_args()
    ms.set_context(mode=ms.GRAPH_MODE)
    _common.frameworks(THREADS)
    if args.child:
        side, folder, batch, new = args.child
        print(json.dumps(first_call(side, folder, int(batch), int(new))))
        return
    print(f"torch threads {torch.get_num_threads()}, {_common.describe(THREADS)}; prompt {PROMPT} tokens, greedy, "
          f"float32, no eos on either side; best of {args.repeat}, sides interleaved")
    print(f"before: {_common.load()}")
    print(f"{'model':6} {'batch':>5} {'new':>4} {'ours cache':>11} {'ours recompute':>15} {'transformers':>13} "
          f"{'CPU s ours':>10} {'theirs':>7} {'cores':>9} {'wall x':>6} {'CPU x':>6}   (tokens/s; x = ours / theirs)")
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            ours, theirs = models(size, tmp)
            cold_rows(size, Path(tmp), 1, args.new[0], args)  # batch 1: transformers streams only one row
        measure(size, ours, theirs, args)
        times, graphs = decode_times(ours)
        print(f"{size}: decode step at position 16 {times[16] * 1e3:.2f} ms, at 256 {times[256] * 1e3:.2f} ms "
              f"(ratio {times[256] / times[16]:.2f}); graphs used per generation: {graphs}", flush=True)
    print(f"after: {_common.load()}")


def measure(size, ours, theirs, args):
    vocab = SIZES[size][-1]
    rng = np.random.default_rng(0)
    for batch in args.batches:
        prompts = rng.integers(3, vocab, (batch, PROMPT)).tolist()
        for new in args.new:
            off_new = min(new, args.off_new)
            off_run, = _common.interleave([ours_fn(ours, prompts, off_new, False)], 1)
            mine, hf = _common.interleave([ours_fn(ours, prompts, new, True), theirs_fn(theirs, prompts, new)],
                                          args.repeat)
            (ours_s, ours_cpu), (hf_s, hf_cpu) = mine.best(), hf.best()
            cache, hf_rate, tokens = batch * new / ours_s, batch * new / hf_s, batch * new
            print(f"{size:6} {batch:5d} {new:4d} {cache:11.1f} {batch * off_new / off_run.best()[0]:15.1f} "
                  f"{hf_rate:13.1f} {ours_cpu:10.3f} {hf_cpu:7.3f} {mine.cores():4.2f}/{hf.cores():4.2f} "
                  f"{cache / hf_rate:6.2f} {hf_cpu / ours_cpu:6.2f}", flush=True)
            _common.check_cores(f"{size} b{batch} ours / transformers", max(mine.cores(), hf.cores()), THREADS)
            if batch == 1 and THREADS == 1:
                _common.check(f"{size} batch 1 decode on one core, ours/transformers tokens/s ({tokens} tokens)",
                              cache / hf_rate, 1.0)


if __name__ == "__main__":
    main()
