"""This process's place in a parallel job: communication initialised once, the mesh's process groups created,
and factories for the collective cells of ``mf_parallel.comm`` on those groups (an identity where a group
holds this rank alone)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mindspore import nn

from mf_parallel.capabilities import capabilities
from mf_parallel.comm import AllReduceMax, AllReduceSum, CopyToRegion, Gather, Group, ReduceFromRegion
from mf_parallel.errors import ParallelError
from mf_parallel.mesh import Mesh

if TYPE_CHECKING:
    from mf_config import ParallelConfig

_STATE = {"initialised": False, "groups": {}}


def init_communication():
    """``mindspore.communication.init()`` once per process; (rank, world size)."""
    from mindspore.communication import get_group_size, get_rank, init

    if not _STATE["initialised"]:
        if "MS_ROLE" not in os.environ and "RANK_TABLE_FILE" not in os.environ:
            raise ParallelError("no parallel job: start it under `mf-parallel launch` (msrun), which sets "
                                "MS_ROLE, MS_SCHED_HOST/PORT and MS_WORKER_NUM", key="use_parallel")
        init()
        _STATE["initialised"] = True
    return get_rank(), get_group_size()


def _create(name, ranks):
    from mindspore.communication import create_group

    if name not in _STATE["groups"]:
        create_group(name, list(ranks))
        _STATE["groups"][name] = tuple(ranks)


class Runtime:
    """This rank in ``mesh`` on ``backend`` (MindSpore's device_target): its groups and collective cells."""

    def __init__(self, mesh, rank, backend, create_groups=True):
        self.mesh, self.rank = mesh, rank
        self.caps = capabilities(backend)
        self.backend = backend
        self.groups = {}
        for kind, ranks in mesh.groups(rank).items():
            world = len(ranks) == mesh.world
            name = self.caps.world_group if world else f"mf_{kind}_" + "_".join(map(str, ranks))
            if create_groups and len(ranks) > 1 and not world:
                _create(name, ranks)
            self.groups[kind] = Group(name, tuple(ranks), ranks.index(rank), world)

    def group(self, kind):
        return self.groups[kind]

    def index(self, axis):
        return self.mesh.index(axis, self.rank)

    def _cell(self, kind, make):
        group = self.groups[kind]
        return nn.Identity() if group.size == 1 else make(group)

    def copy_to(self, kind="mp"):
        return self._cell(kind, CopyToRegion)

    def reduce_from(self, kind="mp"):
        return self._cell(kind, ReduceFromRegion)

    def all_reduce_sum(self, kind):
        return self._cell(kind, AllReduceSum)

    def all_reduce_max(self, kind="mp"):
        return self._cell(kind, lambda g: AllReduceMax(g, self.caps))

    def gather(self, kind="mp", axis=0, backward="slice"):
        return self._cell(kind, lambda g: Gather(g, self.caps, axis, backward))


def start(parallel_config: ParallelConfig | Mapping[str, Any], backend: str | None = None) -> Runtime:
    """Initialise communication and this rank's groups for ``parallel_config``; the ``Runtime``.

    Refuses, naming the key, a layout whose device count differs from the job's, and what this backend cannot
    run (pipeline stages without point-to-point, sequence parallel without reduce-scatter)."""
    import mindspore as ms

    mesh = Mesh.from_config(parallel_config)
    backend = backend or ms.get_context("device_target")
    caps = capabilities(backend)
    check_runnable(parallel_config, mesh, caps)
    rank, size = init_communication()
    if size != mesh.world:
        raise ParallelError(f"the layout {mesh.describe()} needs {mesh.world} workers, the job has {size}",
                            key="parallel_config.data_parallel")
    return Runtime(mesh, rank, backend)


def check_runnable(parallel_config, mesh, caps):
    """What this backend cannot run, as a ParallelError naming the key (before anything starts)."""
    get = parallel_config.get if isinstance(parallel_config, dict) else \
        lambda k, d=None: getattr(parallel_config, k, d)
    if mesh.pp > 1 and not caps.point_to_point:
        raise ParallelError(f"pipeline stages need point-to-point communication (Send/Receive), which the "
                            f"{caps.backend} backend lacks; `mf-parallel plan` shows the stages; set "
                            f"pipeline_stage 1 here", key="parallel_config.pipeline_stage")
    if mesh.pp > 1:
        raise ParallelError("pipeline execution is not implemented by mf-parallel yet (plan only)",
                            key="parallel_config.pipeline_stage")
    if get("use_seq_parallel", False) and mesh.mp > 1:
        if caps.where["reduce_scatter"] is None:
            raise ParallelError(f"sequence parallel needs ReduceScatter, which the {caps.backend} backend lacks; "
                                "set use_seq_parallel False", key="parallel_config.use_seq_parallel")
        raise ParallelError("sequence parallel is not implemented by mf-parallel yet",
                            key="parallel_config.use_seq_parallel")
