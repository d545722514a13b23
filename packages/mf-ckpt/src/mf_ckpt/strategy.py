"""Reading layouts: MindSpore strategy files (protobuf, needs mindspore; or MindSpore's JSON form), one per
pipeline stage or merged, and our tensor-parallel JSON.

Our JSON (what mf-parallel writes)::

    {"data_parallel": 2, "model_parallel": 4, "optimizer_shard": false,
     "params": {"model.layers.0.attention.wq.weight": {"split_dim": 0, "stage": 0}, ...}}

MindSpore's JSON form is ``{"parallel_strategy_item": {...: {"stage": S}}, "parallel_layout_item":
{name: {"dev_matrix": [...], "tensor_map": [...], "opt_weight_shard_step": k, "opt_weight_shard_size": n}}}``,
with names ``"S-name"`` in a file merged over stages (as ``mindspore.merge_pipeline_strategys`` writes).
"""

import os
from pathlib import Path

from mf_ckpt.errors import CheckpointError
from mf_ckpt.layout import Layout, ParamLayout
from mf_config import jsonio


def load_layout(path: str | os.PathLike) -> Layout:
    """The Layout in a strategy file, or in all the files of a folder (one per pipeline stage)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in (".ckpt", ".json", ".pb"))
        if not files:
            raise CheckpointError("no strategy files (.ckpt, .json, .pb) in the folder", file=path)
    elif path.is_file():
        files = [path]
    else:
        raise CheckpointError("no such strategy file or folder", file=path)
    params = {}
    for file in files:
        for name, layout in _read(file).items():
            params.setdefault(name, layout)  # a parameter shared by stages belongs to its first stage
    return Layout(params, path)


def _read(file):
    if file.suffix == ".json":
        data = jsonio.load(file, error=CheckpointError, max_bytes=256 << 20, max_depth=8)
        if not isinstance(data, dict):
            raise CheckpointError("expected a JSON object", file=file)
        if "parallel_layout_item" in data:
            if not isinstance(data["parallel_layout_item"], dict):
                raise CheckpointError("expected an object", file=file, key="parallel_layout_item")
            return _from_mindspore_json(data, file)
        return _from_ours(data, file)
    return _from_protobuf(file)


def _int(value, file, key, what, low=0):
    """``value`` when it is an integer of at least ``low`` (not a bool, a float or a string)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise CheckpointError(f"{what} must be an integer of at least {low}, got {value!r}", file=file, key=key)
    return value


def _int_list(value, file, key, what):
    def ok(v):
        return isinstance(v, int) and not isinstance(v, bool)

    if not isinstance(value, list) or not all(ok(v) or (isinstance(v, list) and all(map(ok, v))) for v in value):
        raise CheckpointError(f"{what} must be a list of integers", file=file, key=key)
    return tuple(tuple(v) if isinstance(v, list) else v for v in value)


def _stage_name(name, default_stage):
    stage, sep, rest = name.partition("-")
    if sep and stage.isdigit():
        return int(stage), rest
    return default_stage, name


def _from_mindspore_json(data, file):
    items = data.get("parallel_strategy_item") or {}
    first = next(iter(items.values()), {}) if isinstance(items, dict) else {}
    default_stage = _int(first.get("stage", 0), file, "parallel_strategy_item", "stage") \
        if isinstance(first, dict) else 0
    out = {}
    for name, item in data["parallel_layout_item"].items():
        if not isinstance(item, dict):
            raise CheckpointError("expected an object", file=file, key=name)
        stage, param = _stage_name(name, default_stage)
        out[param] = ParamLayout(_int_list(item.get("dev_matrix"), file, name, "dev_matrix"),
                                 _int_list(item.get("tensor_map"), file, name, "tensor_map"),
                                 _int(item.get("opt_weight_shard_step") or 0, file, name, "opt_weight_shard_step"),
                                 _int(item.get("opt_weight_shard_size") or 0, file, name, "opt_weight_shard_size"),
                                 stage)
    return out


def _from_ours(data, file):
    if not isinstance(data.get("params"), dict):
        raise CheckpointError("expected 'params' (name -> {split_dim, stage}) or MindSpore's "
                              "'parallel_layout_item'", file=file, key="params")
    dp = _int(data.get("data_parallel", 1), file, "data_parallel", "data_parallel", 1)
    mp = _int(data.get("model_parallel", 1), file, "model_parallel", "model_parallel", 1)
    opt = bool(data.get("optimizer_shard", False))
    out = {}
    for name, item in data["params"].items():
        item = item if isinstance(item, dict) else {"split_dim": item}
        split = item.get("split_dim")
        if split is not None and not isinstance(split, int):
            raise CheckpointError(f"split_dim must be an integer or null, got {split!r}", file=file, key=name)
        out[name] = ParamLayout((dp, mp), None, mp if opt and dp > 1 else 0, dp if opt and dp > 1 else 0,
                                _int(item.get("stage", 0), file, name, "stage"), split)
    return out


def _from_protobuf(file):
    try:
        from mindspore.train import node_strategy_pb2
    except ImportError:
        raise CheckpointError("MindSpore strategy files (protobuf) need mindspore: pip install "
                              "'mf-ckpt[mindspore]', or pass the JSON form", file=file) from None
    strategy = node_strategy_pb2.ParallelStrategyMap()
    try:
        strategy.ParseFromString(file.read_bytes())
    except Exception as e:  # protobuf's DecodeError and friends
        raise CheckpointError(f"not a MindSpore strategy file ({e})", file=file) from None
    if not strategy.parallel_layout_item:
        raise CheckpointError("the strategy file holds no parameter layouts", file=file)
    items = strategy.parallel_strategy_item
    default_stage = items[0].parallel_strategys.stage if items else 0
    out = {}
    for item in strategy.parallel_layout_item:
        layout = item.parallel_layouts
        stage, name = _stage_name(item.param_name, default_stage)
        maps = [tuple(m.dim) for m in layout.tensor_map]
        tensor_map = maps[0] if len(maps) == 1 else tuple(m if len(m) > 1 else m[0] for m in maps if m)
        split_shape = [list(s.dim) for s in layout.param_split_shape if list(s.dim)]
        if split_shape:
            raise CheckpointError("uneven splits (param_split_shape) are not supported", file=file, key=name)
        out[name] = ParamLayout(tuple(layout.dev_matrix[0].dim), tensor_map, int(layout.opt_weight_shard_step),
                                int(layout.opt_weight_shard_size), stage)
    return out
