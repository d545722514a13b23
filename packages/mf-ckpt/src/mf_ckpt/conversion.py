"""``convert``: a Hugging Face folder to ours (MindFormers' names, our config.json) and back (``reversed``).

Streams: the source is memory-mapped, each output tensor is made and written on its own, and its
source tensors are released right after, so memory stays near the largest tensor.
"""

import json
from pathlib import Path

from mf_ckpt.dtypes import ST_TO_NAME
from mf_ckpt.errors import CheckpointError
from mf_ckpt.output import DEFAULT_SHARD_BYTES, save_folder
from mf_ckpt.rules import check_source, specs_to_hf, specs_to_ours
from mf_ckpt.store import open_checkpoint
from mf_config.hf import to_hf_dict
from mf_config.rules import hf_shapes, ours_shapes
from mf_config.sources import CONFIG_NAME, ModelSource, identify
from mf_config.spec import FamilySpec, families, family


def family_of(source: ModelSource, model: str | None) -> FamilySpec:
    """The family of the source's config, checked against ``--model`` when given (the named family must take
    this config: ``--model mistral`` for a Llama is fine, ``--model mixtral`` for a dense Llama is not)."""
    spec = source.family
    if model is None:
        return spec
    names = [s.name for s in families()]
    if model not in names:
        raise CheckpointError(f"unknown --model {model!r}; expected one of {', '.join(names)}", key="model")
    if not family(model).accepts(source.config):
        raise CheckpointError(f"--model {model} but the config describes a {spec.name} model",
                              file=source.config_file, key="model")
    return family(model)


def convert(input_path, output_path, model=None, reversed=False, dtype=None, fmt="safetensors", config=None,
            max_shard_bytes=None):
    """Convert ``input_path`` (a folder or file) into the folder ``output_path``; returns (family, Stats).

    HF -> ours writes our ``config.json`` and ``model.safetensors`` (one file unless ``max_shard_bytes``)
    or ``model.ckpt``; ``reversed`` writes HF's ``config.json`` and safetensors shards with their index.
    ``dtype`` is a safetensors dtype name (F32/F16/BF16) or None to keep each tensor's own.
    """
    input_path = Path(input_path)
    source = identify(input_path, config=config)
    cfg, config_file = source.config, source.config_file
    spec = family_of(source, model)
    name = spec.name
    if reversed and source.hf_names and config is None:
        raise CheckpointError("is a Hugging Face config: --reversed converts our folders to Hugging Face's",
                              file=config_file)
    rules = spec.weight_rules(cfg)
    ckpt = open_checkpoint(input_path)
    try:
        if reversed:
            expected = ours_shapes(rules)
            check_source(ckpt, expected, lambda n: False, name, config_file)
            specs = specs_to_hf(rules, ckpt, dtype)
            hf = to_hf_dict(cfg)
            if dtype:
                hf["torch_dtype"] = ST_TO_NAME[dtype]

            def extra(tmp):
                (tmp / CONFIG_NAME).write_text(json.dumps(hf, indent=2) + "\n", encoding="utf-8")

            limit = max_shard_bytes or DEFAULT_SHARD_BYTES
        else:
            expected = hf_shapes(rules)
            prefix = spec.hf_base_prefix
            if prefix and not any(n.startswith(prefix) for n in ckpt.infos):
                ckpt.add_prefix(prefix)  # saved from the base model (GPT2Model, BloomModel): no "transformer."
            check_source(ckpt, expected, lambda n: spec.hf_ignorable(n, cfg), name, config_file)
            specs = specs_to_ours(rules, ckpt, dtype)
            if dtype:
                cfg.param_init_type = ST_TO_NAME[dtype]

            def extra(tmp):
                cfg.save_pretrained(tmp)

            limit = max_shard_bytes or float("inf")
        inputs = [p for p in (input_path, config_file) if p is not None]  # the output never replaces them
        return name, save_folder(output_path, specs, ckpt.release, extra=extra, max_shard_bytes=limit, fmt=fmt,
                                 inputs=inputs)
    finally:
        ckpt.close()
