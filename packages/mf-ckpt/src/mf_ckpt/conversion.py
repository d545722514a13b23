"""``convert``: a Hugging Face folder to ours (MindFormers' names, our config.json) and back (``reversed``).

Streams: the source is memory-mapped, each output tensor is made and written on its own, and its
source tensors are released right after, so memory stays near the largest tensor. A converted folder is a whole
model: the tokenizer files, ``generation_config.json`` and chat templates of the source folder come along (and are
in the manifest); going back to Hugging Face without a ``generation_config.json``, one is written from the model
config's generation keys, so transformers decodes as mf-generate does. As ``convert_weight.py``, an output path
ending in ``.safetensors`` or ``.ckpt`` is that one file (no folder); rank shards are merged first
(``strategy``); ``use_gmm`` holds Mixtral's experts in MindFormers' grouped-matmul layout.
"""

import json
import os
import shutil
from pathlib import Path

from mf_ckpt.dtypes import ST_TO_NAME
from mf_ckpt.errors import CheckpointError
from mf_ckpt.output import DEFAULT_SHARD_BYTES, Stats, save_file, save_folder
from mf_ckpt.rules import check_source, specs_to_hf, specs_to_ours
from mf_ckpt.store import open_checkpoint
from mf_config import fsops
from mf_config.fileio import check_not_input, temp_path
from mf_config.hf import to_hf_dict
from mf_config.rules import Stack, hf_shapes, ours_shapes
from mf_config.sources import CONFIG_NAME, ModelSource, identify
from mf_config.spec import FamilySpec, families, family

# what a model folder holds besides weights and config.json, carried both ways
CARRIED = ("tokenizer.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
           "added_tokens.json", "vocab.json", "merges.txt", "generation_config.json", "chat_template.jinja",
           "chat_template.json")
GENERATION_CONFIG = "generation_config.json"
FILE_SUFFIXES = (".safetensors", ".ckpt")


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


def convert(input_path: str | os.PathLike, output_path: str | os.PathLike, model: str | None = None,
            reversed: bool = False, dtype: str | None = None, fmt: str = "safetensors",
            config: str | os.PathLike | None = None, max_shard_bytes: int | None = None, use_gmm: bool = False,
            strategy: str | os.PathLike | None = None) -> tuple[str, Stats]:
    """Convert ``input_path`` (a folder or file) into ``output_path``; returns (family, Stats).

    HF -> ours writes our ``config.json`` and ``model.safetensors`` (one file unless ``max_shard_bytes``)
    or ``model.ckpt``; ``reversed`` writes HF's ``config.json`` and safetensors shards with their index.
    An ``output_path`` ending in ``.safetensors``/``.ckpt`` is that single file. ``dtype`` is a safetensors
    dtype name (F32/F16/BF16) or None to keep each tensor's own. ``use_gmm``: our Mixtral experts are
    (expert, in, out), MindFormers' ``--use_gmm`` layout. ``strategy``: ``input_path`` holds ``rank_N/``
    shards of that layout, merged first (``reversed`` only).
    """
    input_path, output_path = Path(input_path), Path(output_path)
    if strategy is not None:
        if not reversed:
            raise CheckpointError("--strategy_dir merges our rank shards: it goes with --reversed", key="strategy_dir")
        return _from_shards(input_path, output_path, strategy, model=model, dtype=dtype, config=config,
                            max_shard_bytes=max_shard_bytes, use_gmm=use_gmm)
    input_path = _one_rank(input_path)
    source = identify(input_path, config=config)
    spec = family_of(source, model)
    if reversed and source.hf_names and config is None:
        raise CheckpointError("is a Hugging Face config: --reversed converts our folders to Hugging Face's",
                              file=source.config_file)
    rules = gmm(spec.weight_rules(source.config)) if use_gmm else spec.weight_rules(source.config)
    ckpt = open_checkpoint(input_path)
    try:
        specs, extra = (_to_hf if reversed else _to_ours)(ckpt, source, spec, rules, dtype)
        inputs = [p for p in (input_path, source.config_file) if p is not None]  # the output never replaces them
        if output_path.suffix in FILE_SUFFIXES:
            if reversed and output_path.suffix == ".ckpt":
                raise CheckpointError("--reversed writes Hugging Face safetensors, not a .ckpt", file=output_path)
            return spec.name, save_file(output_path, specs, ckpt.release, inputs=inputs)
        limit = max_shard_bytes or (DEFAULT_SHARD_BYTES if reversed else float("inf"))
        folder = input_path if input_path.is_dir() else input_path.parent
        return spec.name, save_folder(output_path, specs, ckpt.release,
                                      extra=lambda tmp: (extra(tmp), carry(folder, tmp, source, reversed)),
                                      max_shard_bytes=limit, fmt="safetensors" if reversed else fmt, inputs=inputs)
    finally:
        ckpt.close()


def _to_ours(ckpt, source, spec, rules, dtype):
    cfg = source.config
    prefix = spec.hf_base_prefix
    if prefix and not any(n.startswith(prefix) for n in ckpt.infos):
        ckpt.add_prefix(prefix)  # saved from the base model (GPT2Model, BloomModel): no "transformer."
    check_source(ckpt, hf_shapes(rules), lambda n: spec.hf_ignorable(n, cfg), spec.name, source.config_file)
    specs = specs_to_ours(rules, ckpt, dtype)
    if dtype:
        cfg.param_init_type = ST_TO_NAME[dtype]
    return specs, cfg.save_pretrained


def _to_hf(ckpt, source, spec, rules, dtype):
    check_source(ckpt, ours_shapes(rules), lambda n: False, spec.name, source.config_file)
    specs = specs_to_hf(rules, ckpt, dtype)
    hf = to_hf_dict(source.config)
    if dtype:
        hf["torch_dtype"] = ST_TO_NAME[dtype]

    def extra(tmp):
        (tmp / CONFIG_NAME).write_text(json.dumps(hf, indent=2) + "\n", encoding="utf-8")

    return specs, extra


def gmm(rules):
    """The rules with Mixtral's stacked experts in MindFormers' grouped-matmul layout (each expert transposed)."""
    return [r.transposed() if isinstance(r, Stack) else r for r in rules]


def carry(folder, tmp, source, reversed):
    """Copy the tokenizer files, generation_config.json and chat templates of the source ``folder`` into the output
    ``tmp``; back to Hugging Face without a generation_config.json, write one from the model config."""
    if (folder / CONFIG_NAME).is_file() or folder == source.path:  # the model's own folder, not a rank folder
        for name in CARRIED:
            if (folder / name).is_file():
                shutil.copyfile(folder / name, tmp / name)
    if reversed and not (tmp / GENERATION_CONFIG).exists():
        (tmp / GENERATION_CONFIG).write_text(json.dumps(generation_dict(source.config), indent=2) + "\n",
                                             encoding="utf-8")


def generation_dict(config):
    """Hugging Face's generation_config.json for the generation keys of one of our configs (MindFormers'
    ``do_sample``, ``top_k``, ``top_p``, ``repetition_penalty``, ``max_decode_length``, special ids)."""
    out = {key: getattr(config, key) for key in ("bos_token_id", "eos_token_id", "pad_token_id")
           if getattr(config, key, None) is not None}
    out["do_sample"] = bool(getattr(config, "do_sample", False))
    if out["do_sample"]:  # transformers warns about sampling keys on a greedy config
        out.update(top_k=config.top_k, top_p=config.top_p)
    if getattr(config, "repetition_penalty", 1.0) != 1.0:
        out["repetition_penalty"] = config.repetition_penalty
    out["max_length"] = min(config.max_decode_length, config.seq_length)
    return out


def _one_rank(path):
    """A folder of exactly one ``rank_0/`` (a one-device training output): its checkpoint, as convert_weight.py
    takes it; several ranks need their strategy."""
    if not path.is_dir() or (path / CONFIG_NAME).is_file():
        return path
    ranks = sorted(p for p in path.glob("rank_*") if p.is_dir())
    if len(ranks) > 1:
        raise CheckpointError(f"holds {len(ranks)} rank folders: pass their strategy (--strategy_dir) to merge them",
                              file=path, key="strategy_dir")
    if ranks:
        files = sorted(f for f in ranks[0].iterdir() if f.suffix in FILE_SUFFIXES and f.is_file())
        if files:
            return files[-1]
    return path


def _from_shards(input_path, output_path, strategy, config=None, **kwargs):
    """Merge ``input_path``'s rank shards (layout ``strategy``) next to the output, then convert them back."""
    from mf_ckpt.resharding import reshard
    from mf_ckpt.strategy import load_layout

    if config is None:
        config = input_path / CONFIG_NAME
        if not config.is_file():
            raise CheckpointError("rank shards carry no config.json: pass --config (the task YAML or config.json)",
                                  file=input_path, key="config")
    check_not_input(output_path, [input_path, config])
    output_path.parent.mkdir(parents=True, exist_ok=True)
    scratch = temp_path(output_path)  # a killed run's is removed by the next writer of output_path (clean_stale)
    try:
        reshard(input_path, scratch / "merged", src_layout=load_layout(strategy))
        merged = next((scratch / "merged" / "rank_0").glob("*.safetensors"))
        return convert(merged, output_path, reversed=True, config=config, **kwargs)
    finally:
        fsops.remove(scratch)
