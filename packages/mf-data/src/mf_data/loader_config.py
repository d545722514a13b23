"""A MindFormers ``train_dataset`` section, read and checked: every key is known or reported by name."""

import dataclasses
import os

from mf_data.errors import DataError

# Keys MindFormers accepts that only tune MindSpore's pipeline; accepted and passed on where MindSpore has them.
_TUNING = ("num_parallel_workers", "python_multiprocessing", "numa_enable", "prefetch_size")
_OFF_ONLY = ("auto_tune", "profile")  # MindFormers' autotune/profiling switches: accepted while off
_KEYS = {"data_loader", "input_columns", "output_columns", "batch_size", "drop_remainder", "repeat", "seed",
         "eos_reset", "eod_reset", "eos_token_id", "eod_token_id", "rank_id", "device_num", "filepath_prefix",
         "autotune_per_step", *_TUNING, *_OFF_ONLY}
_LOADER_KEYS = {"type", "dataset_dir", "dataset_files", "shuffle"}
LOADER_TYPES = ("MindDataset", "IndexedDataset")


@dataclasses.dataclass
class LoaderConfig:
    """What :class:`CausalLanguageModelDataset` needs from a ``train_dataset`` section."""

    loader_type: str
    path: object
    shuffle: bool
    input_columns: list
    output_columns: list
    batch_size: int
    drop_remainder: bool
    repeat: int
    seed: int
    eos_reset: bool
    eos_token_id: object
    rank_id: int
    device_num: int
    num_parallel_workers: int
    prefetch_size: object
    numa_enable: bool


def _as_dict(section, name):
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise DataError(f"expected a mapping, found {type(section).__name__}", key=name)
    return dict(section)


def read_loader_config(dataset_config, overrides):
    """Merge keyword overrides over a ``train_dataset`` section and check it."""
    cfg = _as_dict(dataset_config, "train_dataset")
    cfg.update({k: v for k, v in overrides.items() if v is not None})
    unknown = sorted(set(cfg) - _KEYS)
    if unknown:
        raise DataError(f"unsupported key(s) {', '.join(unknown)}; supported: {', '.join(sorted(_KEYS))}",
                        key=f"train_dataset.{unknown[0]}")
    for key in _OFF_ONLY:
        if cfg.get(key):
            raise DataError("is not supported by mf-data; set it to False", key=f"train_dataset.{key}")
    loader = _as_dict(cfg.get("data_loader"), "train_dataset.data_loader")
    unknown = sorted(set(loader) - _LOADER_KEYS)
    if unknown:
        raise DataError(f"unsupported key(s) {', '.join(unknown)}; supported: {', '.join(sorted(_LOADER_KEYS))}",
                        key=f"train_dataset.data_loader.{unknown[0]}")
    loader_type = loader.get("type", "MindDataset")
    if loader_type not in LOADER_TYPES:
        raise DataError(f"'{loader_type}'; expected one of {', '.join(LOADER_TYPES)}",
                        key="train_dataset.data_loader.type")
    path = loader.get("dataset_dir") or loader.get("dataset_files")
    if not path:
        raise DataError("data_loader needs dataset_dir (a file or folder) or dataset_files (a list)",
                        key="train_dataset.data_loader.dataset_dir")
    eos_reset = bool(cfg.get("eos_reset", cfg.get("eod_reset", False)))
    input_columns = list(cfg.get("input_columns") or ["input_ids"])
    output_columns = list(cfg.get("output_columns") or
                          (["input_ids", "position_id", "attention_mask"] if eos_reset else input_columns))
    eos_token_id = cfg.get("eos_token_id", cfg.get("eod_token_id"))
    if eos_reset and (input_columns != ["input_ids"] or eos_token_id is None):
        raise DataError("eos_reset needs input_columns [input_ids] and an eos_token_id", key="train_dataset.eos_reset")
    rank_id = cfg.get("rank_id", os.environ.get("RANK_ID", 0))
    device_num = cfg.get("device_num", os.environ.get("RANK_SIZE", 1))
    return LoaderConfig(
        loader_type=loader_type, path=path, shuffle=bool(loader.get("shuffle", False)), input_columns=input_columns,
        output_columns=output_columns, batch_size=int(cfg.get("batch_size", 8)),
        drop_remainder=bool(cfg.get("drop_remainder", True)), repeat=int(cfg.get("repeat", 1)),
        seed=int(cfg.get("seed", 0)), eos_reset=eos_reset, eos_token_id=eos_token_id, rank_id=int(rank_id),
        device_num=int(device_num), num_parallel_workers=int(cfg.get("num_parallel_workers", 8)),
        prefetch_size=cfg.get("prefetch_size"), numa_enable=bool(cfg.get("numa_enable", False)))
