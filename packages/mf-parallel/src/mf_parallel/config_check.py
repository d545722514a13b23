"""A parallel layout checked against the model and the device count from the config alone (no mindspore, no
workers): what ``parallelize`` would refuse, refused before anything starts."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mf_config.model_configs import ParallelConfig
from mf_config.pretrained import PretrainedConfig
from mf_parallel.errors import ParallelError
from mf_parallel.mesh import Mesh
from mf_parallel.plans import plan_for


def as_parallel_config(parallel_config):
    if parallel_config is None or isinstance(parallel_config, ParallelConfig):
        return parallel_config
    return ParallelConfig(**dict(parallel_config))


def check_shapes(shapes, placements, mesh):
    """Every split dimension divides by its mesh axis; ParallelError naming the parameter and the key."""
    for name, placement in placements.items():
        for dim, axis in placement.dims:
            size = mesh.size(axis)
            if shapes[name][dim] % size:
                key = {"mp": "model_parallel", "ep": "expert_parallel"}[axis]
                raise ParallelError(f"{name} {list(shapes[name])}: dimension {dim} does not split into {key} "
                                    f"({size}) parts", key=f"parallel_config.{key}")


def check_layout(config: PretrainedConfig, parallel_config: ParallelConfig | Mapping[str, Any] | None = None,
                 device_num: int | None = None) -> ParallelConfig:
    """The layout's rules against the model config: device count, heads and kv heads by mp, experts by ep,
    stages by layers (mf-config's ``ParallelConfig.check``), then every split parameter's shape. Returns the
    ParallelConfig."""
    from mf_config import param_shapes

    pc = as_parallel_config(parallel_config) or config.parallel_config
    pc.check(device_num=device_num, num_layers=config.num_layers, num_heads=config.num_heads,
             n_kv_heads=getattr(config, "kv_heads", None) or config.num_heads,
             expert_num=config.moe_config.expert_num)
    mesh = Mesh.from_config(pc)
    shapes = param_shapes(config)
    check_shapes(shapes, plan_for(config).resolve(shapes, vocab_emb_dp=pc.vocab_emb_dp), mesh)
    return pc


def check_task(path, overrides, device_num, load_checkpoint=None, src_strategy=None):
    """``check_layout`` for a task YAML (with dotted overrides) on ``device_num`` workers, and ``check_checkpoint``
    for the checkpoint it (or ``load_checkpoint``) names."""
    from mf_config import load_config
    from mf_config.sources import model_config_from_task

    task = load_config(path, list(overrides))
    if not isinstance(task.get("model"), dict) or "model_config" not in task["model"]:
        return None
    config = model_config_from_task(task)
    pc = check_layout(config, None, device_num)
    checkpoint = load_checkpoint or task.get("load_checkpoint")
    if checkpoint:
        check_checkpoint(config, checkpoint, src_strategy or task.get("src_strategy_path_or_dir") or None)
    return pc


def source_layout(source, src_strategy=None):
    """The layout of a checkpoint to load: ``src_strategy`` (a MindSpore strategy file or folder, or a layout
    JSON), else ``source/layout.json`` (what mf-parallel writes), else whole (one file or folder, one rank)."""
    from mf_ckpt.layout import Layout
    from mf_ckpt.strategy import load_layout

    source = Path(source)
    if src_strategy:
        return load_layout(src_strategy)
    if source.is_dir() and (source / "layout.json").is_file():
        return load_layout(source / "layout.json")
    ranks = [p for p in source.iterdir() if p.is_dir() and p.name.startswith("rank_")] if source.is_dir() else []
    if len(ranks) > 1:
        raise ParallelError("a sharded checkpoint needs its layout: pass src_strategy_path_or_dir (a strategy "
                            "file or folder)", file=source, key="src_strategy_path_or_dir")
    return Layout({})


def check_checkpoint(config, path, src_strategy=None):
    """A checkpoint to load (whole, or ``rank_N`` shards with ``src_strategy`` or their ``layout.json``) against the
    model's parameter names and full shapes, from the files' headers (numpy only): ParallelError naming the tensor."""
    from mf_ckpt.resharding import Sources, tensor_meta
    from mf_config import param_shapes

    path = Path(path)
    if not path.exists():
        raise ParallelError("no such checkpoint file or folder", file=path, key="load_checkpoint")
    sources = Sources(path)
    try:
        meta = tensor_meta(sources, source_layout(path, src_strategy))
    finally:
        sources.close()
    for name, shape in param_shapes(config).items():
        if name not in meta:
            raise ParallelError("the model's parameter is missing from the checkpoint", file=path, key=name)
        if tuple(meta[name][1]) != tuple(shape):
            raise ParallelError(f"shape {list(meta[name][1])} in the checkpoint, the model needs {list(shape)}",
                                file=path, key=name)
