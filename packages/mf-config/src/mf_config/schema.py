"""The keys of a MindFormers task file and their types, and the validator that checks a config.

A section is a dict of key -> Field (a leaf), another dict (a sub-section), ``ListOf(section)``
or ``ModelConfigSection`` (whose keys are those of the config class its ``type`` names).
Unknown keys are warnings with a "did you mean"; wrong types and broken rules are errors.
"""

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mf_config.config import MFConfig, did_you_mean, parse_override
from mf_config.config import load_config as read_config
from mf_config.errors import ConfigError
from mf_config.fields import Field, FieldError, non_negative, positive
from mf_config.model_configs import MoEConfig, ParallelConfig
from mf_config.pet_config import LoraConfig
from mf_config.sources import model_config_from_section
from mf_config.spec import config_classes

ANY = (int, float, bool, str, list, dict)


def f(types, default=None, **kw):
    return Field(types, default, optional=True, **kw)


@dataclass
class ListOf:
    item: dict


class ModelConfigSection:
    """``model.model_config``: the keys of the config class named by ``type``."""


def model_config_fields(cls):
    """The keys ``model.model_config`` of config class ``cls`` takes: its fields (``pet_config`` a sub-section)
    but parallel_config and moe_config, which a task file holds at its top level."""
    fields = {name: field for name, field in cls.fields.items() if name not in ("parallel_config", "moe_config")}
    if "pet_config" in fields:  # a sub-section: its keys are checked one by one
        fields["pet_config"] = {"type": f(str), **LoraConfig.fields}
    return fields


DATASET = {
    "data_loader": {"type": f(str), "dataset_dir": f(str), "dataset_files": f((str, list)), "shuffle": f(bool),
                    "column_names": f(list), "num_samples": f(int), "seed": f(int)},
    "input_columns": f(list), "output_columns": f(list), "column_order": f(list),
    "num_parallel_workers": f(int, check=positive), "python_multiprocessing": f(bool),
    "drop_remainder": f(bool), "batch_size": f(int, check=positive), "repeat": f(int, check=positive),
    "numa_enable": f(bool), "prefetch_size": f(int, check=positive), "seed": f(int), "eos_reset": f(bool),
    "construct_args_key": f(list), "pad_token_id": f(int), "eod_token_id": f(int), "tokenizer": f(dict),
    "text_transforms": f((dict, list)), "max_length": f(int), "do_eval": f(bool),
}
DATASET_TASK = {"type": f(str), "dataset_config": DATASET}
CALLBACK = {
    "type": f(str), "prefix": f(str), "directory": f(str), "save_checkpoint_steps": f(int, check=positive),
    "save_checkpoint_seconds": f(int), "keep_checkpoint_max": f(int), "keep_checkpoint_per_n_minutes": f(int),
    "integrated_save": f(bool), "async_save": f(bool), "save_network_params": f(bool),
    "save_trainable_params": f(bool), "checkpoint_format": f(str, choices=(None, "ckpt", "safetensors")),
    "remove_redundancy": f(bool), "per_print_times": f(int, check=positive), "learning_rate": f((float, str)),
    "micro_batch_num": f(int), "origin_epochs": f(int), "dataset_size": f(int), "initial_epoch": f(int),
    "initial_step": f(int), "global_batch_size": f(int), "gradient_accumulation_steps": f(int),
    "check_for_nan_in_loss_and_grad": f(bool), "keep_checkpoint_per_n_steps": f(int), "save_optimizer": f(bool),
}
SCHEMA = {
    "base_config": f((str, list)),
    "seed": f(int), "run_mode": f(str, choices=(None, "train", "finetune", "eval", "predict")),
    "output_dir": f(str), "load_checkpoint": f((str, bool)), "load_ckpt_format": f(str, choices=(None, "ckpt",
                                                                                                  "safetensors")),
    "src_strategy_path_or_dir": f(str), "auto_trans_ckpt": f(bool), "transform_process_num": f(int, check=positive),
    "only_save_strategy": f(bool), "resume_training": f((bool, str)), "load_ckpt_async": f(bool),
    "use_parallel": f(bool), "micro_batch_interleave_num": f(int, check=positive), "do_eval": f(bool),
    "eval_step_interval": f(int), "eval_epoch_interval": f(int), "auto_tune": f(bool), "filepath_prefix": f(str),
    "autotune_per_step": f(int), "profile": f(bool), "profile_start_step": f(int, check=non_negative),
    "profile_stop_step": f(int, check=non_negative), "init_start_profile": f(bool), "profile_communication": f(bool),
    "profile_memory": f(bool), "profiler_level": f(int), "with_stack": f(bool), "data_simplification": f(bool),
    "layer_scale": f(bool), "layer_decay": f(float), "lr_scale": f(bool), "lr_scale_factor": f(int),
    "remote_save_url": f(str), "auto_register": f(str), "register_path": f(str), "ignore_data_skip": f(bool),
    "data_skip_steps": f(int), "train_precision_sync": f(bool), "infer_precision_sync": f(bool),
    "adapter_id": f(str), "predict_batch_size": f(int), "print_separate_loss": f(bool),
    "trainer": {"type": f(str), "model_name": f(str)},
    "runner_config": {"epochs": f(int, check=positive), "batch_size": f(int, check=positive), "sink_mode": f(bool),
                      "sink_size": f(int), "per_epoch_size": f(int),
                      "gradient_accumulation_steps": f(int, check=positive),
                      "initial_epoch": f(int), "initial_step": f(int)},
    "runner_wrapper": {"type": f(str), "use_clip_grad": f(bool), "max_grad_norm": f(float, check=positive),
                       "local_norm": f(bool),
                       "scale_sense": f((float, dict)), "loss_scale_value": f(float), "scale_factor": f(float),
                       "scale_window": f(int)},
    "optimizer": {"type": f(str), "learning_rate": f(float, check=non_negative), "beta1": f(float), "betas": f(list),
                  "beta2": f(float), "eps": f(float, check=positive), "weight_decay": f(float, check=non_negative),
                  "momentum": f(float), "use_nesterov": f(bool), "loss_scale": f(float), "param_group": f(bool)},
    "lr_schedule": {"type": f(str), "learning_rate": f(float, check=non_negative), "lr_end": f(float),
                    "end_learning_rate": f(float), "warmup_ratio": f(float), "warmup_steps": f(int),
                    "warmup_lr_init": f(float), "total_steps": f(int), "decay_steps": f(int), "power": f(float),
                    "decay_rate": f(float), "min_lr": f(float), "max_lr": f(float), "num_cycles": f(float)},
    "train_dataset": DATASET, "eval_dataset": DATASET,
    "train_dataset_task": DATASET_TASK, "eval_dataset_task": DATASET_TASK,
    "callbacks": ListOf(CALLBACK), "eval_callbacks": ListOf(CALLBACK),
    "metric": f((dict, list)),
    "context": {
        "mode": f(int, choices=(None, 0, 1)), "device_target": f(str, choices=(None, "CPU", "GPU", "Ascend")),
        "device_id": f(int, check=non_negative), "enable_graph_kernel": f(bool), "graph_kernel_flags": f(str),
        "max_call_depth": f(int, check=positive), "max_device_memory": f(str), "save_graphs": f((bool, int)),
        "save_graphs_path": f(str), "runtime_num_threads": f(int, check=positive), "ascend_config": f(dict),
        "jit_config": f(dict), "memory_optimize_level": f(str), "mempool_block_size": f(str),
        "affinity_cpu_list": f((dict, list, str)), "enable_compile_cache": f(bool), "compile_cache_path": f(str),
        "deterministic": f(str), "jit_level": f(str), "inter_op_parallel_num": f(int),
    },
    "parallel": {
        "parallel_mode": f((int, str), choices=(None, 0, 1, 2, 3, "data_parallel", "semi_auto_parallel",
                                                "auto_parallel", "hybrid_parallel", "stand_alone")),
        "gradients_mean": f(bool), "enable_alltoall": f(bool), "full_batch": f(bool), "search_mode": f(str),
        "enable_parallel_optimizer": f(bool), "strategy_ckpt_save_file": f(str), "strategy_ckpt_load_file": f(str),
        "strategy_ckpt_config": f(dict), "parallel_optimizer_config": f(dict), "loss_repeated_mean": f(bool),
        "dataset_strategy": f((str, list)), "pipeline_config": f(dict), "device_num": f(int, check=positive),
    },
    "parallel_config": dict(ParallelConfig.fields),
    "moe_config": dict(MoEConfig.fields),
    "recompute_config": {"recompute": f((bool, list)), "select_recompute": f((bool, list, dict)),
                         "parallel_optimizer_comm_recompute": f(bool), "mp_comm_recompute": f(bool),
                         "recompute_slice_activation": f(bool), "select_comm_recompute": f((bool, list, dict)),
                         "select_recompute_exclude": f((bool, list, dict)),
                         "select_comm_recompute_exclude": f((bool, list, dict))},
    "model": {"model_config": ModelConfigSection(), "arch": {"type": f(str), "auto_register": f(str)}},
    "processor": {"type": f(str), "return_tensors": f(str), "max_length": f(int), "image_processor": f(dict),
                  "tokenizer": {"type": f(str), "vocab_file": f(str), "merges_file": f(str), "tokenizer_file": f(str),
                                "unk_token": f(str), "bos_token": f(str), "eos_token": f(str), "pad_token": f(str),
                                "additional_special_tokens": f(list), "model_max_length": f(int),
                                "add_bos_token": f(bool), "add_eos_token": f(bool), "padding_side": f(str),
                                "chat_template": f(str), "auto_register": f(str)}},
}


@dataclass
class Finding:
    """One thing the validator found; ``level`` is "error" or "warning"."""

    level: str
    key: str
    message: str
    file: str = None
    line: int = None

    def __str__(self):
        where = self.file or "<config>"
        if self.line is not None:
            where = f"{where}:{self.line}"
        return f"{where}: {self.key}: {self.message}"


def validate(cfg, device_num=None):
    """Findings for a loaded config (MFConfig), errors first; an empty list means clean."""
    findings = []

    def add(level, key, message):
        file, line = cfg.where(key, nearest=True) or (cfg.file(), None)  # an alias's key: its section's place
        findings.append(Finding(level, key, message, file, line))

    _walk(cfg, SCHEMA, "", add)
    _check_model(cfg, add, device_num)
    findings.sort(key=lambda x: x.level != "error")
    return findings


def load_config(path: str | os.PathLike, overrides: Sequence[str] | Mapping[str, Any] = (),
                new_keys: bool = False) -> MFConfig:
    """A MindFormers task YAML loaded as :func:`mf_config.config.load_config` does (``mf_config.load_config``);
    in a task YAML, an override of a key that no section has is a ConfigError naming the nearest known key (a
    typo on a command line is never silently added). ``new_keys=True`` adds such keys (a user's own sections)."""
    cfg = read_config(path, overrides)
    if overrides and not new_keys and isinstance(cfg.get("model"), dict) and "model_config" in cfg.model:
        items = overrides.items() if isinstance(overrides, dict) else [parse_override(o) for o in overrides]
        check_overrides(cfg, [k if isinstance(k, str) else ".".join(k) for k, _ in items])
    return cfg


def check_overrides(cfg, keys):
    """Raise ConfigError for an overridden dotted key (``--set KEY=VALUE``) that the schema does not know, or that
    lies under an unknown key, naming the nearest known key; a known key the file lacks is fine."""
    for finding in validate(cfg):
        if finding.level == "warning" and finding.message.startswith("unknown key"):
            for key in keys:
                if key == finding.key or key.startswith(finding.key + "."):
                    raise ConfigError(finding.message, key=f"--set {key}")


def _walk(data, spec, prefix, add):
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        sub = spec.get(key) if isinstance(key, str) else None
        if sub is None:
            add("warning", dotted, f"unknown key{did_you_mean(key, spec)}")
        elif isinstance(sub, Field):
            try:
                sub.coerce(dotted, value)
            except ConfigError as e:
                add("error", dotted, e.message)
        elif isinstance(sub, ModelConfigSection):
            _walk_model_config(value, dotted, add)
        elif isinstance(sub, ListOf):
            if not isinstance(value, list):
                add("error", dotted, f"expected a list, got {type(value).__name__}")
                continue
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    _walk(item, sub.item, f"{dotted}.{i}.", add)
                else:
                    add("error", f"{dotted}.{i}", f"expected a mapping, got {type(item).__name__}")
        elif value is not None and not isinstance(value, dict):
            add("error", dotted, f"expected a mapping (a section), got {type(value).__name__} {value!r}")
        elif value is not None:
            _walk(value, sub, dotted + ".", add)


def _walk_model_config(value, dotted, add):
    if not isinstance(value, dict):
        add("error", dotted, f"expected a mapping (a section), got {type(value).__name__}")
        return
    name = value.get("type", "LlamaConfig")
    classes = config_classes()
    cls = classes.get(name)
    if cls is None:
        add("error", f"{dotted}.type", f"unknown config type '{name}'{did_you_mean(name, classes)}; known: "
                                       f"{', '.join(classes)}")
        return
    _walk({k: v for k, v in value.items() if k != "type"}, model_config_fields(cls), dotted + ".", add)


def _check_model(cfg, add, device_num):
    """Relations between keys: each config's own rules and the parallel layout against the model."""
    for section, cls in (("parallel_config", ParallelConfig), ("moe_config", MoEConfig)):
        data = cfg.get(section)
        if isinstance(data, dict):
            try:
                cls.from_dict(data)
            except FieldError:
                return  # reported key by key already
            except ConfigError as e:
                add("error", f"{section}.{e.key}", e.message)
                return
    model = cfg.get("model")
    if not isinstance(model, dict) or not isinstance(model.get("model_config"), dict):
        return
    try:
        config = model_config_from_section(model.model_config, cfg.get("moe_config"), cfg.get("parallel_config"))
    except FieldError:
        return
    except ConfigError as e:
        add("error", f"model.model_config.{e.key}" if e.key else "model.model_config", e.message)
        return
    try:
        config.check_parallel(device_num=device_num)
    except ConfigError as e:
        add("error", f"parallel_config.{e.key}", e.message)
