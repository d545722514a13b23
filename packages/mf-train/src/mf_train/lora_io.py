"""LoRA-only checkpoints: the adapter Parameters alone, loadable onto a fresh base model.

Our folder: ``lora_config.json`` (the resolved ``pet_config`` and the base model's config type) and
``lora_model.safetensors`` (MindFormers' names, ``<layer>.mindpet_delta_lora_a`` / ``_b``), with mf-ckpt's
``SHA256SUMS.json``, published at once (``atomic_dir``). ``load_lora`` also reads a PEFT folder
(``adapter_config.json``, converted by ``mf_train.lora_peft``) and a MindFormers checkpoint file (``.ckpt`` or
``.safetensors``) whose adapter tensors it takes, the others ignored.
"""

import json
from pathlib import Path

import mindspore as ms
import numpy as np
from mindspore import Parameter, Tensor, nn, ops

from mf_ckpt.dtypes import st_dtype
from mf_ckpt.errors import CheckpointError
from mf_ckpt.manifest import write_folder_manifest
from mf_ckpt.safetensors_io import SafetensorsWriter
from mf_ckpt.store import open_checkpoint
from mf_config import jsonio
from mf_config.errors import ConfigError
from mf_config.fileio import atomic_dir
from mf_config.pet_config import LoraConfig
from mf_config.state_names import is_optimizer_state
from mf_train.lora import (
    ADAPTER_SUFFIXES,
    LoraError,
    adapter_parameters,
    apply_lora,
    dropout_seed,
    lora_layers,
    regex_for,
)

LORA_CONFIG = "lora_config.json"
LORA_WEIGHTS = "lora_model.safetensors"
FORMAT = "mf-lora"
MAX_JSON = 1 << 20  # an adapter config is a few hundred bytes


def read_json(path: str | Path) -> dict:
    """The JSON object in ``path``, read with bounds (``mf_config.jsonio``; at most 1 MiB); LoraError naming the
    file otherwise."""
    data = jsonio.load(path, error=LoraError, max_bytes=MAX_JSON)
    if not isinstance(data, dict):
        raise LoraError("expected a JSON object", file=path)
    return data


def to_numpy(param):
    """A Parameter's values as numpy (bfloat16 as ml_dtypes.bfloat16: MindSpore's asnumpy refuses it)."""
    if param.dtype == ms.bfloat16:
        import ml_dtypes

        return ops.cast(param, ms.float32).asnumpy().astype(ml_dtypes.bfloat16)
    return param.asnumpy()


def to_tensor(array, dtype):
    """A Tensor of ``dtype`` from a numpy array (bfloat16 arrays go through float32, exactly)."""
    array = np.asarray(array)
    if array.dtype.name == "bfloat16":
        array = array.astype(np.float32)
    return Tensor(np.ascontiguousarray(array)).astype(dtype)


def write_safetensors(path, arrays, metadata=None):
    """Write ``arrays`` ({name: numpy array}) to the safetensors file ``path``."""
    entries = [(name, st_dtype(a.dtype, key=name), a.shape) for name, a in arrays.items()]
    with open(path, "wb") as f:
        writer = SafetensorsWriter(f, entries, metadata)
        for name, array in arrays.items():
            writer.write(name, [array])


def save_lora(model: nn.Cell, directory: str | Path) -> Path:
    """Write the adapters of ``model`` (applied by ``apply_lora``) to the folder ``directory``; returns it."""
    params = adapter_parameters(model)
    if not params:
        raise LoraError(f"{type(model).__name__} has no LoRA adapters to save", key="pet_config")
    config = model.config.pet_config
    info = {"format": FORMAT, "version": 1, "pet_config": config.to_dict(), "dropout_seed": dropout_seed(model),
            "base_model": type(model.config).__name__, "layers": list(lora_layers(model))}
    directory = Path(directory)
    with atomic_dir(directory) as tmp:
        (tmp / LORA_CONFIG).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        write_safetensors(tmp / LORA_WEIGHTS, {name: to_numpy(p) for name, p in params.items()}, {"format": FORMAT})
        write_folder_manifest(tmp)
    return directory


def _read_ours(folder):
    info = read_json(folder / LORA_CONFIG)
    if info.get("format") != FORMAT or not isinstance(info.get("pet_config"), dict):
        raise LoraError(f"not an mf LoRA config (expected format {FORMAT!r} and a pet_config object)",
                        file=folder / LORA_CONFIG)
    seed = info.get("dropout_seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise LoraError(f"expected an integer or null, got {seed!r}", file=folder / LORA_CONFIG, key="dropout_seed")
    try:
        config = LoraConfig.from_dict(info["pet_config"])
    except ConfigError as e:
        raise LoraError(e.message, file=folder / LORA_CONFIG, key=e.key) from None
    return config, _adapter_arrays(folder / LORA_WEIGHTS), seed


def _adapter_arrays(path):
    """{name: array} of the adapter tensors in a checkpoint file or folder (other tensors, optimizer moments of
    the adapters among them, ignored)."""
    return read_arrays(path, lambda name: name.endswith(ADAPTER_SUFFIXES) and not is_optimizer_state(name))


def _read_training_checkpoint(folder):
    """An mf-train checkpoint of a LoRA run: the pet_config its config.json saved, the adapters of its weights."""
    pet = read_json(folder / "config.json").get("pet_config")
    try:
        config = LoraConfig.from_dict(pet)
    except ConfigError as e:
        raise LoraError(e.message, file=folder / "config.json", key=f"pet_config.{e.key}") from None
    return config, _adapter_arrays(folder / "model.safetensors"), None


def read_arrays(path, wanted=lambda name: True):
    """{name: array (a copy)} of the tensors of a checkpoint file or folder that ``wanted(name)`` accepts, read
    through mf-ckpt's bounds-checked readers; LoraError naming the file otherwise."""
    try:
        ckpt = open_checkpoint(path)
    except CheckpointError as e:
        raise LoraError(e.message, file=e.file or path, key=e.key) from None
    try:
        return {name: np.array(ckpt.get(name)) for name in ckpt.infos if wanted(name)}
    except CheckpointError as e:
        raise LoraError(e.message, file=e.file or path, key=e.key) from None
    finally:
        ckpt.close()


def _read_mindformers(path, model):
    """A MindFormers checkpoint's adapter tensors, with the model's pet_config for alpha (its rank and layers come
    from the tensors)."""
    arrays = _adapter_arrays(path)
    if not arrays:
        raise LoraError(f"holds no LoRA tensors (names ending in {' or '.join(ADAPTER_SUFFIXES)})", file=path)
    pet = getattr(model.config, "pet_config", None)
    if pet is None:
        raise LoraError("a checkpoint file carries no lora_alpha: set model.model_config.pet_config", file=path,
                        key="pet_config")
    ranks = {a.shape[0] for name, a in arrays.items() if name.endswith(ADAPTER_SUFFIXES[0])}
    if len(ranks) != 1:
        raise LoraError(f"its adapters have different ranks {sorted(ranks)}", file=path)
    layers = sorted({name.rpartition(".")[0] for name in arrays})
    try:
        data = {**pet.to_dict(), "lora_rank": ranks.pop(), "target_modules": regex_for(model, layers),
                "exclude_layers": None}
    except ConfigError as e:
        raise LoraError(e.message, file=path) from None
    return LoraConfig.from_dict(data), arrays, None


def read_adapter(path: str | Path, model: nn.Cell) -> tuple[LoraConfig, dict, int | None]:
    """(LoraConfig, {our adapter name: array}, dropout seed or None) of an adapter: our folder, a PEFT folder or a
    checkpoint file."""
    path = Path(path)
    if not path.exists():
        raise LoraError("no such adapter file or folder", file=path)
    if path.is_dir() and (path / LORA_CONFIG).is_file():
        return _read_ours(path)
    if path.is_dir() and (path / "trainer_state.json").is_file() and _has_pet(path):
        return _read_training_checkpoint(path)
    if path.is_dir() and (path / "adapter_config.json").is_file():
        from mf_train.lora_peft import read_peft

        return (*read_peft(path, model), None)
    if path.is_dir():
        raise LoraError(f"no {LORA_CONFIG} (ours), adapter_config.json (PEFT) or LoRA training checkpoint in the "
                        "folder", file=path)
    return _read_mindformers(path, model)


def _has_pet(folder):
    return (folder / "config.json").is_file() and isinstance(read_json(folder / "config.json").get("pet_config"),
                                                             dict)


def load_lora(model: nn.Cell, path: str | Path, seed: int | None = None) -> list[Parameter]:
    """Load an adapter onto ``model``; returns the adapter Parameters.

    A plain model gets LoRA applied first, with the adapter's config (``apply_lora``; the dropout ``seed`` saved
    with the adapter unless given); an adapted one must have exactly the adapter's layers and shapes. Names or
    shapes that differ are a LoraError naming the file and tensor.
    """
    config, arrays, saved_seed = read_adapter(path, model)
    if not lora_layers(model):
        try:
            apply_lora(model, config, seed=seed if seed is not None else saved_seed or 0)
        except ConfigError as e:
            raise LoraError(f"does not fit {type(model).__name__}: {e.message}", file=path, key=e.key) from None
    current = model.config.pet_config
    if current.scaling != config.scaling:
        raise LoraError(f"lora_alpha / lora_rank is {config.scaling}, the model's adapters use {current.scaling}",
                        file=path, key="pet_config.lora_alpha")
    params = adapter_parameters(model)
    missing, unexpected = sorted(set(params) - set(arrays)), sorted(set(arrays) - set(params))
    if missing or unexpected:
        raise LoraError(f"adapter names differ from the model's: missing {missing[:3]}, unexpected "
                        f"{unexpected[:3]}", file=path)
    for name, array in arrays.items():
        param = params[name]
        if tuple(array.shape) != tuple(param.shape):
            raise LoraError(f"shape {list(array.shape)}, the model's is {list(param.shape)}", file=path, key=name)
        param.set_data(to_tensor(array, param.dtype))
    return list(params.values())
