"""LoRA applied from outside the network: named ``Linear`` cells swapped for ``LoRALinear``, the base frozen.

``apply_lora(model, pet_config)`` adapts the Linear layers that ``target_modules`` names (MindFormers' regex; a
layer is named when the regex matches its attribute name, as MindFormers' adapter matches, or matches its whole
path or its weight's parameter name, e.g. ``model.layers.0.attention.wq`` / ``....wq.weight``), freezes every
other parameter and returns the adapter Parameters (``<layer>.mindpet_delta_lora_a`` / ``_b``, MindFormers'
names). ``merge_lora(model)`` folds them into the base weights and puts the plain layers back.
"""

import fnmatch
import re

import mindspore as ms
from mindspore import Parameter, Tensor, nn, ops

from mf_config.errors import ConfigError, MFError
from mf_config.hf import model_type_of
from mf_config.pet_config import LoraConfig
from mf_models.cells import Linear
from mf_models.dtypes import ms_dtype
from mf_train.lora_layer import HashDropout, LoRALinear

ADAPTER_SUFFIXES = ("mindpet_delta_lora_a", "mindpet_delta_lora_b")
STEP_NAME = "lora_dropout_step"
# target_modules used when pet_config leaves it out: the attention projections of each family (MindFormers' Llama
# LoRA YAMLs; GPT-2/Bloom's query/key/value and output projection, what PEFT's c_attn/c_proj and
# query_key_value/dense cover)
DEFAULT_TARGETS = {
    "llama": r".*wq|.*wk|.*wv|.*wo",
    "mistral": r".*wq|.*wk|.*wv|.*wo",
    "mixtral": r".*wq|.*wk|.*wv|.*wo",
    "gpt2": r".*dense1|.*dense2|.*dense3|.*attention\.projection",
    "bloom": r".*dense1|.*dense2|.*dense3|.*attention\.projection",
}


class LoraError(MFError):
    """A LoRA adapter file or folder is wrong (missing, names or shapes that do not fit the model)."""


def lora_config(pet_config: LoraConfig | dict | None, model: nn.Cell | None = None) -> LoraConfig:
    """``pet_config`` as a ``LoraConfig`` (a LoraConfig, a dict, or None: ``model.config.pet_config``), with
    ``target_modules`` filled in from the family's default when it is left out."""
    if pet_config is None and model is not None:
        pet_config = getattr(model.config, "pet_config", None)
    if pet_config is None:
        raise ConfigError("no LoRA config: set model.model_config.pet_config", key="pet_config")
    config = pet_config if isinstance(pet_config, LoraConfig) else LoraConfig.from_dict(dict(pet_config))
    if config.target_modules is None:
        if model is None:
            raise ConfigError("target_modules is not set", key="pet_config.target_modules")
        family = model_type_of(model.config)
        if family not in DEFAULT_TARGETS:
            raise ConfigError(f"no default LoRA targets for a {family} model: set target_modules",
                              key="pet_config.target_modules")
        config = LoraConfig.from_dict({**config.to_dict(), "target_modules": DEFAULT_TARGETS[family]})
    return config


def alternatives(pattern: str) -> list[str]:
    """The top-level ``|`` alternatives of a regex (outside groups and classes), so that each can be checked."""
    parts, depth, in_class, escaped, start = [], 0, False, False, 0
    for i, ch in enumerate(pattern):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch in "()":
            depth += 1 if ch == "(" else -1
        elif ch == "|" and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
    return [*parts, pattern[start:]]


def names_layer(regex: re.Pattern, path: str) -> bool:
    """Whether ``regex`` names the layer at ``path``: it matches the attribute name (MindFormers' rule), or the
    whole path, or the whole name of the layer's weight."""
    local = path.rpartition(".")[2]
    return bool(regex.match(local) or regex.fullmatch(path) or regex.fullmatch(path + ".weight"))


def find_targets(model: nn.Cell, config: LoraConfig) -> dict[str, Linear]:
    """{path: Linear} of the layers ``config.target_modules`` names and ``exclude_layers`` does not; each
    top-level alternative of the regex must name at least one Linear layer (ConfigError naming it otherwise)."""
    linears = {path: cell for path, cell in model.cells_and_names() if isinstance(cell, Linear)}
    if any(isinstance(cell, LoRALinear) for _, cell in model.cells_and_names()):
        raise ConfigError("LoRA is already applied to this model", key="pet_config")
    excluded = [re.compile(p) for p in config.exclude_layers or ()]
    linears = {p: c for p, c in linears.items() if not any(names_layer(r, p) for r in excluded)}
    key = "pet_config.target_modules"
    try:
        parts = [re.compile(p) for p in alternatives(config.target_modules)]
    except re.error:
        parts = [re.compile(config.target_modules)]
    leaves = sorted({p.rpartition(".")[2] for p in linears})
    for part, text in zip(parts, alternatives(config.target_modules) if len(parts) > 1 else [config.target_modules]):
        if not any(names_layer(part, p) for p in linears):
            where = f" ('{text}' of it)" if len(parts) > 1 else ""
            raise ConfigError(f"'{config.target_modules}'{where} names no Linear layer of {type(model).__name__} "
                              f"(its Linear layers: {', '.join(leaves)})", key=key)
    return {p: c for p, c in linears.items() if any(names_layer(r, p) for r in parts)}


def regex_for(model: nn.Cell, paths: list[str]) -> str:
    """A ``target_modules`` regex naming exactly the Linear layers ``paths`` of ``model``: ``.*\\.wq`` for a name
    whose every layer is listed, the escaped paths otherwise."""
    linears = [path for path, cell in model.cells_and_names() if isinstance(cell, (Linear, LoRALinear))]
    unknown = sorted(set(paths) - set(linears))
    if unknown:
        raise ConfigError(f"{unknown[0]} is not a Linear layer of {type(model).__name__}",
                          key="pet_config.target_modules")
    parts, wanted = [], set(paths)
    for local in dict.fromkeys(p.rpartition(".")[2] for p in linears):
        group = [p for p in linears if p.rpartition(".")[2] == local]
        chosen = [p for p in group if p in wanted]
        if chosen and len(chosen) == len(group):
            parts.append(r".*\." + re.escape(local))
        else:
            parts += [re.escape(p) for p in chosen]
    return "|".join(parts)


def _parent(model, path):
    parent = model
    for part in path.split(".")[:-1]:
        parent = parent[int(part)] if isinstance(parent, (nn.CellList, nn.SequentialCell)) else getattr(parent, part)
    return parent


def replace_cell(model: nn.Cell, path: str, cell: nn.Cell) -> None:
    """Put ``cell`` at ``path`` (dotted, as ``cells_and_names`` gives it) in ``model``."""
    parent, name = _parent(model, path), path.rpartition(".")[2]
    if isinstance(parent, (nn.CellList, nn.SequentialCell)):
        parent[int(name)] = cell
    else:
        setattr(parent, name, cell)


def rename_parameters(model: nn.Cell) -> None:
    """Give each Parameter its path as its name: swapped cells keep local names (``wq.weight``) otherwise."""
    for path, param in model.parameters_and_names():
        if param.name != path:
            param.name = path


def forget_compiled(model: nn.Cell) -> None:
    """Drop the graphs compiled for ``model`` before its layers changed: MindSpore keys a cell's graph by the
    cell, not by its sub-cells, so a swapped layer would not be seen by an already compiled graph."""
    for _, cell in model.cells_and_names():
        cell.compile_cache.clear()
    sessions = getattr(model, "decode_sessions", None)  # generation graphs and caches of mf_models' causal LMs
    if sessions is not None:
        sessions.clear()


def _dtype(name, key):
    return None if name is None else ms_dtype(name, key)


def apply_lora(model: nn.Cell, pet_config: LoraConfig | dict | None = None, seed: int = 0) -> list[Parameter]:
    """Adapt ``model`` in place; returns its adapter Parameters (A, B per layer, in layer order).

    Args:
        model: an mf_models causal LM (any Cell whose adapted layers are ``mf_models.cells.Linear``).
        pet_config: a ``LoraConfig``, a dict of its keys, or None (``model.config.pet_config``).
        seed: seed of the dropout masks (the task's ``seed``); unused when ``lora_dropout`` is 0.

    Every other parameter gets ``requires_grad=False`` (``freeze_include``, default every one), except those that
    ``freeze_exclude`` names (fnmatch patterns), so ``model.trainable_params()`` is what the optimizer takes.
    ``model.config.pet_config`` becomes the resolved config. Call it before compiling a training or generation
    graph of the model; graphs compiled earlier are dropped.
    """
    config = lora_config(pet_config, model)
    targets = find_targets(model, config)
    param_dtype = _dtype(config.param_init_type, "pet_config.param_init_type")
    compute_dtype = _dtype(config.compute_dtype, "pet_config.compute_dtype")
    step = None  # every check is done: from here on the model changes
    if config.lora_dropout > 0:
        step = Parameter(Tensor(0, ms.int32), name=STEP_NAME, requires_grad=False)
        model.insert_param_to_cell(STEP_NAME, step)
    adapters = []
    for index, (path, base) in enumerate(targets.items()):
        dropout = None if step is None else HashDropout(config.lora_dropout, seed, index, step)
        layer = LoRALinear(base, config.lora_rank, config.lora_alpha, dropout, config.lora_a_init, config.lora_b_init,
                           param_dtype, compute_dtype)
        replace_cell(model, path, layer)
        adapters += [layer.mindpet_delta_lora_a, layer.mindpet_delta_lora_b]
    rename_parameters(model)
    _freeze(model, adapters, config)
    model.config.pet_config = config
    forget_compiled(model)
    return adapters


def _freeze(model, adapters, config):
    mine = {id(p) for p in adapters}
    include, exclude = config.freeze_include or ["*"], config.freeze_exclude or []
    for path, param in model.parameters_and_names():
        if id(param) in mine:
            param.requires_grad = True
        elif any(fnmatch.fnmatchcase(path, p) for p in include) and \
                not any(fnmatch.fnmatchcase(path, p) for p in exclude):
            param.requires_grad = False


def lora_layers(model: nn.Cell) -> dict[str, LoRALinear]:
    """{path: LoRALinear} of an adapted model (empty for a plain one)."""
    return {path: cell for path, cell in model.cells_and_names() if isinstance(cell, LoRALinear)}


def adapter_parameters(model: nn.Cell) -> dict[str, Parameter]:
    """{name: Parameter} of the adapters (``<layer>.mindpet_delta_lora_a`` / ``_b``), in layer order."""
    return {p.name: p for layer in lora_layers(model).values()
            for p in (layer.mindpet_delta_lora_a, layer.mindpet_delta_lora_b)}


def dropout_seed(model: nn.Cell) -> int | None:
    """The seed ``apply_lora`` gave the model's LoRA dropout (None without dropout)."""
    for layer in lora_layers(model).values():
        if layer.use_dropout:
            return layer.lora_dropout.seed
    return None


def set_lora_step(model: nn.Cell, step: int) -> None:
    """Tell the LoRA dropout which step runs next: the trainer calls it before each optimizer step with its global
    step. The masks are a function of it, so a resumed run draws the masks of an uninterrupted one (and a step that
    runs its forward twice, for the loss and for the gradients, sees one mask). No effect without LoRA dropout."""
    for path, param in model.parameters_and_names():
        if path == STEP_NAME:
            param.set_data(Tensor(step % 2 ** 31, ms.int32))


def merge_lora(model: nn.Cell) -> nn.Cell:
    """Fold each adapter into its base weight (``W += B @ A * alpha / rank``, computed in float32) and put the
    plain ``Linear`` layers back; returns ``model``, now without adapters (every parameter trainable again,
    ``config.pet_config`` None). Its logits equal the adapted model's up to float rounding."""
    layers = lora_layers(model)
    if not layers:
        raise ConfigError(f"{type(model).__name__} has no LoRA layers to merge", key="pet_config")
    for path, layer in layers.items():
        weight = layer.weight
        merged = ops.cast(weight, ms.float32) + layer.delta()
        weight.set_data(ops.cast(merged, weight.dtype))
        replace_cell(model, path, layer.base)
    if STEP_NAME in model.parameters_dict():
        delattr(model, STEP_NAME)
    rename_parameters(model)
    for param in model.get_parameters():
        param.requires_grad = True
    model.config.pet_config = None
    forget_compiled(model)
    return model
