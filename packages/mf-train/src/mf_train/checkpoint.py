"""Training checkpoints: complete, atomic, verified.

A checkpoint is a folder ``{prefix}_rank_{rank}-{epoch}_{step}`` under ``output_dir/checkpoint/rank_{rank}``:

- ``model.safetensors``: the weights under MindFormers' names, then the optimizer's state (``adam_m.*``,
  ``adam_v.*``, ``global_step``) and the step's (``scale_sense``, loss-scale counters), as MindFormers' training
  checkpoints hold them (``mf-ckpt strip-optimizer`` drops the state; mf-models' loader skips it);
- ``config.json`` (the model config), tokenizer files when the task names a tokenizer, ``task.yaml`` (the resolved
  task config);
- ``trainer_state.json``: step, epoch, micro-batches consumed, learning rate, loss, and the RNG states;
- ``SHA256SUMS.json``: mf-ckpt's manifest of every file.

The folder is published by ``mf_config.fileio.atomic_dir`` (through mf-ckpt's ``save_folder``): written under a
temporary name, fsynced, renamed into place under the checkpoint's lock; a kill or a full disk at any moment leaves
the previous checkpoints as they were, and a full disk is one line. ``keep_checkpoint_max`` removes the oldest
complete ones after a new one is in place, never the newest, each renamed away first
(``mf_config.fileio.remove_output``); what a killed run left (``.NAME.PID.RANDOM.tmp``) the next run removes
(``mf_config.fileio.clean_stale_in``, at its start).
"""

import json
import logging
import random
import re
from pathlib import Path

import numpy as np

from mf_config import jsonio
from mf_config.fileio import remove_output
from mf_train.errors import TrainError

logger = logging.getLogger("mf_train")
STATE = "trainer_state.json"
WEIGHTS = "model.safetensors"
MAX_STATE = 16 << 20  # step, learning rate, loss and the RNG states: a few KB
_NAME = re.compile(r".*-(\d+)_(\d+)$")


def folder_name(prefix, rank, epoch, step):
    return f"{prefix}_rank_{rank}-{epoch}_{step}"


def rng_state():
    """Python's, numpy's and MindSpore's random states, as JSON values."""
    import mindspore as ms

    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss = random.getstate()
    return {"python": [version, list(internal), gauss], "numpy": [kind, keys.tolist(), pos, has_gauss, cached],
            "mindspore": ms.get_rng_state().asnumpy().tolist()}


def set_rng_state(state):
    import mindspore as ms

    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, np.uint32), pos, has_gauss, cached))
    ms.set_rng_state(ms.Tensor(np.asarray(state["mindspore"], np.uint8)))


def save(directory, name, params, state, extra=None):
    """Write checkpoint ``directory/name`` from ``params`` (name -> MindSpore Parameter, weights first) and
    ``state`` (JSON); ``extra(tmp)`` adds files. Returns its path."""
    from mf_ckpt.dtypes import st_dtype
    from mf_ckpt.output import Spec, save_folder
    from mf_config.errors import NoSpaceError

    def spec(p):
        return Spec(p.name, st_dtype(_numpy_dtype(p)), tuple(p.shape), lambda: [p.asnumpy()])

    def add_files(tmp):
        if extra is not None:
            extra(tmp)
        (tmp / STATE).write_text(json.dumps(state) + "\n", encoding="utf-8")

    target = Path(directory) / name
    try:
        save_folder(target, [spec(p) for p in params.values()], lambda _: None, extra=add_files,
                    max_shard_bytes=float("inf"))
    except NoSpaceError as e:
        raise TrainError(f"could not write the checkpoint: {e}; the previous ones are intact") from None
    except OSError as e:
        raise TrainError(f"could not write the checkpoint ({e.strerror}); the previous ones are intact",
                         file=target) from None
    return target


def _numpy_dtype(param):
    import mindspore as ms

    return {ms.float32: np.float32, ms.float16: np.float16, ms.int32: np.int32, ms.bool_: np.bool_,
            ms.int64: np.int64}[param.dtype]


def step_of(folder):
    """The step in a checkpoint folder's name (-1 when it has none)."""
    match = _NAME.match(folder.name)
    return int(match.group(2)) if match else -1


def complete(directory):
    """The checkpoint folders in ``directory`` that have a trainer state, oldest first (unverified)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / STATE).is_file()]
    return sorted(found, key=lambda p: (step_of(p), p.stat().st_mtime))


def newest_good(directory):
    """The newest checkpoint in ``directory`` whose files match their manifest; damaged ones are named in a
    warning and passed over. None when there is none."""
    from mf_ckpt.manifest import verify
    from mf_config.errors import MFError

    for path in reversed(complete(directory)):
        try:
            verify(path)
            return path
        except MFError as e:
            logger.warning("skipping damaged checkpoint %s: %s", path, e)
    return None


def prune(directory, keep, protect, listing=None):
    """Remove the oldest complete checkpoints beyond ``keep`` (never ``protect``, the one just written);
    ``listing(directory)`` finds them (default ``complete``)."""
    if not keep or keep < 1:
        return
    old = [p for p in (listing or complete)(directory) if p != Path(protect)]
    for path in old[:max(0, len(old) + 1 - keep)]:
        remove_output(path)  # gone from the listing at once; a kill mid-removal leaves a dead writer's temporary


def is_training_output(path):
    """Whether ``path`` is a training checkpoint or a folder of them (resume reads it; it is no weights source)."""
    path = Path(path)
    return path.is_dir() and ((path / STATE).is_file() or bool(complete(path)))


def load(path):
    """(tensors: name -> numpy array, trainer state) of a checkpoint folder, or of a weights file/folder without
    trainer state (state None)."""
    from mf_ckpt.store import open_checkpoint

    path = Path(path)
    state = None
    if path.is_dir() and (path / STATE).is_file():
        state = jsonio.load(path / STATE, error=TrainError, max_bytes=MAX_STATE)  # bounded: a file is no trust
        if not isinstance(state, dict):
            raise TrainError("expected a JSON object (the trainer state)", file=path / STATE)
    ckpt = open_checkpoint(path / WEIGHTS if (path / WEIGHTS).is_file() else path)
    try:
        return {name: ckpt.get(name) for name in ckpt.infos}, state
    finally:
        ckpt.close()


def restore(params, tensors, path, strict=True):
    """Set each Parameter of ``params`` (name -> Parameter) from ``tensors``; every name must be there (``strict``)
    with the same shape. Returns the names restored."""
    import mindspore as ms

    missing = [n for n in params if n not in tensors]
    if missing and strict:
        raise TrainError(f"lacks {len(missing)} tensor(s) this run needs, first {missing[0]!r}", file=path)
    for name, param in params.items():
        if name not in tensors:
            continue
        value = tensors[name]
        if tuple(value.shape) != tuple(param.shape):
            raise TrainError(f"shape {tuple(value.shape)} but the run's is {tuple(param.shape)}", file=path, key=name)
        # np.array, not ascontiguousarray: that one makes a 0-d scalar (global_step) 1-d
        param.set_data(ms.Tensor(np.array(value, dtype=_numpy_dtype(param), order="C")))
    return [n for n in params if n in tensors]
