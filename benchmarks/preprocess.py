"""mf-data preprocess vs the raw tokenizer alone (the ceiling) on the shared alpaca and WikiText files.

In one run, at equal threads T (``--threads``, default: the cores this process may use, mf's own default):
SentencePiece encoding the very texts the pipeline tokenizes on T threads (the ceiling), then
``mf_data.preprocessing`` (alpaca and wiki, seq_length 512, the Mistral SentencePiece model, its tokenizer on T
threads) to MindRecord and to the indexed format with 1 and 2 worker processes (each worker tokenizes on one thread).
Each is run ``--repeat`` times, interleaved (one run of each per round, so that all meet the same load); the fastest
run counts. Times are wall clock of the whole call (tokenizer load, worker start, writing, renaming); MindSpore is
imported before timing. CPU seconds are this process's (threads included) and its MindRecord writer process's,
shown for one worker. Then the end-to-end CLI (``mf-data preprocess``, imports included) in its own process on T
cores, so that its default threads are T. Prints records/s, tokens/s, the time ratio to the ceiling, PASS/MISS for
issue 18's target (MindRecord <= 1.5x the tokenizer alone at equal threads), and records/s against MindFormers'
figures, quoted (see MINDFORMERS).

    /work/dev/bin/python benchmarks/preprocess.py [--assets DIR] [--repeat 3] [--threads N] [--pin]
"""

import argparse
import os
import sys
import tempfile
from pathlib import Path

import _common

THREADS = _common.cpu_setup()

import sentencepiece as spm  # noqa: E402

from mf_data.alpaca import ALPACA_KEYS, to_conversation  # noqa: E402
from mf_data.conversation import rounds  # noqa: E402
from mf_data.preprocessing import preprocess  # noqa: E402
from mf_data.textio import BadCounter, read_json_records, read_lines  # noqa: E402
from mf_data.wiki import articles  # noqa: E402
from mf_tokenizers import LlamaTokenizer  # noqa: E402

# not measured here: mindformers 2.1.0 from PyPI needs mindspore~=2.11 (we have 2.10), hyper-parallel, numpy<2 and
# datasets, which is no quick separate environment; the figures were measured on this machine for issue 6
MINDFORMERS = {"MindFormers 2.1.0 alpaca handler": 342, "MindFormers llama_preprocess.py": 90}
MINDFORMERS_SOURCE = "quoted from issue 6 (measured on this machine then), not measured in this run"
SEQ = 512


def best_times(fns, repeat):
    """``[(wall, cpu, result)]``: for each function the fastest of ``repeat`` runs, interleaved (one of each per
    round); cpu counts this process's threads and its finished child processes."""
    runs = _common.interleave(fns, repeat, first=False)
    return [(*min(r.calls), r.result) for r in runs]


def texts_of(kind, path):
    """The strings the pipeline hands the tokenizer."""
    counter = BadCounter(False)
    if kind == "wiki":
        return list(articles(read_lines(path, counter)))
    out = []
    for i, record in enumerate(read_json_records(path, ALPACA_KEYS, counter), 1):
        for prompt, answer in rounds(to_conversation(record, i), i):
            out += [prompt, answer]
    return out


def cli_time(kind, path, model, out, threads, repeat):
    """Best wall and its CPU (children included) of the end-to-end ``mf-data preprocess`` command on ``threads``
    cores, imports included."""
    command = [str(Path(sys.executable).parent / "mf-data"), "preprocess", "--dataset_type", kind, "--input_glob",
               str(path), "--tokenizer", str(model), "--seq_length", str(SEQ), "--format", "mindrecord",
               "--no_progress", "--output_file"]
    runs = []
    for i in range(repeat):
        target = out / f"cli{i}" / "data.mindrecord"
        _, wall, cpu, _ = _common.child([*command, str(target)],
                                        affinity=sorted(os.sched_getaffinity(0))[:threads])
        runs.append((wall, cpu))
    return min(runs)


def main():
    # imported here, not at the top: worker processes import this module again, and find_assets brings pytest
    from mf_config.testing import find_assets

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=Path, default=find_assets())
    parser.add_argument("--repeat", type=int, default=3)
    _common.add_cpu_args(parser)
    args = parser.parse_args()
    import mindspore.mindrecord  # noqa: F401  (up front: importing MindSpore is not preprocessing)

    threads = THREADS or len(os.sched_getaffinity(0))
    print(f"tokenizer threads T = {threads}; {_common.describe(THREADS, 'sentencepiece num_threads on both sides')}")
    print(f"before: {_common.load()}")

    model = args.assets / "tokenizers" / "mistral-7b-v0.1.sp.model"
    inputs = {"alpaca": args.assets / "text" / "alpaca_pydocs.json", "wiki": args.assets / "text" / "wiki.train.tokens"}
    sp = spm.SentencePieceProcessor(model_file=str(model))
    tokenizer = LlamaTokenizer(model, num_threads=threads)
    print(f"{'dataset':7} {'what':26} {'wall s':>7} {'cpu s':>6} {'records/s':>10} {'tokens/s':>9} "
          f"{'x ceiling wall':>15} {'x ceiling cpu':>14}")
    with tempfile.TemporaryDirectory() as tmp:
        for kind, path in inputs.items():
            texts = texts_of(kind, path)
            jobs = [("ceiling", lambda: sp.encode(texts, num_threads=threads))]  # noqa: B023
            for fmt in ("mindrecord", "indexed"):
                for workers in (1, 2):
                    out = Path(tmp) / f"{kind}-{fmt}-{workers}" / ("data.mindrecord" if fmt == "mindrecord" else "data")
                    jobs.append((f"{fmt}, --workers {workers}", lambda out=out, fmt=fmt, workers=workers: preprocess(
                        kind, path, tokenizer, SEQ, out, fmt=fmt, workers=workers, progress=False)))  # noqa: B023
            (ceiling, ceiling_cpu, ids), *timed = best_times([fn for _, fn in jobs], args.repeat)
            rows = [(what, wall, cpu, summary.records, summary.tokens)
                    for (what, _), (wall, cpu, summary) in zip(jobs[1:], timed)]
            records, tokens = rows[0][3], sum(map(len, ids))
            print(f"{kind:7} {f'tokenizer alone, {threads} thr.':26} {ceiling:7.2f} {ceiling_cpu:6.2f} "
                  f"{records / ceiling:10.0f} {tokens / ceiling:9.0f} {1.0:15.2f} {1.0:14.2f}")
            for what, wall, cpu, n, t in rows:
                # worker processes are forked by a forkserver, not by us: their CPU time is not ours to count
                cpu_cols = f"{cpu:6.2f}" if what.endswith(" 1") else f"{'-':>6}"
                ratio = f"{cpu / ceiling_cpu:14.2f}" if what.endswith(" 1") else f"{'-':>14}"
                print(f"{kind:7} {what:26} {wall:7.2f} {cpu_cols} {n / wall:10.0f} {t / wall:9.0f} "
                      f"{wall / ceiling:15.2f} {ratio}")
            wall, cpu = cli_time(kind, path, model, Path(tmp) / kind, threads, args.repeat)
            print(f"{kind:7} {'CLI mindrecord, end to end':26} {wall:7.2f} {cpu:6.2f} {records / wall:10.0f} "
                  f"{tokens / wall:9.0f} {wall / ceiling:15.2f} {cpu / ceiling_cpu:14.2f}", flush=True)
            best = min(wall for what, wall, *_ in rows if what.startswith("mindrecord"))
            _common.check(f"{kind}: MindRecord / tokenizer alone at {threads} thread(s), wall", best / ceiling, 1.5,
                          higher=False)
            if kind == "alpaca":
                rate = records / best
                print(f"        MindFormers' figures: {MINDFORMERS_SOURCE}")
                for name, quoted in MINDFORMERS.items():
                    print(f"        best MindRecord records/s / {name} ({quoted} records/s, quoted): "
                          f"{rate / quoted:.1f}x")
    print(f"after: {_common.load()}")

if __name__ == "__main__":
    main()
