"""``convert``: a Hugging Face folder to ours (MindFormers' names, our config.json) and back (``reversed``).

Streams: the source is memory-mapped, each output tensor is made and written on its own, and its
source tensors are released right after, so memory stays near the largest tensor.
"""

import json
from pathlib import Path

from mf_ckpt.dtypes import ST_TO_NAME
from mf_ckpt.errors import CheckpointError
from mf_ckpt.families import FAMILIES
from mf_ckpt.output import DEFAULT_SHARD_BYTES, save_folder
from mf_ckpt.rules import check_source, specs_to_hf, specs_to_ours
from mf_ckpt.store import open_checkpoint
from mf_config import jsonio
from mf_config.config import load_config
from mf_config.errors import ConfigError
from mf_config.hf import from_hf_dict, model_type_of, to_hf_dict
from mf_config.model_configs import MODEL_CONFIGS

CONFIG = "config.json"


def _read_json(path):
    data = jsonio.load(path, error=ConfigError, max_bytes=16 << 20)  # not UTF-8, too deep, huge numbers: one line
    if not isinstance(data, dict):
        raise ConfigError("expected a JSON object", file=path)
    return data


def load_model_config(path):
    """Our model config from a config.json (ours or Hugging Face's), a folder holding one, or a YAML
    (a MindFormers task file's ``model.model_config`` or a config's own keys)."""
    path = Path(path)
    if path.is_dir():
        path = path / CONFIG
    if not path.is_file():
        raise ConfigError("no such config file (pass --config)", file=path)
    try:
        if path.suffix in (".yaml", ".yml"):
            cfg = load_config(path)
            model = cfg.get("model")
            section = model.get("model_config") if isinstance(model, dict) else None
            name = (section or cfg).get("type", "LlamaConfig")
            if name not in MODEL_CONFIGS:
                raise ConfigError(f"unknown config type '{name}'; known: {', '.join(MODEL_CONFIGS)}", key="type")
            return MODEL_CONFIGS[name].from_yaml(path)
        data = _read_json(path)
        if "type" in data:
            if data["type"] not in MODEL_CONFIGS:
                raise ConfigError(f"unknown config type '{data['type']}'", key="type")
            return MODEL_CONFIGS[data["type"]].from_dict(data)
        return from_hf_dict(data)
    except ConfigError as e:
        if e.file:
            raise
        raise ConfigError(e.message, file=path, key=e.key) from None


def family_of(config, model, config_file):
    """The family module for a config, checked against ``--model`` when given."""
    name = model_type_of(config)
    if model is not None:
        if model not in FAMILIES:
            raise CheckpointError(f"unknown --model {model!r}; expected one of {', '.join(FAMILIES)}", key="model")
        if FAMILIES[model] is not FAMILIES[name] or (model == "mixtral") != (name == "mixtral"):
            raise CheckpointError(f"--model {model} but the config describes a {name} model", file=config_file,
                                  key="model")
    return name, FAMILIES[name]


def convert(input_path, output_path, model=None, reversed=False, dtype=None, fmt="safetensors", config=None,
            max_shard_bytes=None):
    """Convert ``input_path`` (a folder or file) into the folder ``output_path``; returns (family, Stats).

    HF -> ours writes our ``config.json`` and ``model.safetensors`` (one file unless ``max_shard_bytes``)
    or ``model.ckpt``; ``reversed`` writes HF's ``config.json`` and safetensors shards with their index.
    ``dtype`` is a safetensors dtype name (F32/F16/BF16) or None to keep each tensor's own.
    """
    input_path = Path(input_path)
    config_file = Path(config) if config else (input_path if input_path.is_dir() else input_path.parent) / CONFIG
    cfg = load_model_config(config_file)
    name, family = family_of(cfg, model, config_file)
    if reversed and not config and "type" not in _read_json(config_file):
        raise CheckpointError("is a Hugging Face config: --reversed converts our folders to Hugging Face's",
                              file=config_file)
    rules = family.rules(cfg)
    ckpt = open_checkpoint(input_path)
    try:
        if reversed:
            expected = {k: v for r in rules for k, v in r.ours_shapes().items()}
            check_source(ckpt, expected, lambda n: False, name, config_file)
            specs = specs_to_hf(rules, ckpt, dtype)
            hf = to_hf_dict(cfg)
            if dtype:
                hf["torch_dtype"] = ST_TO_NAME[dtype]

            def extra(tmp):
                (tmp / CONFIG).write_text(json.dumps(hf, indent=2) + "\n", encoding="utf-8")

            limit = max_shard_bytes or DEFAULT_SHARD_BYTES
        else:
            expected = {k: v for r in rules for k, v in r.hf_shapes().items()}
            prefix = getattr(family, "BASE_PREFIX", None)
            if prefix and not any(n.startswith(prefix) for n in ckpt.infos):
                ckpt.add_prefix(prefix)  # saved from the base model (GPT2Model, BloomModel): no "transformer."
            check_source(ckpt, expected, lambda n: family.ignorable(n, cfg), name, config_file)
            specs = specs_to_ours(rules, ckpt, dtype)
            if dtype:
                cfg.param_init_type = ST_TO_NAME[dtype]

            def extra(tmp):
                cfg.save_pretrained(tmp)

            limit = max_shard_bytes or float("inf")
        return name, save_folder(output_path, specs, ckpt.release, extra=extra, max_shard_bytes=limit, fmt=fmt,
                                 inputs=[input_path, config_file])
    finally:
        ckpt.close()
