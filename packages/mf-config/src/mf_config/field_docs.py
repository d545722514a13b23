"""``mf-config show --doc``: the resolved YAML with each known key's one-line doc as a comment.

The text is ``MFConfig.dump()``'s, unchanged but for the comments, so it loads back to the same config. Each
key is found in that text by composing it (PyYAML's nodes carry their lines) and looked up in the schema
(``mf_config.schema.SCHEMA``; ``model.model_config`` by its ``type``): a key that maps to a config class's
``Field`` gets the field's ``doc``; the task file's sections and their commonest keys get ``KEY_DOCS``; any
other key stays plain. The comment ends the key's line, or stands on a line of its own above a key whose value
spans lines (a long string).
"""

import yaml

from mf_config.fields import Field
from mf_config.schema import SCHEMA, ListOf, ModelConfigSection, model_config_fields
from mf_config.spec import config_classes

# the task file's keys that no config class declares, by dotted path (list indices left out)
KEY_DOCS = {
    "base_config": "YAML file(s) this one is merged onto (relative to this file; this file wins)",
    "seed": "global random seed",
    "run_mode": "what a MindFormers run does: train, finetune, eval or predict",
    "output_dir": "folder for checkpoints, strategy files and logs",
    "load_checkpoint": "weights to load before the run: a file or folder; empty: none",
    "src_strategy_path_or_dir": "sharding strategy the distributed load_checkpoint was saved with",
    "auto_trans_ckpt": "reshard load_checkpoint to this run's parallel layout",
    "only_save_strategy": "write the sharding strategy files and stop",
    "resume_training": "resume the step, optimizer and lr state from load_checkpoint (or a named file)",
    "use_parallel": "run distributed (the parallel and parallel_config sections apply)",
    "do_eval": "evaluate on eval_dataset during training",
    "trainer": "the MindFormers trainer class that runs the task",
    "trainer.type": "trainer class, e.g. CausalLanguageModelingTrainer",
    "trainer.model_name": "model name the trainer reports and looks up",
    "runner_config": "training loop: epochs, batch size, data sinking",
    "runner_config.epochs": "passes over the training data",
    "runner_config.batch_size": "samples per device per step",
    "runner_config.sink_mode": "feed data to the device in sink_size-step chunks (MindSpore data sinking)",
    "runner_config.sink_size": "steps per sink chunk (sink_mode)",
    "runner_config.gradient_accumulation_steps": "micro-steps whose gradients add up before one update",
    "runner_wrapper": "the training-step cell: loss scaling and gradient clipping",
    "runner_wrapper.use_clip_grad": "clip gradients to max_grad_norm",
    "runner_wrapper.max_grad_norm": "global gradient norm clipped to (use_clip_grad)",
    "runner_wrapper.scale_sense": "loss scale: a number, or a dynamic loss-scale cell's section",
    "optimizer": "the optimizer class and its hyper-parameters",
    "optimizer.type": "optimizer class, e.g. AdamW or FP32StateAdamWeightDecay",
    "optimizer.beta1": "Adam's first-moment decay",
    "optimizer.beta2": "Adam's second-moment decay",
    "optimizer.eps": "Adam's epsilon added to the denominator",
    "optimizer.weight_decay": "decoupled weight decay coefficient",
    "optimizer.learning_rate": "learning rate when no lr_schedule is given",
    "lr_schedule": "learning-rate schedule class and its settings",
    "lr_schedule.type": "schedule class, e.g. CosineWithWarmUpLR",
    "lr_schedule.learning_rate": "peak learning rate",
    "lr_schedule.lr_end": "learning rate at the end of the decay",
    "lr_schedule.warmup_ratio": "fraction of total_steps spent warming up linearly",
    "lr_schedule.warmup_steps": "steps of linear warm-up",
    "lr_schedule.total_steps": "steps the schedule spans; -1: the dataset's steps x epochs",
    "train_dataset": "training data: loader, columns, batching",
    "eval_dataset": "evaluation data: loader, columns, batching",
    "train_dataset_task": "dataset class wrapping train_dataset",
    "eval_dataset_task": "dataset class wrapping eval_dataset",
    "callbacks": "callbacks run during training (loss monitor, checkpoint saving, ...)",
    "eval_callbacks": "callbacks run during evaluation",
    "callbacks.type": "callback class, e.g. MFLossMonitor or CheckpointMonitor",
    "callbacks.prefix": "checkpoint file name prefix (CheckpointMonitor)",
    "callbacks.save_checkpoint_steps": "save a checkpoint every this many steps (CheckpointMonitor)",
    "callbacks.keep_checkpoint_max": "checkpoints kept, the oldest removed (CheckpointMonitor)",
    "context": "MindSpore's context: mode, device, memory, graph settings",
    "context.mode": "0: graph mode (compiled), 1: PyNative (eager)",
    "context.device_target": "backend: Ascend, GPU or CPU",
    "context.device_id": "device index used on this host",
    "context.max_device_memory": "device memory MindSpore may use, e.g. '58GB'",
    "context.max_call_depth": "recursion limit of graph compilation",
    "context.save_graphs": "dump the compiled graphs (debugging)",
    "parallel": "MindSpore's auto-parallel context",
    "parallel.parallel_mode": "0 data, 1 semi-auto, 2 auto, 3 hybrid parallel (or the names)",
    "parallel.gradients_mean": "average (not sum) gradients across data-parallel devices",
    "parallel.enable_alltoall": "allow all-to-all communication (MoE)",
    "parallel.full_batch": "every device reads the whole batch (semi-auto parallel)",
    "parallel.search_mode": "auto-parallel strategy search, e.g. sharding_propagation",
    "parallel.enable_parallel_optimizer": "shard optimizer state over data-parallel devices",
    "parallel.strategy_ckpt_save_file": "file the sharding strategy is written to",
    "parallel.parallel_optimizer_config": "settings of the sharded optimizer",
    "parallel.pipeline_config": "settings of the pipeline scheduler",
    "parallel_config": "the parallel layout: data, tensor, context, expert and pipeline ways",
    "moe_config": "mixture-of-experts settings (expert_num 1: a dense model)",
    "recompute_config": "activation recomputation: recompute in the backward instead of keeping",
    "recompute_config.recompute": "recompute whole layers (true, or a count per pipeline stage)",
    "recompute_config.select_recompute": "recompute only the named ops",
    "model": "the network: its config (model_config) and class (arch)",
    "model.model_config": "the network's sizes and switches; type names the config class",
    "model.model_config.type": "config class, e.g. LlamaConfig, GPT2Config, BloomConfig",
    "model.model_config.pet_config": "LoRA (parameter-efficient tuning); null or absent: none",
    "model.model_config.pet_config.type": "MindFormers' PET config class (LoraConfig)",
    "model.arch": "the network class",
    "model.arch.type": "network class, e.g. LlamaForCausalLM",
    "processor": "text pre-processing: the tokenizer and its settings",
    "processor.tokenizer": "the tokenizer class and its files",
    "processor.tokenizer.type": "tokenizer class, e.g. LlamaTokenizer",
    "processor.tokenizer.vocab_file": "tokenizer model / vocabulary file",
    "metric": "evaluation metric class(es)",
}


def documented(cfg):
    """``cfg.dump()`` with a ``# doc`` comment on every key the schema or ``KEY_DOCS`` documents."""
    text = cfg.dump()
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    notes = {}  # line -> (doc, whether the comment goes above the line)
    if isinstance(root, yaml.MappingNode):
        _visit(root, SCHEMA, "", notes)
    return _render(text.splitlines(), notes)


def doc_of(spec, dotted):
    """The doc of a key: its field's, else ``KEY_DOCS``', else None."""
    if isinstance(spec, Field) and spec.doc:
        return spec.doc
    return KEY_DOCS.get(dotted)


def _visit(node, spec, prefix, notes):
    for key_node, value in node.value:
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        sub = spec.get(key) if isinstance(spec, dict) and key is not None else None
        dotted = f"{prefix}{key}"
        doc = doc_of(sub, dotted)
        if doc:
            line = key_node.start_mark.line
            above = isinstance(value, yaml.ScalarNode) and value.end_mark.line != line
            notes[line] = (doc, above)
        if isinstance(sub, ModelConfigSection) and isinstance(value, yaml.MappingNode):
            _visit(value, _model_config_spec(value), dotted + ".", notes)
        elif isinstance(sub, dict) and isinstance(value, yaml.MappingNode):
            _visit(value, sub, dotted + ".", notes)
        elif isinstance(sub, ListOf) and isinstance(value, yaml.SequenceNode):
            for item in value.value:
                if isinstance(item, yaml.MappingNode):
                    _visit(item, sub.item, dotted + ".", notes)


def _model_config_spec(node):
    """The keys of the config class ``model.model_config.type`` names (LlamaConfig when absent, as the
    validator; an unknown type: ``type`` alone is documented)."""
    name = next((v.value for k, v in node.value if k.value == "type" and isinstance(v, yaml.ScalarNode)),
                "LlamaConfig")
    cls = config_classes().get(name)
    return model_config_fields(cls) if cls is not None else {}


def _render(lines, notes):
    trailing = [len(lines[i]) for i, (_, above) in notes.items() if not above]
    column = min(max(trailing, default=0), 48) + 2
    out = []
    for i, line in enumerate(lines):
        doc, above = notes.get(i, (None, False))
        if doc is None:
            out.append(line)
        elif above:
            out.append(" " * (len(line) - len(line.lstrip(" -"))) + f"# {doc}")
            out.append(line)
        else:
            out.append(f"{line.ljust(column - 2)}  # {doc}")
    return "\n".join(out) + "\n"
