"""mf-data preprocess vs the raw tokenizer alone (the ceiling) on the shared alpaca and WikiText files.

In one run: SentencePiece encoding the very texts the pipeline tokenizes (one thread: the one-core
ceiling), then ``mf_data.preprocessing`` (alpaca and wiki, seq_length 512, the Mistral SentencePiece model)
to MindRecord and to the indexed format with 1 and 2 worker processes. Each is run ``--repeat`` times,
interleaved (one run of each per round, so that all meet the same load); the fastest run counts. Times
are wall clock of the whole call (tokenizer load, worker start, writing, renaming); MindSpore is imported
before timing. CPU seconds are this process's (threads included) and its MindRecord writer process's,
shown for one worker. Prints records/s, tokens/s, the time ratio to the ceiling, and records/s against
MindFormers' figures on this machine quoted in issue 6 (not measured here: MindFormers is not
installed): 342 records/s (2.1.0 alpaca handler) and 90 records/s (llama_preprocess.py qa).

    /work/dev/bin/python benchmarks/preprocess.py [--assets DIR] [--repeat 3]
"""

import argparse
import resource
import tempfile
import time
from pathlib import Path

import sentencepiece as spm

from mf_data.alpaca import ALPACA_KEYS, to_conversation
from mf_data.conversation import rounds
from mf_data.preprocessing import preprocess
from mf_data.textio import BadCounter, read_json_records, read_lines
from mf_data.wiki import articles

MINDFORMERS = {"MindFormers 2.1.0 alpaca handler": 342, "MindFormers llama_preprocess.py": 90}
SEQ = 512


def _cpu():
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def best_times(fns, repeat):
    """``[(wall, cpu, result)]``: for each function the fastest of ``repeat`` runs. The runs are interleaved
    (one of each per round), so that every function meets the same neighbours' load; slower runs measure
    the neighbours. cpu counts this process's threads and its finished child processes."""
    runs = [[] for _ in fns]
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            start, cpu = time.perf_counter(), _cpu()
            result = fn()
            runs[i].append((time.perf_counter() - start, _cpu() - cpu, result))
    return [min(r, key=lambda run: run[:2]) for r in runs]


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


def main():
    # imported here, not at the top: worker processes import this module again, and find_assets brings pytest
    from mf_config.testing import find_assets

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=Path, default=find_assets())
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import mindspore.mindrecord  # noqa: F401  (up front: importing MindSpore is not preprocessing)

    model = args.assets / "tokenizers" / "mistral-7b-v0.1.sp.model"
    inputs = {"alpaca": args.assets / "text" / "alpaca_pydocs.json", "wiki": args.assets / "text" / "wiki.train.tokens"}
    sp = spm.SentencePieceProcessor(model_file=str(model))
    print(f"{'dataset':7} {'what':26} {'wall s':>7} {'cpu s':>6} {'records/s':>10} {'tokens/s':>9} "
          f"{'x ceiling wall':>15} {'x ceiling cpu':>14}")
    with tempfile.TemporaryDirectory() as tmp:
        for kind, path in inputs.items():
            texts = texts_of(kind, path)
            jobs = [("ceiling", lambda: sp.encode(texts, num_threads=1))]  # noqa: B023
            for fmt in ("mindrecord", "indexed"):
                for workers in (1, 2):
                    out = Path(tmp) / f"{kind}-{fmt}-{workers}" / ("data.mindrecord" if fmt == "mindrecord" else "data")
                    jobs.append((f"{fmt}, --workers {workers}", lambda out=out, fmt=fmt, workers=workers: preprocess(
                        kind, path, model, SEQ, out, fmt=fmt, workers=workers, progress=False)))  # noqa: B023
            (ceiling, ceiling_cpu, ids), *timed = best_times([fn for _, fn in jobs], args.repeat)
            rows = [(what, wall, cpu, summary.records, summary.tokens)
                    for (what, _), (wall, cpu, summary) in zip(jobs[1:], timed)]
            records, tokens = rows[0][3], sum(map(len, ids))
            print(f"{kind:7} {'tokenizer alone, 1 thread':26} {ceiling:7.2f} {ceiling_cpu:6.2f} "
                  f"{records / ceiling:10.0f} {tokens / ceiling:9.0f} {1.0:15.2f} {1.0:14.2f}")
            for what, wall, cpu, n, t in rows:
                # worker processes are forked by a forkserver, not by us: their CPU time is not ours to count
                cpu_cols = f"{cpu:6.2f}" if what.endswith(" 1") else f"{'-':>6}"
                ratio = f"{cpu / ceiling_cpu:14.2f}" if what.endswith(" 1") else f"{'-':>14}"
                print(f"{kind:7} {what:26} {wall:7.2f} {cpu_cols} {n / wall:10.0f} {t / wall:9.0f} "
                      f"{wall / ceiling:15.2f} {ratio}")
            if kind == "alpaca":
                best = max(n / wall for what, wall, _, n, _ in rows if what.startswith("mindrecord"))
                for name, rate in MINDFORMERS.items():
                    print(f"        best MindRecord records/s / {name} ({rate} records/s, quoted): {best / rate:.1f}x")

if __name__ == "__main__":
    main()
