"""``AutoModel``: the network a config, a task YAML, our folder or a Hugging Face folder names.

The network class comes from a task YAML's ``model.arch.type`` (the ``type:`` registry), else from the config's
family: its ``network`` part, which mf-models announces per family (entry points of group ``mf.parts``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mf_config.fields import DTYPES
from mf_config.registry import get
from mf_config.sources import ModelSource, identify
from mf_config.spec import family_of
from mf_models.errors import ModelError

if TYPE_CHECKING:
    from mf_config import PretrainedConfig
    from mf_models.modeling import CausalLM
from mf_models.weights import (
    check_weights,
    generation_config_of,
    hf_names,
    open_weights,
    runnable_dtypes,
    set_weights,
)


def network_class(config, arch: str | None = None) -> type:
    """The network class for ``config``: the registry's ``arch`` (a MindFormers ``model.arch.type``) when
    given, else the ``network`` part of the config's family."""
    return get("model", arch) if arch else family_of(config).part("network")


class AutoModel:
    """Build or load the network of a config: ``from_config(config | file)``, ``from_pretrained(folder | file)``."""

    @staticmethod
    def from_config(config: PretrainedConfig | str | os.PathLike, overrides: Sequence[str] = ()) -> CausalLM:
        """A freshly initialised network for a config object or a file ``mf_config.identify`` reads (a task
        YAML (its ``model.arch.type``), a ``config.json`` or a model folder); ``overrides`` are ``key=value``
        strings (dotted for a YAML)."""
        if isinstance(config, (str, Path)):
            source = identify(config, overrides=overrides)
            return network_class(source.config, source.arch)(source.config)
        return network_class(config)(config)

    @staticmethod
    def from_pretrained(path: str | os.PathLike, config: str | os.PathLike | None = None,
                        overrides: Sequence[str] = (), dtype: str | None = None) -> CausalLM:
        """The network with its weights: our folder (``save_pretrained``), a Hugging Face folder (loaded through
        the family's weight rules, no conversion on disk), or a weights file (ours, a MindFormers ``.ckpt`` or
        Hugging Face's) with its ``config`` (a task YAML or a config.json; default: the config.json beside the
        file). ``dtype`` (float32, float16, bfloat16) sets the network's ``param_init_type`` and
        ``compute_dtype``, as transformers' ``torch_dtype``; the weights are cast to it whatever their own."""
        return from_source(identify(path, config=config, overrides=overrides), dtype=dtype)


def from_source(source: ModelSource, weights=None, dtype=None, setup=None):
    """The network of an identified source with the weights at ``weights`` (default: the source's own),
    checked against its config before the network is built (see ``pretrained``)."""
    own = weights is None and source.kind in ("hf_folder", "mf_folder")  # else the weights' names decide
    return pretrained(source.config, weights or weights_of(source), arch=source.arch, dtype=dtype,
                      hf=source.hf_names if own else None, config_file=source.config_file,
                      task_yaml=source.task is not None, setup=setup)


def pretrained(config, weights, network=None, arch=None, dtype=None, hf=None, config_file=None, task_yaml=False,
               setup=None):
    """The network of ``config`` (class ``network``, else ``network_class(config, arch)``) with the weights at
    ``weights``: their header is checked against the config first (``mf_models.weights.check_weights``; no
    mindspore import before it), ``setup()`` runs (mf-generate sets MindSpore's context there), then the
    network is built and each tensor set, cast to its parameter's dtype; ``model.generation_config`` is the
    folder's ``generation_config.json`` (a dict) or None. ``dtype`` sets the network's dtypes;
    without it bfloat16 runs as float32 on the CPU backend (with a warning). ``hf``: whether the tensors carry
    Hugging Face's names (default: ``mf_models.weights.hf_names``)."""
    if dtype is not None and dtype not in DTYPES:
        raise ModelError(f"expected one of {', '.join(DTYPES)}, got {dtype!r}", key="dtype")
    tensors = open_weights(weights)
    hf = hf_names(tensors, config) if hf is None else hf
    check_weights(config, tensors, hf, config_file, task_yaml)
    if setup is not None:
        setup()
    if dtype is not None:
        config.param_init_type = config.compute_dtype = dtype
    else:
        runnable_dtypes(config)
    model = (network or network_class(config, arch))(config)
    set_weights(model, tensors, hf)
    object.__setattr__(model, "generation_config", generation_config_of(weights))  # not a Cell attribute
    return model


def weights_of(source: ModelSource) -> Path:
    """The weights of a source, or a ModelError saying that it has none."""
    if source.weights is None:
        raise ModelError("holds no weights (pass a folder or file with weights, or load_checkpoint)",
                         file=source.path, key="load_checkpoint")
    return source.weights
