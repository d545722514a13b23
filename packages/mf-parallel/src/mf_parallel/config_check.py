"""A parallel layout checked against the model and the device count from the config alone (no mindspore, no
workers): what ``parallelize`` would refuse, refused before anything starts."""

from mf_config.model_configs import ParallelConfig
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


def check_layout(config, parallel_config=None, device_num=None):
    """The layout's rules against the model config: device count, heads and kv heads by mp, experts by ep,
    stages by layers (mf-config's ``ParallelConfig.check``), then every split parameter's shape. Returns the
    ParallelConfig."""
    from mf_models.specs import param_shapes

    pc = as_parallel_config(parallel_config) or config.parallel_config
    pc.check(device_num=device_num, num_layers=config.num_layers, num_heads=config.num_heads,
             n_kv_heads=getattr(config, "kv_heads", None) or config.num_heads,
             expert_num=config.moe_config.expert_num)
    mesh = Mesh.from_config(pc)
    shapes = param_shapes(config)
    check_shapes(shapes, plan_for(config).resolve(shapes, vocab_emb_dp=pc.vocab_emb_dp), mesh)
    return pc


def check_task(path, overrides, device_num):
    """``check_layout`` for a task YAML (with dotted overrides) on ``device_num`` workers."""
    from mf_config import load_config
    from mf_config.model_configs import model_config_from_task

    task = load_config(path, list(overrides))
    if not isinstance(task.get("model"), dict) or "model_config" not in task["model"]:
        return None
    return check_layout(model_config_from_task(task), None, device_num)
