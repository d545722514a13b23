"""PEFT interop: our adapters to and from a PEFT LoRA folder (``adapter_config.json``, ``adapter_model.safetensors``).

Layer names go through the family's HF <-> MindFormers weight rules (``mf_config`` family specs): a renamed weight
(``model.layers.N.attention.wq`` <-> ``model.layers.N.self_attn.q_proj``) keeps A (r, in) and B (out, r) as
they are, whatever the base weight's storage layout (A and B act on the layer's input and output either way). A
layer that HF fuses (GPT-2's ``c_attn``, Bloom's ``query_key_value``, split into our ``dense1/2/3``) shares its
A among the parts, and its B's rows are split and fused as the fused bias's are. Our parts exported with
different A's become one fused adapter of rank ``parts * r`` (A stacked, B block-diagonal, exact), declared in
``rank_pattern``/``alpha_pattern``.
"""

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from mindspore import nn

from mf_ckpt.manifest import write_folder_manifest
from mf_config.errors import ConfigError
from mf_config.fileio import atomic_dir
from mf_config.hf import model_type_of
from mf_config.pet_config import LoraConfig
from mf_config.rules import Fused, Rename
from mf_config.spec import family_of
from mf_train.lora import LoraError, lora_layers, regex_for
from mf_train.lora_io import read_arrays, read_json, to_numpy, write_safetensors

PEFT_CONFIG = "adapter_config.json"
PEFT_WEIGHTS = "adapter_model.safetensors"
PREFIX = "base_model.model."  # PEFT's path of the wrapped causal LM
A_SUFFIX, B_SUFFIX = ".lora_A.weight", ".lora_B.weight"


@dataclass(frozen=True)
class HFLayer:
    """Where one of our Linear layers lies in the HF model: module ``hf``; for a fused module, our ``part`` of
    its output rows and the fused bias's ``split``/``fuse`` (1-D rows <-> parts)."""

    hf: str
    part: int = None
    split: object = None
    fuse: object = None


def hf_layers(config) -> dict[str, HFLayer]:
    """{our Linear layer path: HFLayer} from the weight rules of ``config``'s family."""
    rules = family_of(config).weight_rules(config)
    biases = {r.hf[:-len(".bias")]: r for r in rules if isinstance(r, Fused) and r.hf.endswith(".bias")}
    out = {}
    for r in rules:
        if isinstance(r, Rename) and len(r.shape) == 2 and r.ours.endswith(".weight") and r.hf.endswith(".weight"):
            out[r.ours[:-len(".weight")]] = HFLayer(r.hf[:-len(".weight")])
        elif isinstance(r, Fused) and r.hf.endswith(".weight") and r.hf[:-len(".weight")] in biases:
            hf = r.hf[:-len(".weight")]
            for j, ours in enumerate(r.ours):
                out[ours[:-len(".weight")]] = HFLayer(hf, j, biases[hf].split, biases[hf].fuse)
    return out


def _split_rows(layer, b):
    """The parts of a fused B (rows as the fused bias's) : [B_j]."""
    columns = [layer.split(np.ascontiguousarray(b[:, c])) for c in range(b.shape[1])]
    return [np.stack([col[j] for col in columns], axis=1) for j in range(len(columns[0]))]


def _fuse_rows(layer, parts):
    return np.stack([layer.fuse([p[:, c] for p in parts]) for c in range(parts[0].shape[1])], axis=1)


def _check_peft_config(cfg, file):
    problems = [("peft_type", cfg.get("peft_type") != "LORA", "only LORA adapters convert"),
                ("bias", cfg.get("bias", "none") != "none", "trained base biases have no place in a LoRA adapter"),
                ("use_dora", bool(cfg.get("use_dora")), "DoRA is not LoRA"),
                ("modules_to_save", bool(cfg.get("modules_to_save")), "fully trained modules are not adapters")]
    for key, bad, why in problems:
        if bad:
            raise LoraError(f"{cfg.get(key)!r} is not supported: {why}", file=file, key=key)
    for key in ("r", "lora_alpha"):
        if not isinstance(cfg.get(key), (int, float)) or isinstance(cfg.get(key), bool) or cfg[key] <= 0:
            raise LoraError(f"expected a positive number, got {cfg.get(key)!r}", file=file, key=key)


def _scaling(cfg, module, rank):
    """PEFT's scaling of ``module``: lora_alpha / r (or / sqrt(r) with use_rslora), with its patterns applied."""
    def pattern(name, default):
        for key, value in (cfg.get(name) or {}).items():
            if module == key or module.endswith("." + key):
                return value
        return default

    alpha = pattern("alpha_pattern", cfg["lora_alpha"])
    return alpha / (math.sqrt(rank) if cfg.get("use_rslora") else rank)


def _peft_modules(arrays, file):
    """{HF module: (A, B)} of a PEFT state dict; a tensor that is not an A or a B is an error."""
    modules = {}
    for name in arrays:
        suffix = A_SUFFIX if name.endswith(A_SUFFIX) else B_SUFFIX if name.endswith(B_SUFFIX) else None
        if suffix is None or not name.startswith(PREFIX):
            raise LoraError(f"not a LoRA A/B weight of a causal LM (expected {PREFIX}<module>{A_SUFFIX} or "
                            f"{B_SUFFIX})", file=file, key=name)
        modules.setdefault(name[len(PREFIX):-len(suffix)], {})[suffix] = arrays[name]
    for module, pair in modules.items():
        if len(pair) != 2:
            raise LoraError("has only one of lora_A and lora_B", file=file, key=PREFIX + module)
    return {m: (pair[A_SUFFIX], pair[B_SUFFIX]) for m, pair in modules.items()}


def _read_weights(folder):
    for name in (PEFT_WEIGHTS, "adapter_model.bin"):
        if (folder / name).is_file():
            return folder / name, read_arrays(folder / name)
    raise LoraError(f"no {PEFT_WEIGHTS} (or adapter_model.bin) beside {PEFT_CONFIG}", file=folder)


def read_peft(folder: str | Path, model: nn.Cell) -> tuple[LoraConfig, dict]:
    """(LoraConfig, {our adapter name: array}) of a PEFT LoRA folder for ``model`` (its config names the family)."""
    folder = Path(folder)
    cfg = read_json(folder / PEFT_CONFIG)
    _check_peft_config(cfg, folder / PEFT_CONFIG)
    file, arrays = _read_weights(folder)
    ours_of = {}
    for path, layer in hf_layers(model.config).items():
        ours_of.setdefault(layer.hf, []).append((path, layer))
    out, ranks, scalings = {}, set(), set()
    for module, (a, b) in _peft_modules(arrays, file).items():
        if module not in ours_of:
            raise LoraError(f"no layer of {type(model).__name__} corresponds to {module}", file=file,
                            key=PREFIX + module + A_SUFFIX)
        ranks.add(a.shape[0])
        scalings.add(_scaling(cfg, module, a.shape[0]))
        parts = sorted(ours_of[module], key=lambda item: item[1].part or 0)
        b_parts = _split_rows(parts[0][1], b) if parts[0][1].part is not None else [b]
        for (path, _), b_part in zip(parts, b_parts):
            out[path + ".mindpet_delta_lora_a"], out[path + ".mindpet_delta_lora_b"] = a, b_part
    for key, found in (("rank_pattern", ranks), ("alpha_pattern", scalings)):
        if len(found) > 1:
            raise LoraError(f"its modules have different {'ranks' if key == 'rank_pattern' else 'scalings'} "
                            f"{sorted(found)}; only one rank and one lora_alpha / r convert", file=folder / PEFT_CONFIG,
                            key=key)
    if not ranks:
        raise LoraError("holds no LoRA weights", file=file)
    rank, scaling = ranks.pop(), scalings.pop()
    try:
        layers = sorted({name.rpartition(".")[0] for name in out})
        config = LoraConfig(lora_rank=rank, lora_alpha=scaling * rank, lora_dropout=float(cfg.get("lora_dropout", 0)),
                            lora_a_init="kaiming_uniform", target_modules=regex_for(model, layers))
    except ConfigError as e:
        raise LoraError(e.message, file=folder / PEFT_CONFIG, key=e.key) from None
    return config, out


def _export_fused(parts, adapters, rank):
    """(A, B, rank) of a fused HF module. ``parts``: [(HFLayer, rows)] of every part, in order; ``adapters``:
    {part: (A, B)} of the adapted ones. The shared A when every adapted part has the same one, else A stacked and B
    block-diagonal (rank = adapted parts * r); parts not adapted get zero rows."""
    layer, order = parts[0][0], sorted(adapters)
    a_list = [adapters[j][0] for j in order]
    dtype = a_list[0].dtype
    if all(np.array_equal(a, a_list[0]) for a in a_list):
        a, width = a_list[0], rank
        blocks = [adapters[j][1] if j in adapters else np.zeros((rows, rank), dtype) for j, (_, rows) in
                  enumerate(parts)]
    else:
        a, width = np.concatenate(a_list), len(order) * rank
        blocks = []
        for j, (_, rows) in enumerate(parts):
            block = np.zeros((rows, width), dtype)
            if j in adapters:
                i = order.index(j)
                block[:, i * rank:(i + 1) * rank] = adapters[j][1]
            blocks.append(block)
    return a, _fuse_rows(layer, blocks), width


def peft_tensors(model: nn.Cell) -> dict[str, tuple]:
    """{HF module: (A, B, rank)} of an adapted model's adapters, as PEFT holds them."""
    rank, layers, where = model.config.pet_config.lora_rank, lora_layers(model), hf_layers(model.config)
    unknown = sorted(set(layers) - set(where))
    if unknown:
        raise LoraError(f"{unknown[0]} has no counterpart in the Hugging Face model (mf-ckpt's rules)",
                        key="pet_config.target_modules")
    cells, by_module = dict(model.cells_and_names()), {}
    for path, layer in where.items():
        by_module.setdefault(layer.hf, []).append(path)
    out = {}
    for module, paths in by_module.items():
        adapted = {where[p].part: layers[p] for p in paths if p in layers}
        if not adapted:
            continue
        pairs = {j: (to_numpy(lo.mindpet_delta_lora_a), to_numpy(lo.mindpet_delta_lora_b)) for j, lo in adapted.items()}
        if where[paths[0]].part is None:
            out[module] = (*pairs[None], rank)
        else:
            parts = [(where[p], cells[p].out_channels) for p in sorted(paths, key=lambda p: where[p].part)]
            out[module] = _export_fused(parts, pairs, rank)
    return out


def _target_modules(chosen, config):
    """PEFT's target_modules: a module's leaf name when every HF module of that name is adapted, else its path."""
    every = {layer.hf for layer in hf_layers(config).values()}
    targets = []
    for leaf in dict.fromkeys(m.rpartition(".")[2] for m in sorted(chosen)):
        group = {m for m in every if m.rpartition(".")[2] == leaf}
        picked = group & set(chosen)
        targets += [leaf] if picked == group else sorted(picked)
    return targets


def save_peft(model: nn.Cell, directory: str | Path, base_model_name_or_path: str | None = None) -> Path:
    """Write ``model``'s adapters as a PEFT LoRA folder that ``peft.PeftModel.from_pretrained`` loads onto the
    Hugging Face model of the same weights (``mf-ckpt convert --reversed``); returns the folder."""
    if not lora_layers(model):
        raise LoraError(f"{type(model).__name__} has no LoRA adapters to export", key="pet_config")
    pet = model.config.pet_config
    tensors = peft_tensors(model)
    ranks = {m: r for m, (_, _, r) in tensors.items() if r != pet.lora_rank}
    cfg = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": base_model_name_or_path,
           "r": pet.lora_rank, "lora_alpha": pet.lora_alpha, "lora_dropout": pet.lora_dropout,
           "target_modules": _target_modules(tensors, model.config), "bias": "none",
           "fan_in_fan_out": model_type_of(model.config) == "gpt2",  # GPT-2's Conv1D stores (in, out)
           "rank_pattern": ranks, "alpha_pattern": {m: pet.lora_alpha * r / pet.lora_rank for m, r in ranks.items()},
           "modules_to_save": None, "use_rslora": False, "use_dora": False, "inference_mode": True}
    arrays = {}
    for module, (a, b, _) in tensors.items():
        arrays[PREFIX + module + A_SUFFIX], arrays[PREFIX + module + B_SUFFIX] = a, b
    directory = Path(directory)
    with atomic_dir(directory) as tmp:
        (tmp / PEFT_CONFIG).write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")
        write_safetensors(tmp / PEFT_WEIGHTS, arrays, {"format": "pt"})
        write_folder_manifest(tmp)
    return directory
