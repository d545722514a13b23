"""``mf-parallel plan``: does a task YAML's layout (or any layout of N devices) fit the devices' memory?

For the YAML's ``parallel_config`` when its device count equals ``--devices``, else for every layout of that
many devices the model allows (mp dividing the heads, ep dividing dp and the experts, pp at most the layers),
it shows per-device memory (``mf_parallel.memory``), pipeline stages with their layers, the global batch, and
whether the layout fits: ``min(--device_memory, context.max_device_memory)``. Exit 0 when a layout fits, 1 when
none does (as ``diff``), 2 on bad input.
"""

from dataclasses import dataclass, replace

from mf_parallel.config_check import check_layout
from mf_parallel.errors import ParallelError
from mf_parallel.memory import GB, Workload, estimate, parse_size, stage_of_layer
from mf_parallel.mesh import Mesh

TRAIN_MODES = ("train", "finetune")


@dataclass
class Candidate:
    mesh: Mesh
    breakdown: object
    fits: bool
    note: str = ""


def _section(task, key):
    value = task.get(key)
    return value if isinstance(value, dict) else {}


def workload_of(task, config, mode=None, micro_batch=None):
    """The Workload of a task YAML (``runner_config``, ``recompute_config``, ``optimizer``, ``parallel``)."""
    mode = mode or ("train" if str(task.get("run_mode", "train")) in TRAIN_MODES else "predict")
    runner, parallel = _section(task, "runner_config"), _section(task, "parallel")
    recompute = _section(task, "recompute_config").get("recompute", False)
    batch = micro_batch or (runner.get("batch_size", 1) if mode == "train" else config.batch_size) or 1
    shard = parallel.get("enable_parallel_optimizer", False) or bool(config.parallel_config.optimizer_shard)
    return Workload(mode="train" if mode == "train" else "predict", batch=int(batch), seq=config.seq_length,
                    recompute=bool(recompute) if not isinstance(recompute, list) else any(recompute),
                    flash_attention=bool(config.use_flash_attention), optimizer=str(
                        _section(task, "optimizer").get("type", "AdamWeightDecay")), optimizer_shard=bool(shard),
                    micro_batch_num=config.parallel_config.micro_batch_num)


def budget_of(task, device_memory):
    """Bytes a device may use: ``--device_memory`` capped by ``context.max_device_memory``."""
    budget = parse_size(device_memory, "device_memory")
    limit = _section(task, "context").get("max_device_memory")
    return min(budget, parse_size(limit, "context.max_device_memory")) if limit else budget


def layouts(config, devices, mode):
    """Every (dp, mp, ep, pp) of ``devices`` the model allows."""
    experts = config.moe_config.expert_num
    out = []
    for mp in _divisors(devices):
        for pp in _divisors(devices // mp):
            dp = devices // mp // pp
            if pp > config.num_layers or (mode != "train" and pp > 1):
                continue
            for ep in (_divisors(dp) if experts > 1 else [1]):
                if experts > 1 and experts % ep:
                    continue
                out.append(Mesh(dp=dp, mp=mp, ep=ep, pp=pp))
    return out


def _divisors(n):
    return [d for d in range(1, n + 1) if n % d == 0]


def evaluate(config, mesh, workload, budget):
    """A Candidate for ``mesh`` (its breakdown and whether it fits), or None when the model forbids it."""
    pc = replace_parallel(config.parallel_config, mesh, workload)
    try:
        check_layout(config, pc, mesh.world)
    except ParallelError as e:
        return Candidate(mesh, None, False, str(e))
    except Exception as e:  # mf-config's ConfigError: the rule that forbids this layout
        return Candidate(mesh, None, False, getattr(e, "message", str(e)))
    work = replace(workload, micro_batch_num=max(workload.micro_batch_num, mesh.pp))
    b = estimate(config, mesh, work, pc.vocab_emb_dp)
    return Candidate(mesh, b, b.total <= budget)


def replace_parallel(pc, mesh, workload):
    from mf_config.model_configs import ParallelConfig

    data = pc.to_dict()
    data.update(data_parallel=mesh.dp, model_parallel=mesh.mp, expert_parallel=mesh.ep, pipeline_stage=mesh.pp,
                micro_batch_num=max(pc.micro_batch_num, mesh.pp))
    return ParallelConfig(**data)


def plan(task, config, devices, device_memory="64GB", mode=None, micro_batch=None):
    """(candidates, budget, searched): the YAML's layout when it uses ``devices`` devices, else every layout."""
    if devices < 1:
        raise ParallelError(f"must be at least 1, got {devices}", key="devices")
    workload = workload_of(task, config, mode, micro_batch)
    budget = budget_of(task, device_memory)
    own = Mesh.from_config(config.parallel_config)
    if own.world == devices and (workload.mode == "train" or own.pp == 1):
        return [evaluate(config, own, workload, budget)], budget, workload, False
    found = [evaluate(config, m, workload, budget) for m in layouts(config, devices, workload.mode)]
    return [c for c in found if c.breakdown is not None], budget, workload, True


def stages_text(config, mesh):
    """``stage 0: layers 0-15`` lines (MindFormers' assignment with ``offset``)."""
    stages = {}
    for i in range(config.num_layers):
        stages.setdefault(stage_of_layer(i, config.num_layers, mesh.pp, getattr(config, "offset", 0)), []).append(i)
    return [f"stage {s}: layers {v[0]}-{v[-1]} ({len(v)})" for s, v in sorted(stages.items())]


def global_batch(task, workload, mesh):
    accumulation = int(_section(task, "runner_config").get("gradient_accumulation_steps", 1) or 1)
    micro = max(workload.micro_batch_num, mesh.pp) if mesh.pp > 1 else 1
    return workload.batch * mesh.dp * accumulation * micro


def gb(n):
    return f"{n / GB:.1f}"
