"""`preprocess --engine dask`: output byte-identical to one process; workers import neither mindspore nor torch."""

import filecmp
import logging
import os
import subprocess
import sys

import pytest

from mf_data.errors import DataError
from mf_data.preprocessing import preprocess

distributed = pytest.importorskip("distributed")  # in mf-data's test extra: this never skips in CI


@pytest.fixture(scope="module")
def cluster():
    """A Dask cluster of two spawned worker processes, reached by its address as a remote one would be."""
    import dask

    with dask.config.set({"distributed.worker.multiprocessing-method": "spawn"}):
        local = distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None,
                                         silence_logs=logging.ERROR)
    with local, distributed.Client(local) as client:
        yield local.scheduler_address, client


def identical(a, b):
    names = sorted(os.listdir(a))
    assert names == sorted(os.listdir(b))
    return all(filecmp.cmp(a / n, b / n, shallow=False) for n in names)


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["wiki", "alpaca"])
def test_engine_output_is_byte_identical(dataset, cluster, tmp_path, wiki_small, alpaca_small, sp_model):
    address, client = cluster
    source = wiki_small if dataset == "wiki" else alpaca_small
    one = preprocess(dataset, source, sp_model, 128, tmp_path / "one", fmt="indexed", progress=False)
    # small chunks, so the job has many shards over both workers
    job = preprocess(dataset, source, sp_model, 128, tmp_path / "job", fmt="indexed", progress=False,
                     engine="dask", address=address, chunk_size=8)
    assert identical(tmp_path / "one", tmp_path / "job")
    assert (job.records, job.tokens, job.truncated, job.dropped, job.leftover_tokens) == \
        (one.records, one.tokens, one.truncated, one.dropped, one.leftover_tokens)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # the parts folder is gone
    heavy = client.run(lambda: sorted(m for m in sys.modules if m.split(".")[0] in ("mindspore", "torch")))
    assert len(heavy) == 2 and all(v == [] for v in heavy.values()), heavy
    loaded = client.run(lambda: "mf_data.shard" in sys.modules and "mf_tokenizers" in sys.modules)
    assert all(loaded.values())  # the workers did the tokenizing


@pytest.mark.slow
def test_cli_local_cluster(tmp_path, alpaca_small, sp_model):
    """The README's command: a local cluster of --workers processes, started and stopped by the run."""
    base = [sys.executable, "-c", "from mf_data.cli import main; main()", "preprocess", "--dataset_type", "alpaca",
            "--input_glob", str(alpaca_small), "--tokenizer", str(sp_model), "--seq_length", "128", "--format",
            "indexed", "--no_progress"]
    subprocess.run([*base, "--output_file", str(tmp_path / "one")], check=True, capture_output=True)
    proc = subprocess.run([*base, "--output_file", str(tmp_path / "job"), "--engine", "dask", "--workers", "2"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert identical(tmp_path / "one", tmp_path / "job")


def test_address_needs_an_engine(tmp_path, alpaca_small, sp_model):
    with pytest.raises(DataError, match="--address names the cluster of --engine dask"):
        preprocess("alpaca", alpaca_small, sp_model, 128, tmp_path / "x", fmt="indexed", progress=False,
                   address="tcp://127.0.0.1:1")


def test_default_path_does_not_import_dask(tmp_path, alpaca_small, sp_model):
    code = ("import sys\nfrom mf_data.preprocessing import preprocess\n"
            f"preprocess('alpaca', {str(alpaca_small)!r}, {str(sp_model)!r}, 128, {str(tmp_path / 'x')!r}, "
            "fmt='indexed', progress=False)\n"
            "assert not [m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')], 'dask imported'\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
