"""`mf-data preprocess --engine dask` against one process: start-up and job time, byte-identical output.

Runs, in one process and interleaved over --repeat rounds: the default path (one process, and --workers N) and a
job on a Dask local cluster of N spawned workers, started once (its start-up timed apart). Prints the fastest run
of each, records/s and the ratio to one process, and checks every output equals one process's bytes.
Usage: python benchmarks/preprocess_engines.py [--repeat 3] [--workers 2] [--dataset wiki|alpaca]
"""

import argparse
import filecmp
import logging
import os
import tempfile
import time
from pathlib import Path

from mf_config.testing import find_assets


def run(args, out, **kwargs):
    from mf_data import preprocess

    assets = find_assets()
    source = {"wiki": "text/wiki.train.tokens", "alpaca": "text/alpaca_pydocs.json"}[args.dataset]
    start = time.perf_counter()
    summary = preprocess(args.dataset, assets / source, assets / "tokenizers" / "mistral-7b-v0.1.sp.model", 512,
                         out, fmt="indexed", progress=False, **kwargs)
    return time.perf_counter() - start, summary.records


def same(a, b):
    return all(filecmp.cmp(Path(a) / f, Path(b) / f, shallow=False) for f in os.listdir(a))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--dataset", default="wiki", choices=["wiki", "alpaca"])
    args = parser.parse_args()
    import dask
    from distributed import Client, LocalCluster

    start = time.perf_counter()
    with dask.config.set({"distributed.worker.multiprocessing-method": "spawn"}):
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, dashboard_address=None,
                               silence_logs=logging.ERROR)
    client = Client(cluster)
    dask_start = time.perf_counter() - start
    configs = {"one process": {}, f"--workers {args.workers}": {"workers": args.workers},
               "dask": {"engine": "dask", "address": cluster.scheduler_address}}
    best = {name: float("inf") for name in configs}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.repeat):
            for name, kwargs in configs.items():
                out = Path(tmp) / f"{name.replace(' ', '_')}{round_}"
                seconds, records = run(args, out, **kwargs)
                best[name] = min(best[name], seconds)
                assert same(Path(tmp) / "one_process0", out), name
    client.close()
    cluster.close()
    print(f"{args.dataset}: {records} records; load average {os.getloadavg()[0]:.1f}; fastest of {args.repeat}; "
          f"every output byte-identical to one process")
    print(f"start-up: dask local cluster of {args.workers} workers {dask_start:.2f} s")
    for name, seconds in best.items():
        print(f"{name:14s} {seconds:6.2f} s  {records / seconds:8.0f} records/s  x{best['one process'] / seconds:.2f}")


if __name__ == "__main__":
    main()
