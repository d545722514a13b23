"""Weights into a network: checked against the config before the network is built, then set tensor by tensor.

Every path that loads weights (``AutoModel.from_pretrained``, ``load_weights``, mf-generate, mf-train's
``checkpoint_name_or_path``) comes here:

1. ``open_weights(path)``: the header of a file or folder (``TensorFiles``: names, shapes, dtypes);
2. ``check_weights(config, tensors, hf)``: the names and shapes the config implies (``mf_config.fitting``, from
   the family's weight rules, no network built) against the header; every difference is named in one error,
   with the ``--set`` overrides under which the config would fit and the checkpoint's own config.json when it
   has one. Float dtypes never differ: each tensor is cast on the way in;
mindspore is imported only when tensors are set: a mismatch is reported before it loads.

3. ``set_weights(model, tensors, hf)``: Hugging Face's tensors moved by the family's rules (``mf_config.rules``:
   renamed, transposed, stacked, split), ours as they are; each cast to its parameter's dtype (as transformers'
   ``torch_dtype``: bfloat16 and float16 files load into a float32 network and the reverse).
"""

import logging
from pathlib import Path

import numpy as np

from mf_config.fileio import settle
from mf_config.fitting import compare, describe, expected_shapes, fitting_overrides
from mf_config.sources import CONFIG_NAME, identify
from mf_config.spec import family_of
from mf_models.errors import ModelError
from mf_models.tensor_files import FLOATS, OWN_NAMES, TensorFiles

logger = logging.getLogger("mf_models")
NAMED_KEY = "model.model_config.checkpoint_name_or_path"
DTYPE_KEYS = ("param_init_type", "compute_dtype", "layernorm_compute_type", "softmax_compute_type", "rotary_dtype",
              "embedding_init_type")


def open_weights(path) -> TensorFiles:
    """The tensors of a weights file or folder (see ``TensorFiles``); a ``save_pretrained`` that a crash
    interrupted after its commit point is finished first (``mf_config.fileio.settle``)."""
    path = Path(path)
    if not path.exists():
        raise ModelError("no such weights file or folder", file=path)
    for own in [path / name for name in OWN_NAMES] if path.is_dir() else [path]:
        settle(own)
    return TensorFiles(path)


def hf_names(tensors: TensorFiles, config) -> bool:
    """Whether the tensors carry Hugging Face's names: the folder (or the file's folder) holds a Hugging Face
    config.json, else more of them are HF's names for this config than ours."""
    path = tensors.path
    beside = (path if path.is_dir() else path.parent) / CONFIG_NAME
    if beside.is_file():
        return identify(beside).hf_names
    ours, theirs = expected_shapes(config, False), expected_shapes(config, True)
    return sum(n in theirs for n in tensors.shapes) > sum(n in ours for n in tensors.shapes)


def check_weights(config, tensors: TensorFiles, hf: bool, config_file=None, task_yaml=False) -> None:
    """ModelError naming every tensor the weights lack, hold beyond the config, or hold in another shape or a
    non-float dtype; with the overrides that would make ``config`` fit and the checkpoint's own config.json."""
    spec = family_of(config)
    prefix = spec.hf_base_prefix if hf else None
    if prefix and not any(n.startswith(prefix) for n in tensors.shapes):
        tensors.add_prefix(prefix)  # saved from the base model (GPT2Model, BloomModel): no "transformer."
    ignorable = (lambda n: spec.hf_ignorable(n, config)) if hf else (lambda n: False)
    expected = expected_shapes(config, hf)
    diff = compare(expected, tensors.shapes, ignorable)
    bad_dtypes = [f"{n}: dtype {tensors.dtypes[n]}, expected a float" for n in expected
                  if n in tensors.dtypes and tensors.dtypes[n] not in FLOATS]
    if not diff and not bad_dtypes:
        return
    where = f" ({config_file})" if config_file else ""
    message = "; ".join(filter(None, [describe(diff), *bad_dtypes]))
    raise ModelError(f"does not fit the {spec.name} config{where}: {message}"
                     f"{_fix(config, tensors, hf, task_yaml)}{_own_config(tensors.path, config_file)}",
                     file=tensors.path)


def _fix(config, tensors, hf, task_yaml):
    spec = family_of(config)
    found = fitting_overrides(config, tensors.shapes, hf, spec.hf_ignorable if hf else lambda n, c: False)
    if not found:
        return ""
    prefix = "model.model_config." if task_yaml else ""
    sets = " ".join(f"--set {'' if k.startswith('moe_config.') else prefix}{k}={v}" for k, v in found.items())
    split = {"hidden_size", "n_kv_heads"} & set(found) and "num_heads" not in found  # heads are not in the shapes
    heads = f" (with num_heads {config.num_heads}: the weights do not show it)" if split else ""
    return f"; the config fits with {sets}{heads}"


def _own_config(path, config_file):
    own = (path if path.is_dir() else path.parent) / CONFIG_NAME
    if own.is_file() and (config_file is None or Path(config_file).resolve() != own.resolve()):
        return f"; the checkpoint has its own config: {own}"
    return ""


def set_weights(model, tensors: TensorFiles, hf: bool) -> None:
    """Set every parameter of ``model`` from ``tensors`` (checked), cast to the parameter's dtype."""
    params = {p.name: p for p in model.get_parameters()}
    if hf:
        for rule in family_of(model.config).weight_rules(model.config):
            for name, array in rule.to_ours(tensors.get).items():
                _set(params[name], array)
        return
    for name, param in params.items():
        _set(param, tensors.get(name))


def _set(param, array):
    import mindspore as ms

    param.set_data(ms.Tensor(np.ascontiguousarray(array), dtype=param.dtype))


def load_weights(model, path, hf: bool | None = None, config_file=None) -> None:
    """Check the weights at ``path`` against ``model.config``, then set them (``hf``: whether the names are
    Hugging Face's; default: ``hf_names``)."""
    tensors = open_weights(path)
    hf = hf_names(tensors, model.config) if hf is None else hf
    check_weights(model.config, tensors, hf, config_file)
    set_weights(model, tensors, hf)


GENERATION_CONFIG = "generation_config.json"


def generation_config_of(path) -> dict | None:
    """The ``generation_config.json`` (Hugging Face's generation defaults) of a weights folder, or of a weights
    file's folder; None when there is none. mf-generate reads it before the model config."""
    path = Path(path)
    file = (path if path.is_dir() else path.parent) / GENERATION_CONFIG
    if not file.is_file():
        return None
    from mf_config.sources import read_config_json

    return read_config_json(file)


def named_checkpoint(config, key: str = NAMED_KEY) -> Path | None:
    """The weights ``checkpoint_name_or_path`` names (None when it is empty); a name that is not a file or folder is
    a ModelError naming ``key`` (mf downloads nothing)."""
    named = getattr(config, "checkpoint_name_or_path", "") or ""
    if not named:
        return None
    if not Path(named).exists():
        raise ModelError(f"names '{named}', which is not a file or folder (mf downloads nothing)", key=key)
    return Path(named)


def runnable_dtypes(config) -> None:
    """bfloat16 weights computed in float32 on MindSpore's CPU backend (it has no bfloat16 MatMul), as
    transformers 4 loads a bfloat16 checkpoint in float32 unless told otherwise; said in a warning."""
    import mindspore as ms

    if ms.get_context("device_target") != "CPU":
        return
    keys = [k for k in DTYPE_KEYS if getattr(config, k, None) == "bfloat16"]
    if keys:
        for key in keys:
            setattr(config, key, "float32")
        logger.warning("%s: bfloat16 runs as float32 on MindSpore's CPU backend (no bfloat16 MatMul)", ", ".join(keys))
