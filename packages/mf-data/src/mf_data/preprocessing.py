"""``mf-data preprocess``: wiki/qa/alpaca text to MindRecord or the indexed format, with N worker processes.

Input is read and cut into chunks in the main process; workers tokenize chunks (``imap`` keeps their
order), the main process packs (wiki) and writes, so the output does not depend on the worker count.
MindRecord is written by a forked writer process fed in order (:mod:`mf_data.child_writer`).
"""

from __future__ import annotations

import dataclasses
import glob
import multiprocessing
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from mf_config.fileio import check_not_input, output_lock
from mf_data import child_writer, special
from mf_data.alpaca import ALPACA_KEYS, alpaca_problem, to_conversation
from mf_data.conversation import rounds
from mf_data.encode import Encoder, init_worker, run_chunk
from mf_data.errors import DataError
from mf_data.indexed import IndexedWriter
from mf_data.mindrecord import MindRecordWriter, require_mindspore
from mf_data.textio import BadCounter, read_json_records, read_lines
from mf_data.wiki import raw_articles

if TYPE_CHECKING:
    from mf_tokenizers import PreTrainedTokenizerBase

DATASET_TYPES = ("wiki", "qa", "alpaca")
FORMATS = ("mindrecord", "indexed")
COLUMNS = ("input_ids", "labels", "attention_mask")
DEFAULT_COLUMNS = {"wiki": ("input_ids",), "qa": ("input_ids", "labels"), "alpaca": ("input_ids", "labels")}


@dataclasses.dataclass
class Summary:
    """What a preprocessing run did."""

    records: int = 0
    tokens: int = 0
    truncated: int = 0
    dropped: int = 0
    bad: int = 0
    leftover_tokens: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        rate = self.records / self.seconds if self.seconds else 0.0
        return (f"{self.records} records, {self.tokens} tokens, {self.truncated} truncated, {self.dropped} dropped, "
                f"{self.bad} bad skipped, {self.leftover_tokens} leftover tokens, {self.seconds:.2f} s, "
                f"{rate:.0f} records/s")


def input_files(pattern):
    """Files matching a glob (or one path), sorted."""
    files = sorted(glob.glob(str(pattern), recursive=True)) or ([str(pattern)] if Path(pattern).is_file() else [])
    files = [f for f in files if Path(f).is_file()]
    if not files:
        raise DataError("no input file matches", file=pattern)
    return files


def _items(dataset_type, files, counter):
    """Raw wiki articles, or conversations as lists of ``(prompt, answer)`` rounds."""
    for path in files:
        if dataset_type == "wiki":
            yield from raw_articles(read_lines(path, counter))  # cleaned by the workers
            continue
        keys, check = (ALPACA_KEYS, alpaca_problem) if dataset_type == "alpaca" else (("conversations",), None)
        for number, record in enumerate(read_json_records(path, keys, counter, check), 1):
            try:
                yield rounds(to_conversation(record, number) if dataset_type == "alpaca" else record, number)
            except DataError as e:
                counter.bad(e.message, path)


def _size(item):
    """Characters of a conversation (rounds of two strings) or a raw wiki article (sections of lines)."""
    return sum(len(a) + len(b) for a, b in item) if isinstance(item[0], tuple) else \
        sum(len(line) for passage in item for line in passage)


def _chunks(items, size, max_chars=1 << 17):
    """Lists of up to ``size`` items and about ``max_chars`` characters (so long articles spread over workers)."""
    chunk, chars = [], 0
    for item in items:
        chunk.append(item)
        chars += _size(item)
        if len(chunk) == size or chars >= max_chars:
            yield chunk
            chunk, chars = [], 0
    if chunk:
        yield chunk


class _Packer:
    """Concatenates wiki documents and cuts them into full blocks of ``length`` tokens."""

    def __init__(self, length):
        self.length = length
        self.rest = np.zeros(0, dtype=np.int32)

    def blocks(self, tokens):
        stream = np.concatenate([self.rest, tokens])
        n = len(stream) // self.length
        self.rest = stream[n * self.length:]
        return np.full(n, self.length, dtype=np.int64), stream[:n * self.length]


def preprocess(dataset_type: str, input_glob: str | os.PathLike, tokenizer: str | os.PathLike | PreTrainedTokenizerBase,
               seq_length: int, output_file: str | os.PathLike, *, fmt: str = "mindrecord", workers: int = 1,
               num_splits: int = 1, columns: Sequence[str] | None = None,
               special_ids: Mapping[str, int | None] | None = None, skip_bad: bool = False,
               exact_length: bool = False, chunk_size: int = 256, progress: bool = True,
               overrides: Sequence[str] = (), engine: str | None = None, address: str | None = None) -> Summary:
    """Preprocess text into a dataset; returns a :class:`Summary`.

    ``tokenizer`` is a path or YAML for ``mf_tokenizers.AutoTokenizer`` or a tokenizer object; ``overrides``
    (``"key=value"``) apply to a YAML. Records hold ``seq_length + 1`` tokens (the trainer shifts), or
    ``seq_length`` with ``exact_length``. ``engine="dask"``
    runs the tokenizing as a job of a Dask cluster (:mod:`mf_data.engines`): ``workers`` local processes, or
    the cluster at ``address``.
    """
    if dataset_type not in DATASET_TYPES:
        raise DataError(f"dataset_type {dataset_type!r}; expected one of {', '.join(DATASET_TYPES)}")
    if fmt not in FORMATS:
        raise DataError(f"format {fmt!r}; expected one of {', '.join(FORMATS)}")
    columns = tuple(columns or DEFAULT_COLUMNS[dataset_type])
    unknown = [c for c in columns if c not in COLUMNS]
    if unknown or "input_ids" not in columns:
        raise DataError(f"columns {', '.join(columns)}; expected input_ids plus any of labels, attention_mask")
    if seq_length < 1 or workers < 1 or num_splits < 1:
        raise DataError("seq_length, workers and num_splits must be positive")
    if fmt == "indexed" and num_splits != 1:
        raise DataError("--num_splits applies to MindRecord; the indexed format is one token file")
    start = time.perf_counter()
    files = input_files(input_glob)
    tok, source = _load_tokenizer(tokenizer, tuple(overrides))
    ids = special.resolve(tok, source, special_ids or {}, need_pad=dataset_type != "wiki", overrides=overrides)
    length = seq_length if exact_length else seq_length + 1
    header = {"format": "mf-data indexed", "dataset_type": dataset_type, "seq_length": length,
              "columns": list(columns), "pad_token_id": ids.pad, "bos_token_id": ids.bos, "eos_token_id": ids.eos,
              "ignore_token_id": ids.ignore, "vocab_size": ids.vocab_size, "tokenizer": source,
              "tokenizer_overrides": list(overrides),
              "loss_mask": dataset_type != "wiki" and "labels" in columns}
    encoder = Encoder(tok, ids, length)
    kind = "wiki" if dataset_type == "wiki" else "conversations"
    counter = BadCounter(skip_bad)
    summary = Summary()
    tasks = ((kind, chunk) for chunk in _chunks(_items(dataset_type, files, counter), chunk_size))
    packer = _Packer(length) if kind == "wiki" else None
    inputs = [*files, *([tokenizer] if isinstance(tokenizer, (str, Path)) and Path(tokenizer).exists() else [])]
    check_not_input(output_file, inputs)
    with output_lock(output_file), _writer(fmt, output_file, header, num_splits, inputs) as writer, \
            _results_of(encoder, tasks, workers, engine, address, output_file) as results, \
            tqdm(desc="preprocess", unit=" records", disable=not progress) as bar:
        for lengths, tokens, mask, stats in results:
            if packer is not None:
                lengths, tokens = packer.blocks(tokens)
            writer.add(lengths, tokens, mask)
            summary.records += len(lengths)
            summary.tokens += int(lengths.sum())
            summary.truncated += stats.get("truncated", 0)
            summary.dropped += stats.get("dropped", 0)
            bar.update(len(lengths))
        if packer is not None:
            summary.leftover_tokens = len(packer.rest)
        if not summary.records:  # raised inside the writer's block: nothing is written
            raise DataError(f"no record came out ({counter.count} bad skipped, {summary.dropped} dropped, "
                            f"{summary.leftover_tokens} tokens short of one block of {length})", file=input_glob)
    summary.bad = counter.count
    summary.seconds = time.perf_counter() - start
    return summary


def _writer(fmt, output_file, header, num_splits, inputs):
    """The indexed writer, or MindRecord's, run in a child process where processes fork."""
    if fmt == "indexed":
        return IndexedWriter(output_file, header, inputs)
    require_mindspore()
    if child_writer.available():
        return child_writer.ChildWriter(MindRecordWriter, output_file, header, num_splits, inputs)
    return MindRecordWriter(output_file, header, num_splits, inputs)


def _load_tokenizer(tokenizer, overrides):
    if not isinstance(tokenizer, (str, Path)):
        if overrides:
            raise DataError("overrides apply to a YAML tokenizer, not to a tokenizer object")
        return tokenizer, str(getattr(tokenizer, "name_or_path", type(tokenizer).__name__))
    from mf_tokenizers import AutoTokenizer

    if overrides and not special.is_yaml(tokenizer):
        raise DataError("--set applies to a MindFormers YAML given as --tokenizer", file=tokenizer)
    kwargs = {"overrides": overrides} if overrides else {}
    return AutoTokenizer.from_pretrained(str(tokenizer), **kwargs), str(tokenizer)


def _results_of(encoder, tasks, workers, engine, address, output_file):
    """Where encoded chunks come from: this process, a pool of worker processes, or a Dask job."""
    if engine is None:
        if address:
            raise DataError("--address names the cluster of --engine dask")
        return _results(encoder, tasks, workers)
    from mf_data.engines import EngineResults

    return EngineResults(encoder, tasks, engine, workers, address, output_file)


class _results:
    """Encoded chunks in input order: in this process for one worker, else from a pool of worker processes."""

    def __init__(self, encoder, tasks, workers):
        self.encoder, self.tasks, self.workers = encoder, tasks, workers
        self.pool = None

    def __enter__(self):
        if self.workers == 1:
            init_worker(self.encoder)
            return map(run_chunk, self.tasks)
        ctx = multiprocessing.get_context("forkserver")  # workers fork from a clean server, not from us
        # the server imports once what every worker needs (each worker still imports the caller's main module)
        ctx.set_forkserver_preload(["mf_data.encode", type(self.encoder.tokenizer).__module__])
        self.pool = ctx.Pool(self.workers, initializer=init_worker, initargs=(self.encoder, True))
        return self.pool.imap(run_chunk, self.tasks, chunksize=1)

    def __exit__(self, *exc):
        if self.pool is not None:
            self.pool.terminate() if exc[0] is not None else self.pool.close()
            self.pool.join()
        return False
