"""Training datasets from a MindFormers ``train_dataset`` section, over MindRecord or the indexed format.

:class:`CausalLanguageModelDataset` returns a MindSpore dataset (MindSpore imported when called);
:func:`numpy_batches` gives the same batches from an indexed dataset with numpy alone.
"""

import functools
import os
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from mf_data.eos_reset import eos_reset_batch
from mf_data.errors import DataError
from mf_data.indexed import IndexedDataset, is_indexed
from mf_data.loader_config import read_loader_config
from mf_data.mindrecord import mindrecord_files
from mf_data.sampling import sample_plan


def _plan(cfg, num_records, skip_steps):
    plan = sample_plan(num_records, batch_size=cfg.batch_size, drop_remainder=cfg.drop_remainder,
                       shuffle=cfg.shuffle, seed=cfg.seed, epochs=cfg.repeat, rank_id=cfg.rank_id,
                       device_num=cfg.device_num, skip_steps=skip_steps)
    if not sum(len(p) for p in plan):
        raise DataError(f"rank {cfg.rank_id} of {cfg.device_num} gets no batch of {cfg.batch_size} from "
                        f"{num_records} records", file=str(cfg.path))
    return plan


def _indexed_source(cfg):
    """The indexed dataset a config names, or None when it names MindRecord files."""
    path = cfg.path
    if isinstance(path, (list, tuple)):
        if cfg.loader_type == "IndexedDataset":
            raise DataError("an indexed dataset is one folder; give it as dataset_dir",
                            key="train_dataset.data_loader.dataset_files")
        return None
    if cfg.loader_type == "IndexedDataset" or is_indexed(path):
        data = IndexedDataset(path)
        missing = [c for c in cfg.input_columns if c not in data.columns]
        if missing:
            raise DataError(f"has columns {', '.join(data.columns)}, not {', '.join(missing)}", file=path,
                            key="train_dataset.input_columns")
        return data
    return None


def numpy_batches(dataset_config: Mapping[str, Any] | None = None, *, skip_steps: int = 0,
                  **kwargs: Any) -> Iterator[dict[str, np.ndarray]]:
    """Batches (dicts of int32 arrays) of an indexed dataset, exactly as :class:`CausalLanguageModelDataset`
    gives them, without MindSpore."""
    cfg = read_loader_config(dataset_config, kwargs)
    data = _indexed_source(cfg)
    if data is None:
        raise DataError("numpy_batches reads the indexed format; MindRecord needs CausalLanguageModelDataset",
                        file=str(cfg.path))
    for part in _plan(cfg, len(data), skip_steps):
        yield from _epoch_batches(data, part, cfg)


def _epoch_batches(data, part, cfg):
    for start in range(0, len(part), cfg.batch_size):
        rows = [data[int(i)] for i in part[start:start + cfg.batch_size]]
        batch = {c: np.stack([r[c] for r in rows]) for c in cfg.input_columns}
        if cfg.eos_reset:
            values = eos_reset_batch(batch["input_ids"], cfg.eos_token_id)
            batch = dict(zip(("input_ids", "position_id", "attention_mask"), values))
        yield {c: batch[c] for c in cfg.output_columns}


class _Records:
    """Random access for ``GeneratorDataset``: record ``i`` as a tuple of columns."""

    def __init__(self, data, columns):
        self.data, self.columns = data, columns

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        row = self.data[int(i)]
        return tuple(row[c] for c in self.columns)


def _eos_reset_map(input_ids, eos_token_id):
    return eos_reset_batch(input_ids, eos_token_id)


class CausalLanguageModelDataset:
    """MindFormers' ``CausalLanguageModelDataset``: a batched MindSpore dataset from a ``train_dataset`` section.

    ``data_loader.type`` is ``MindDataset`` (MindRecord files; an indexed dataset folder is recognised too)
    or ``IndexedDataset``. Records are shuffled by ``seed`` (a new order each epoch), split across
    ``device_num`` ranks (``rank_id``; default ``$RANK_ID``/``$RANK_SIZE``), batched, and with ``eos_reset``
    given ``position_id`` and ``attention_mask`` as MindFormers does. ``skip_steps`` starts at that step of
    the plan without reading what it skips (resumed training). Keyword arguments override the section.
    """

    def __new__(cls, dataset_config=None, *, skip_steps=0, **kwargs):
        cfg = read_loader_config(dataset_config, kwargs)
        try:
            import mindspore.dataset as ds
            from mindspore import dtype as mstype
            from mindspore.dataset.transforms import TypeCast
        except ImportError:
            raise DataError("CausalLanguageModelDataset needs MindSpore: pip install 'mf-data[mindspore]' "
                            "(numpy_batches reads the indexed format without it)") from None
        if cfg.prefetch_size is not None:
            ds.config.set_prefetch_size(int(cfg.prefetch_size))
        ds.config.set_numa_enable(cfg.numa_enable)
        workers = max(1, min(cfg.num_parallel_workers, os.cpu_count() or 1))
        data = _indexed_source(cfg)
        if data is not None:
            plan = _plan(cfg, len(data), skip_steps)
            epochs = [ds.GeneratorDataset(_Records(data, cfg.input_columns), column_names=cfg.input_columns,
                                          sampler=ds.SubsetSampler(part.tolist()), python_multiprocessing=False)
                      for part in plan if len(part)]
        else:
            files = list(cfg.path) if isinstance(cfg.path, (list, tuple)) else mindrecord_files(cfg.path)
            files = files if len(files) > 1 else files[0]
            count = ds.MindDataset(files, columns_list=cfg.input_columns, shuffle=False).get_dataset_size()
            plan = _plan(cfg, count, skip_steps)
            epochs = [ds.MindDataset(files, columns_list=cfg.input_columns, sampler=ds.SubsetSampler(part.tolist()),
                                     num_parallel_workers=workers) for part in plan if len(part)]
        # one dataset per epoch (each epoch its own order), batched apart so that no batch spans two epochs
        epochs = [e.batch(cfg.batch_size, drop_remainder=cfg.drop_remainder) for e in epochs]
        dataset = epochs[0]
        for more in epochs[1:]:
            dataset = dataset + more
        if cfg.eos_reset:
            dataset = dataset.map(operations=functools.partial(_eos_reset_map, eos_token_id=cfg.eos_token_id),
                                  input_columns=["input_ids"],
                                  output_columns=["input_ids", "position_id", "attention_mask"])
            columns = cfg.output_columns
        else:
            columns = cfg.input_columns
        dataset = dataset.project(columns=columns)
        for column in columns:
            dataset = dataset.map(operations=TypeCast(mstype.int32), input_columns=column)
        return dataset
