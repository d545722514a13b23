"""What a training task builds before its loop: the MindSpore context and seeds, the network (with its weights
from ``load_checkpoint`` or ``checkpoint_name_or_path``), the tokenizer it names, and the callbacks."""

import logging
import random
from pathlib import Path

import numpy as np

from mf_config.errors import MFError
from mf_config.registry import build
from mf_config.sources import identify
from mf_config.state_names import is_optimizer_state
from mf_train.errors import TrainError

logger = logging.getLogger("mf_train")


def setup_runtime(task):
    """Context (graph mode by default) and every seed (Python, numpy, MindSpore) from the task."""
    import mindspore as ms

    from mf_models.runtime import set_context

    set_context(task.get("context"))
    seed = int(task.get("seed", 0))
    ms.set_seed(seed)
    np.random.seed(seed)
    random.seed(seed)
    if task.get("register_path"):
        from mf_config.registry import auto_register_sections

        auto_register_sections(task.cfg, task.get("register_path"))


def build_model(task):
    """The network of ``model.model_config`` / ``model.arch``, with the weights ``checkpoint_name_or_path`` names
    (checked against the config before the network is built, by mf-models' loader)."""
    from mf_config.sources import model_config_from_task
    from mf_models.auto import network_class, pretrained
    from mf_models.weights import named_checkpoint

    config = model_config_from_task(task.cfg)
    arch = task.get("model.arch.type")
    named = named_checkpoint(config)
    if named is None:
        return network_class(config, arch)(config)
    model = pretrained(config, named, arch=arch, config_file=task.cfg.file(), task_yaml=True)
    logger.info("loaded weights from %s (model.model_config.checkpoint_name_or_path)", named)
    return model


def apply_recompute(model, setting):
    """MindFormers' ``recompute_config.recompute``: ``true`` recomputes every decoder layer's forward pass in the
    backward pass instead of keeping its activations (MindSpore's ``Cell.recompute``), a count (or a one-stage
    list ``[n]``) the first ``n`` layers. Returns how many layers recompute."""
    from mindspore import nn

    if isinstance(setting, list) and len(setting) == 1:
        setting = setting[0]
    if not isinstance(setting, (bool, int, type(None))) or (type(setting) is int and setting < 0):
        raise TrainError(f"expected true/false or one layer count (one pipeline stage), got {setting!r}",
                         key="recompute_config.recompute")
    layers = [cell for _, cells in model.cells_and_names() if isinstance(cells, nn.CellList) for cell in cells]
    count = len(layers) if setting is True else 0 if not setting else min(int(setting), len(layers))
    for layer in layers[:count]:
        layer.recompute()
    return count


def apply_pet(model, seed):
    """LoRA on ``model`` when its config has a ``pet_config`` (the base frozen, adapters trainable); returns whether
    it did."""
    if not getattr(model.config, "pet_config", None):
        return False
    from mf_train.lora import apply_lora, lora_layers

    if not lora_layers(model):
        apply_lora(model, seed=seed)
    return True


def load_weights(model, path, key="load_checkpoint"):
    """Load a folder or file of weights into ``model``: ours (optimizer state in a training checkpoint is skipped),
    a MindFormers ``.ckpt``, or a Hugging Face folder (read through the family's weight rules by mf-models)."""
    from mf_train import checkpoint

    path = Path(path)
    if not path.exists():
        raise TrainError("no such checkpoint file or folder", file=path, key=key)
    if path.is_dir() and identify(path).hf_names:
        model.load_weights(path, hf=True)
        return [p.name for p in model.get_parameters()]
    tensors, _ = checkpoint.load(path)
    params = {p.name: p for p in model.get_parameters()}
    unexpected = [n for n in tensors if n not in params and not is_optimizer_state(n)]
    if unexpected:
        raise TrainError(f"holds {len(unexpected)} tensor(s) the model does not have, first {unexpected[0]!r}; is "
                         "it a checkpoint of this model?", file=path, key=key)
    missing = [n for n in params if n not in tensors and "lora" not in n]
    if missing:
        raise TrainError(f"lacks {len(missing)} parameter(s) of the model, first {missing[0]!r}", file=path, key=key)
    return checkpoint.restore(params, tensors, path, strict=False)


def build_tokenizer(task):
    """The tokenizer ``processor.tokenizer`` names, or None when the task names none that can be read."""
    section = task.get("processor.tokenizer") or {}
    if not (section.get("vocab_file") or section.get("tokenizer_file")):
        return None
    from mf_tokenizers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(task.cfg.file() or section.get("vocab_file"),
                                             overrides=_tokenizer_overrides(task))
    except (MFError, OSError) as e:  # the run goes on; its checkpoints just carry no tokenizer files
        logger.warning("processor.tokenizer: not saved with the checkpoints (%s)", e)
        return None


def _tokenizer_overrides(task):
    section = task.get("processor.tokenizer") or {}
    return [f"processor.tokenizer.{k}={v}" for k, v in section.items() if isinstance(v, (str, int, float, bool))]


DEFAULT_CALLBACKS = [{"type": "MFLossMonitor"}, {"type": "CheckpointMonitor"}]


def build_callbacks(task, extra=()):
    """The YAML's ``callbacks`` (MFLossMonitor and CheckpointMonitor when it has none), EvalCallBack when
    ``do_eval``, then the user's callback objects."""
    sections = list(task.get("callbacks") or DEFAULT_CALLBACKS)
    names = [s.get("type") for s in sections if isinstance(s, dict)]
    if not any(n in ("CheckpointMonitor", "CheckpointMointor") for n in names):
        sections.append({"type": "CheckpointMonitor"})
    if task.get("do_eval") and "EvalCallBack" not in names:
        sections.append({"type": "EvalCallBack", "eval_step_interval": task.get("eval_step_interval", -1),
                         "eval_epoch_interval": task.get("eval_epoch_interval", 1)})
    built = []
    for i, section in enumerate(sections):
        if not isinstance(section, dict) or "type" not in section:
            raise TrainError("expected a mapping with a 'type'", key=f"callbacks.{i}")
        try:
            built.append(build(section, "callback", register_path=task.get("register_path")))
        except TypeError as e:
            raise TrainError(f"bad arguments for {section['type']}: {e}", key=f"callbacks.{i}") from None
    return built + list(extra or ())
