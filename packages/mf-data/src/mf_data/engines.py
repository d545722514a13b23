"""`preprocess` as a job of a data engine, Dask (``dask.distributed``), locally or on a cluster.

The driver reads and cuts the input into chunks as single-process `preprocess` does and groups consecutive
chunks into shards. Each shard is a task on a worker: it tokenizes the shard and writes its part (a ``.npz``
of lengths, tokens and mask) into a folder beside the output, which on a cluster must be on a filesystem that
the driver and every worker share. The driver takes the parts back in input order and feeds them to the same
packing and writer as one process, so the output is byte-identical to it. Workers import
:mod:`mf_data.shard`, numpy and the tokenizer's mf-tokenizers module only.
"""

import hashlib
import itertools
import logging
import pickle
import shutil
import uuid
from collections import deque
from pathlib import Path

from mf_data.errors import DataError
from mf_data.shard import encode_shard, read_part

ENGINES = ("dask",)  # Ray was measured too (the README's Performance section): slower to start, slower here


class EngineResults:
    """Encoded shards ``(lengths, tokens, mask, stats)`` in input order, from a Dask job.

    Arguments:
        encoder: the :class:`mf_data.encode.Encoder`, pickled once and shared with every worker
        tasks: ``(kind, chunk)`` pairs in input order, as ``preprocess`` makes them
        engine: ``"dask"``
        workers: worker processes of a local cluster (ignored with ``address``)
        address: a running cluster's scheduler (``tcp://host:8786``)
        output_file: the dataset's path; the parts folder is made beside it
        shard_chunks: chunks per task
    """

    def __init__(self, encoder, tasks, engine, workers, address, output_file, shard_chunks=8):
        if engine not in ENGINES:
            raise DataError(f"engine {engine!r}; expected one of {', '.join(ENGINES)}")
        self.encoder, self.tasks, self.engine = encoder, tasks, engine
        self.workers, self.address, self.shard_chunks = workers, address, shard_chunks
        out = Path(output_file).absolute()
        self.parts = out.parent / f".{out.name}.parts-{uuid.uuid4().hex[:8]}"
        self.heavy_modules = set()
        self.backend = None

    def __enter__(self):
        self.backend = _Dask(self.workers, self.address)
        self.parts.mkdir(parents=True)
        return self._results()

    def __exit__(self, *exc):
        shutil.rmtree(self.parts, ignore_errors=True)
        if self.backend is not None:
            self.backend.close()
        return False

    def _shards(self):
        tasks = iter(self.tasks)
        while batch := list(itertools.islice(tasks, self.shard_chunks)):
            yield batch[0][0], [chunk for _, chunk in batch]

    def _results(self):
        blob = pickle.dumps(self.encoder)
        key = hashlib.sha256(blob).hexdigest()[:16]
        shared = self.backend.share(blob)
        pending = deque()
        window = 2 * max(self.backend.parallelism(), 1)
        has_mask = False
        for index, (kind, chunks) in enumerate(self._shards()):
            has_mask = kind == "conversations"
            path = str(self.parts / f"part-{index:06d}.npz")
            pending.append((path, self.backend.submit(encode_shard, key, shared, kind, chunks, path)))
            if len(pending) >= window:
                yield self._take(pending, has_mask)
        while pending:
            yield self._take(pending, has_mask)

    def _take(self, pending, has_mask):
        path, handle = pending.popleft()
        stats = self.backend.result(handle)
        self.heavy_modules.update(stats["heavy_modules"])
        lengths, tokens, mask = read_part(path, has_mask)
        Path(path).unlink()
        return lengths, tokens, mask, stats


class _Dask:
    """A Dask client: of the cluster at ``address``, or of a local cluster of spawned worker processes."""

    def __init__(self, workers, address):
        try:
            import dask
            from distributed import Client, LocalCluster
        except ImportError:
            raise DataError("--engine dask needs dask.distributed: uv pip install './packages/mf-data[dask]'") from None
        self.cluster = None
        if address:
            self.client = Client(address)
        else:
            with dask.config.set({"distributed.worker.multiprocessing-method": "spawn"}):
                self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                            dashboard_address=None, silence_logs=logging.ERROR)
            self.client = Client(self.cluster)

    def parallelism(self):
        return sum(self.client.nthreads().values())

    def share(self, blob):
        return self.client.scatter(blob, broadcast=True)

    def submit(self, fn, *args):
        return self.client.submit(fn, *args, pure=False)

    def result(self, handle):
        return handle.result()

    def close(self):
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()
