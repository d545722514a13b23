"""Benchmark: every mf-tokenizers class against its raw backend, in one process, on pydocs.txt.

    python benchmarks/tokenizer_speed.py [--rounds 3] [--lines N] [--threads N] [--pin]

Each round encodes the corpus in calls of --chunk lines (a list per call, as a data job does) through our
class and through the backend it wraps (sentencepiece, tiktoken, tokenizers), each call of ours right
next to the same call of the raw backend; per call the best round of each counts.
The ratio is our speed over the raw backend's (1.0x = as fast; issue 18's target for the fast classes is
>= 0.95x wall and >= 0.97x CPU, checked), from wall time and from this process's CPU time (steadier on a machine
shared with other jobs). Both sides use the same threads: ``--threads N`` (default: every usable core, our
classes' default) goes to our class's ``num_threads`` and to the raw call (sentencepiece and tiktoken take it per
call; the ``tokenizers`` library through ``RAYON_NUM_THREADS``, set before it loads); ``--pin`` runs on one core.
``tok(lines)`` is timed as users call it, attention masks included. Every call starts after a full garbage
collection (not timed), so that the collector's passes a call meets are those its own objects cause.
Also prints the time of ``import mf_tokenizers`` in a fresh interpreter.
"""

import argparse
import gc
import subprocess
import sys
import tempfile
from pathlib import Path

import _common

THREADS = _common.cpu_setup()  # before tokenizers loads: Rayon reads RAYON_NUM_THREADS once

from mf_config.testing import find_assets  # noqa: E402

timed = _common.timed


def interleaved(tok, raw, lines, rounds, chunk):
    """Time ``tok(chunk)`` and ``raw(chunk)`` back to back on each chunk of lines, ``rounds`` times
    (swapping their order each round); sum over chunks of the best time of each. Measuring both
    within milliseconds of each other keeps the load of other processes out of the ratio."""
    chunks = [lines[i:i + chunk] for i in range(0, len(lines), chunk)]
    best = {k: [float("inf")] * len(chunks) for k in ("ours_t", "raw_t", "ours_c", "raw_c")}
    cores = {"ours": 0.0, "raw": 0.0}
    ours, ref = [], []
    for r in range(rounds):
        for i, part in enumerate(chunks):
            order = [("ours", lambda p=part: tok(p)["input_ids"]), ("raw", lambda p=part: raw(p))]
            for name, fn in order if r % 2 == 0 else order[::-1]:
                gc.collect()  # each call starts from a collected heap: neither side pays for the other's objects
                wall, cpu, out = timed(fn)
                best[name + "_t"][i] = min(best[name + "_t"][i], wall)
                best[name + "_c"][i] = min(best[name + "_c"][i], cpu)
                cores[name] = max(cores[name], cpu / wall if wall > 0.01 else 0.0)
                if r == 0:
                    (ours if name == "ours" else ref).extend(out)
    return (*(sum(best[k]) for k in ("ours_t", "raw_t", "ours_c", "raw_c")), ours, ref, cores)


def import_time(rounds=5):
    code = "import time; t = time.perf_counter(); import mf_tokenizers; print(time.perf_counter() - t)"
    return min(float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                    check=True).stdout) for _ in range(rounds))


def cases(assets, tmp, threads):
    """(name, our tokenizer, raw backend call, fast class?) for each class."""
    import sentencepiece
    import tiktoken
    from tiktoken.load import load_tiktoken_bpe
    from tokenizers import Tokenizer

    from mf_tokenizers import (
        BloomTokenizerFast,
        GPT2Tokenizer,
        GPT2TokenizerFast,
        Llama3Tokenizer,
        LlamaTokenizer,
        LlamaTokenizerFast,
    )
    from mf_tokenizers.byte_level import GPT2_PATTERN, LLAMA3_PATTERN
    from mf_tokenizers.llama3 import llama3_special_tokens

    tok_dir = assets / "tokenizers"
    sp_path = tok_dir / "mistral-7b-v0.1.sp.model"
    llama = LlamaTokenizer(sp_path, num_threads=threads)
    sp = sentencepiece.SentencePieceProcessor(model_file=str(sp_path))
    yield ("LlamaTokenizer", llama, "sentencepiece encode(list, add_bos, num_threads)",
           lambda lines: sp.encode(lines, add_bos=True, num_threads=llama.num_threads), True)

    llama_fast = LlamaTokenizerFast(sp_path)  # both sides: the tokenizers library's threads (RAYON_NUM_THREADS)
    raw = Tokenizer.from_str(llama_fast.backend_tokenizer.to_str())
    yield ("LlamaTokenizerFast", llama_fast, "tokenizers encode_batch_fast",
           lambda lines: [e.ids for e in raw.encode_batch_fast(lines)], True)

    llama3 = Llama3Tokenizer(tok_dir / "cl100k_base.tiktoken", num_threads=threads)
    ranks = load_tiktoken_bpe(str(tok_dir / "cl100k_base.tiktoken"))
    enc = tiktoken.Encoding("llama3", pat_str=LLAMA3_PATTERN, mergeable_ranks=ranks,
                            special_tokens={n: len(ranks) + i for i, n in enumerate(llama3_special_tokens())})
    bos = llama3.bos_token_id
    yield ("Llama3Tokenizer", llama3, "tiktoken encode_batch(allowed_special) + bos",
           lambda lines: [[bos, *ids] for ids in enc.encode_batch(lines, num_threads=llama3.num_threads,
                                                                  allowed_special="all")], True)

    gpt2_fast = GPT2TokenizerFast(tok_dir / "gpt2.tiktoken")
    raw_gpt2 = Tokenizer.from_str(gpt2_fast.backend_tokenizer.to_str())
    yield ("GPT2TokenizerFast", gpt2_fast, "tokenizers encode_batch_fast",
           lambda lines: [e.ids for e in raw_gpt2.encode_batch_fast(lines)], True)

    gpt2_fast.save_pretrained(tmp)
    bloom = BloomTokenizerFast(tokenizer_file=Path(tmp) / "tokenizer.json")
    raw_bloom = Tokenizer.from_file(str(Path(tmp) / "tokenizer.json"))
    yield ("BloomTokenizerFast", bloom, "tokenizers encode_batch_fast",
           lambda lines: [e.ids for e in raw_bloom.encode_batch_fast(lines)], True)

    gpt2_ranks = load_tiktoken_bpe(str(tok_dir / "gpt2.tiktoken"))
    gpt2_enc = tiktoken.Encoding("gpt2", pat_str=GPT2_PATTERN, mergeable_ranks=gpt2_ranks,
                                 special_tokens={"<|endoftext|>": 50256})
    gpt2 = GPT2Tokenizer(tok_dir / "gpt2.tiktoken")

    def gpt2_cold(lines):  # each call starts with an empty piece cache
        gpt2.backend.cache.clear()
        return gpt2(lines)

    yield ("GPT2Tokenizer (plain Python)", gpt2_cold,
           "tiktoken encode_batch(allowed_special='all')",
           lambda lines: gpt2_enc.encode_batch(lines, allowed_special="all"), False)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--lines", type=int, default=None, help="use only the first N lines")
    parser.add_argument("--chunk", type=int, default=2000, help="lines per timed call")
    _common.add_cpu_args(parser)
    args = parser.parse_args()
    assets = find_assets()
    lines = (assets / "text" / "pydocs.txt").read_text(encoding="utf-8").split("\n")[:args.lines]
    mb = sum(len(x.encode()) for x in lines) / 1e6
    print(f"pydocs.txt: {len(lines)} lines, {mb:.1f} MB, in calls of {args.chunk} lines; best of {args.rounds} "
          f"rounds per call; {_common.describe(THREADS, 'num_threads of both calls, RAYON_NUM_THREADS')}")
    print(f"before: {_common.load()}")
    print(f"import mf_tokenizers: {import_time() * 1000:.0f} ms (fresh interpreter, best of 5)")
    header = (f"{'class':30} {'raw backend call':46} {'tokens':>9} {'ours s':>7} {'raw s':>7} {'ratio':>6} "
              f"{'CPU ratio':>9} {'cores ours/raw':>14}")
    print(header)
    print("-" * len(header))
    worst, verdicts = None, []
    with tempfile.TemporaryDirectory() as tmp:
        for name, tok, raw_name, raw, fast in cases(assets, tmp, THREADS):
            tok(lines[:100]), raw(lines[:100])  # warm-up
            ours_t, raw_t, ours_c, raw_c, ours, ref, cores = interleaved(tok, raw, lines, args.rounds, args.chunk)
            if ours != ref:
                raise SystemExit(f"{name}: ids differ from the raw backend")
            ratio = raw_t / ours_t
            if fast:
                worst = ratio if worst is None else min(worst, ratio)
                verdicts.append((name, ratio, raw_c / ours_c, cores))
            tokens = sum(map(len, ours))
            print(f"{name:30} {raw_name:46} {tokens:9d} {ours_t:7.3f} {raw_t:7.3f} {ratio:5.2f}x "
                  f"{raw_c / ours_c:8.2f}x {cores['ours']:6.2f}/{cores['raw']:<6.2f}", flush=True)
    print(f"lowest wall ratio over the fast classes: {worst:.2f}x")
    for name, wall, cpu, cores in verdicts:
        _common.check(f"{name} wall", wall, 0.95)
        _common.check(f"{name} CPU", cpu, 0.97)
        _common.check_cores(f"{name} ours / raw", max(cores.values()), THREADS)
    print(f"after: {_common.load()}")


if __name__ == "__main__":
    main()
