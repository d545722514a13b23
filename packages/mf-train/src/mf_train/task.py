"""A training task: the MindFormers task YAML, the flags of ``mf-train run`` (each sets one YAML key) and
``--set`` overrides, resolved into one config that remembers where every value came from.

Flags are the YAML keys they set (``--batch_size`` is ``runner_config.batch_size``, ``--train_data`` is
``train_dataset.data_loader.dataset_dir``); MindFormers' spellings (``--train_dataset_dir``, ``--train_dataset``,
``--resume``, ``--options``) are aliases. Keys mf cannot honour on this backend are named once in a warning.
"""

import logging
from pathlib import Path

from mf_config import load_config
from mf_config.config import MFConfig, apply_override, parse_override
from mf_config.errors import ConfigError
from mf_train.errors import TrainError

logger = logging.getLogger("mf_train")

# flag -> the YAML key it sets
FLAG_KEYS = {
    "run_mode": "run_mode", "load_checkpoint": "load_checkpoint", "train_data": "train_dataset.data_loader.dataset_dir",
    "eval_data": "eval_dataset.data_loader.dataset_dir", "output_dir": "output_dir",
    "resume_training": "resume_training", "seed": "seed", "register_path": "register_path",
    "epochs": "runner_config.epochs", "batch_size": "runner_config.batch_size",
    "gradient_accumulation_steps": "runner_config.gradient_accumulation_steps", "do_eval": "do_eval",
    "use_parallel": "use_parallel", "device_target": "context.device_target", "device_id": "context.device_id",
    "auto_trans_ckpt": "auto_trans_ckpt", "src_strategy_path_or_dir": "src_strategy_path_or_dir",
}
DEFAULTS = {"run_mode": "train", "output_dir": "./output", "seed": 0, "runner_config.epochs": 1,
            "runner_config.gradient_accumulation_steps": 1, "context.mode": 0, "context.device_target": "CPU",
            "trainer.type": "CausalLanguageModelingTrainer"}
# keys that only tune Ascend or MindSpore's automatic parallelism: accepted, named when set (sink_mode's device
# sinking is one of them; its sink_size still counts an epoch's steps)
NOT_HONOURED = ("context.enable_graph_kernel",
                "context.ascend_config", "context.max_device_memory", "context.jit_config", "context.save_graphs",
                "context.memory_optimize_level", "recompute_config.select_recompute",
                "recompute_config.select_comm_recompute", "recompute_config.mp_comm_recompute",
                "recompute_config.parallel_optimizer_comm_recompute", "runner_wrapper.local_norm",
                "train_dataset.numa_enable", "micro_batch_interleave_num", "parallel.enable_parallel_optimizer",
                "moe_config.enable_gmm_safe_tokens", "moe_config.use_gmm", "layer_scale", "lr_scale")


class Task:
    """The resolved config (``cfg``, an MFConfig) and ``source(dotted_key)``: where its value came from."""

    def __init__(self, cfg, changes):
        self.cfg = cfg
        self.changes = changes  # dotted key -> the flag, --set or default that set it

    def get(self, dotted, default=None):
        node = self.cfg
        for part in dotted.split("."):
            if not isinstance(node, dict) or node.get(part) is None:
                return default
            node = node[part]
        return node

    def source(self, dotted):
        if dotted in self.changes:
            return self.changes[dotted]
        where = self.cfg.where(dotted)
        return "default" if where is None else where[0] if where[1] is None else f"{where[0]}:{where[1]}"

    def print_config(self):
        """The resolved config as YAML, each value followed by where it came from."""
        lines = []
        _describe(self.cfg.to_dict(), "", 0, self, lines)
        return "\n".join(lines)


def _describe(node, prefix, depth, task, lines):
    pad = "  " * depth
    for key, value in node.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            lines.append(f"{pad}{key}:")
            _describe(value, dotted + ".", depth + 1, task, lines)
        else:
            import yaml

            text = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip().removesuffix("...").strip()
            lines.append(f"{pad}{key}: {text}    # {task.source(dotted)}")


def load_task(config, flags=None, overrides=()):
    """A Task from a YAML path, a dict or an MFConfig, then ``flags`` (flag name -> value, None = not given)
    and ``overrides`` (``KEY=VALUE`` strings)."""
    if isinstance(config, (str, Path)):
        if not Path(config).is_file():
            raise TrainError("no such task YAML", file=config, key="--config")
        data = load_config(config).to_dict()
    elif isinstance(config, dict):
        data = config.to_dict() if isinstance(config, MFConfig) else MFConfig(config).to_dict()
    else:
        raise TrainError(f"expected a YAML path or a config mapping, got {type(config).__name__}", key="config")
    changes = {dotted: (value, "default") for dotted, value in DEFAULTS.items() if _get(data, dotted) is None}
    for name, value in (flags or {}).items():
        if value is not None:
            changes[FLAG_KEYS[name]] = (value, f"--{name}")
    for text in overrides:
        parts, value = parse_override(text)
        changes[".".join(parts)] = (value, f"--set {text}")
    values = {dotted: value for dotted, (value, _) in changes.items()}
    if isinstance(config, (str, Path)):
        cfg = load_config(config, values)  # keeps each YAML key's file:line
    else:
        for dotted, value in values.items():
            apply_override(data, dotted.split("."), value)
        cfg = MFConfig(data)
    task = Task(cfg, {dotted: label for dotted, (_, label) in changes.items()})
    check(task)
    return task


def _get(data, dotted):
    for part in dotted.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


def check(task):
    """Errors of the schema validator stop the run (one line, the key and its file:line); its warnings and the
    keys this backend does not honour are logged once."""
    from mf_config.schema import validate

    findings = validate(task.cfg)
    errors = [f for f in findings if f.level == "error"]
    if errors:
        first = errors[0]
        raise ConfigError(first.message, file=first.file or task.source(first.key), line=first.line, key=first.key)
    for finding in findings:
        logger.warning("%s", finding)
    ignored = [k for k in NOT_HONOURED if task.get(k)]
    if ignored:
        logger.warning("not honoured by mf-train on this backend (accepted, no effect): %s", ", ".join(ignored))
