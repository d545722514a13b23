"""mf-generate vs transformers (torch, CPU): greedy generation tokens/s of a tiny and a small Llama.

The same random weights (a transformers model saved and converted on the fly by mf-ckpt) run in
``mf_generate.generate`` (MindSpore graph mode, float32) with ``use_past`` on (prefill + one-token decode
steps on the static KV cache) and off (full recompute of a fixed window each step), and in transformers'
``generate`` with its cache, in one process. Every row makes exactly the requested number of tokens (no
eos). Prints tokens/s (new tokens of all rows / wall time, compile excluded by a warm-up call) and the
ratio ours/transformers (> 1: ours is faster); then the decode time per token at positions 16 and 256 and
the graphs a generation uses. Usage:

    python benchmarks/generate.py [--sizes tiny small] [--batches 1 8] [--new 64 256] [--off_new 16] [--repeat 7]

Every figure is the best of ``--repeat`` runs, ours and transformers taking turns: on a shared VM the same
work takes up to twice as long from one second to the next (a numpy matmul loop shows it), and the best run
is the one least disturbed; a median moved the ratios by +-30% between runs.

``--off_new`` caps the tokens of the (slow, kept-for-checking) use_past=off runs; their cost per step does
not depend on the step, as the recomputed window has a fixed size.
"""

import argparse
import statistics
import tempfile
import time

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
    return ours, theirs


def timed(fns, repeat):
    """Best seconds of each function over ``repeat`` calls; one warm-up call each (compiles our graphs), then
    the functions take turns, so that a change in the machine's load falls on all of them alike."""
    times = [[] for _ in fns]
    for fn in fns:
        fn()
    for _ in range(repeat):
        for fn, spent in zip(fns, times):
            start = time.perf_counter()
            fn()
            spent.append(time.perf_counter() - start)
    return [min(t) for t in times]


def ours_fn(model, prompts, new, use_past):
    def run():
        out = generate(model, prompts, max_new_tokens=new, do_sample=False, use_past=use_past, eos_token_id=[])
        assert all(len(o) == PROMPT + new for o in out)
    return run


def theirs_fn(model, prompts, new):
    ids = torch.tensor(prompts)

    def run():
        with torch.no_grad():
            out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new, min_new_tokens=new,
                                 do_sample=False, use_cache=True, pad_token_id=0)
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--new", nargs="+", type=int, default=[64, 256])
    parser.add_argument("--off_new", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--runtime_num_threads", type=int, default=None,
                        help="MindSpore's CPU kernel threads (context.runtime_num_threads of a MindFormers YAML)")
    args = parser.parse_args()
    ms.set_context(mode=ms.GRAPH_MODE)
    if args.runtime_num_threads:
        ms.set_context(runtime_num_threads=args.runtime_num_threads)
    print(f"torch threads {torch.get_num_threads()}, prompt {PROMPT} tokens, greedy, float32, best of "
          f"{args.repeat}")
    print(f"{'model':6} {'batch':>5} {'new':>4} {'ours cache':>11} {'ours recompute':>15} {'transformers':>13} "
          f"{'ratio':>6}   (tokens/s; ratio = ours cache / transformers)")
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            ours, theirs = models(size, tmp)
        vocab = SIZES[size][-1]
        rng = np.random.default_rng(0)
        for batch in args.batches:
            prompts = rng.integers(3, vocab, (batch, PROMPT)).tolist()
            for new in args.new:
                off_new = min(new, args.off_new)
                off = batch * off_new / timed([ours_fn(ours, prompts, off_new, False)], 1)[0]
                ours_s, theirs_s = timed([ours_fn(ours, prompts, new, True), theirs_fn(theirs, prompts, new)],
                                         args.repeat)
                cache, hf = batch * new / ours_s, batch * new / theirs_s
                print(f"{size:6} {batch:5d} {new:4d} {cache:11.1f} {off:15.1f} {hf:13.1f} {cache / hf:6.2f}",
                      flush=True)
        times, graphs = decode_times(ours)
        print(f"{size}: decode step at position 16 {times[16] * 1e3:.2f} ms, at 256 {times[256] * 1e3:.2f} ms "
              f"(ratio {times[256] / times[16]:.2f}); graphs used per generation: {graphs}", flush=True)


if __name__ == "__main__":
    main()
