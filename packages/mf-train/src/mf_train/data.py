"""The batches a training or evaluation run reads: a MindFormers ``train_dataset``/``eval_dataset`` section over
mf-data's indexed format (numpy, memory-mapped) or MindRecord (MindSpore's pipeline), or a dataset object given
to the Python API; each batch (input_ids, labels) as int32 arrays the step takes.

A ``Batches`` knows its length in micro-batches per epoch before reading anything, skips to a micro-batch without
reading what it skips (resume), and checks what the model needs: records of ``seq_length + 1`` tokens (or
``seq_length``, GPT-2's ``--exact_length``) and token ids inside the model's vocabulary.
"""

import dataclasses
import os

import numpy as np

from mf_train.errors import TrainError

COLUMNS = ("input_ids", "labels")


@dataclasses.dataclass
class DataSpec:
    """What the model asks of the data (``seq_length``, ``vocab_size``) and how it is read."""

    seq_length: int
    vocab_size: int
    batch_size: int
    epochs: int = 1
    seed: int = 0
    rank_id: int = 0
    device_num: int = 1


def dataset_path(section):
    """The file or folder a dataset section names (``data_loader.dataset_dir`` or ``dataset_files``)."""
    loader = (section or {}).get("data_loader") or {}
    return loader.get("dataset_dir") or loader.get("dataset_files")


class Batches:
    """Micro-batches of one dataset section; ``len()`` per epoch, ``iterate(skip)`` over every epoch."""

    def __init__(self, section, spec, key="train_dataset"):
        self.section, self.spec, self.key = dict(section or {}), spec, key
        path = dataset_path(self.section)
        if not path:
            raise TrainError("no dataset: pass --train_data DIR (or set data_loader.dataset_dir)",
                             key=f"{key}.data_loader.dataset_dir")
        if isinstance(path, str) and not os.path.exists(path):
            raise TrainError("no such dataset file or folder", file=path, key=f"{key}.data_loader.dataset_dir")
        self.path = path
        self.overrides = dict(batch_size=spec.batch_size, repeat=1, seed=self.section.get("seed", spec.seed),
                              rank_id=spec.rank_id, device_num=spec.device_num)
        self.indexed = self._indexed()
        self.per_epoch = self._count()
        if self.per_epoch < 1:
            raise TrainError(f"holds no batch of {spec.batch_size} record(s) for rank {spec.rank_id} of "
                             f"{spec.device_num}", file=path, key=f"{key}.batch_size")

    def _indexed(self):
        from mf_data.indexed import IndexedDataset, is_indexed

        if isinstance(self.path, str) and is_indexed(self.path):
            data = IndexedDataset(self.path)
            self._check_record(data.seq_length, data.header.get("vocab_size"))
            return data
        return None

    def _count(self):
        from mf_data.loader_config import read_loader_config
        from mf_data.sampling import sample_plan

        cfg = read_loader_config(self.section, self.overrides)
        if self.indexed is not None:
            records = len(self.indexed)
        else:
            import mindspore.dataset as ds

            from mf_data.mindrecord import mindrecord_files

            files = list(cfg.path) if isinstance(cfg.path, (list, tuple)) else mindrecord_files(cfg.path)
            records = ds.MindDataset(files, columns_list=cfg.input_columns[:1], shuffle=False).get_dataset_size()
        plan = sample_plan(records, batch_size=cfg.batch_size, drop_remainder=True, shuffle=False, epochs=1,
                           rank_id=cfg.rank_id, device_num=cfg.device_num)
        return sum(len(p) for p in plan) // cfg.batch_size

    def _check_record(self, length, vocab_size):
        seq = self.spec.seq_length
        if length not in (seq + 1, seq):
            raise TrainError(f"records hold {length} tokens but the model's seq_length is {seq}: preprocess with "
                             f"--seq_length {seq}, or set model.model_config.seq_length={length - 1}",
                             file=self.path, key="model.model_config.seq_length")
        if vocab_size is not None and vocab_size > self.spec.vocab_size:
            raise TrainError(f"the dataset's tokenizer has {vocab_size} ids but the model's vocab_size is "
                             f"{self.spec.vocab_size}", file=self.path, key="model.model_config.vocab_size")

    def iterate(self, skip=0):
        """(input_ids, labels) int32 arrays for every micro-batch of every epoch, from micro-batch ``skip``."""
        overrides = dict(self.overrides, repeat=self.spec.epochs, skip_steps=skip)
        if self.indexed is not None:
            from mf_data.dataset import numpy_batches

            columns = [c for c in COLUMNS if c in self.indexed.columns]
            rows = numpy_batches(self.section, input_columns=columns, output_columns=columns, **overrides)
        else:
            rows = self._mindrecord_rows(overrides)
        first = True
        for batch in rows:
            ids = np.asarray(batch["input_ids"], np.int32)
            if first:
                self._check_record(ids.shape[1], None)
                first = False
            if ids.max() >= self.spec.vocab_size or ids.min() < 0:
                raise TrainError(f"token id {int(ids.max())} is outside the model's vocabulary "
                                 f"(vocab_size {self.spec.vocab_size})", file=self.path,
                                 key="model.model_config.vocab_size")
            labels = batch.get("labels")
            yield ids, (ids if labels is None else np.asarray(labels, np.int32))

    def _mindrecord_rows(self, overrides):
        from mf_data.dataset import CausalLanguageModelDataset

        section = dict(self.section)
        columns = [c for c in section.get("input_columns") or ["input_ids"] if c in COLUMNS]
        dataset = CausalLanguageModelDataset(section, input_columns=columns, output_columns=columns, **overrides)
        yield from dataset.create_dict_iterator(output_numpy=True, num_epochs=1)


def group(rows, accumulation):
    """Micro-batches stacked ``accumulation`` at a time: (accumulation, batch, seq), or as they are for 1."""
    if accumulation == 1:
        yield from rows
        return
    pending = []
    for ids, labels in rows:
        pending.append((ids, labels))
        if len(pending) == accumulation:
            yield np.stack([p[0] for p in pending]), np.stack([p[1] for p in pending])
            pending = []
