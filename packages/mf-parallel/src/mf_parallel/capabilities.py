"""Which collectives each MindSpore backend has, and on which groups: chosen from once, when a network is
parallelized, never discovered by try/except at run time.

Each entry says where a collective works: ``"any"`` (every group), ``"world"`` (the world group only) or
``None`` (missing). Seen on MindSpore 2.10's CPU backend (``../shared/notes/mindspore-cpu.md``): AllReduce with
SUM only ("AllReduce only support reduce sum on CPU"), on any group; AllGather and Broadcast only on the world
group; no ReduceScatter, AlltoAll, Send/Receive or ``ops.Barrier`` (``mint.distributed.barrier`` on the world
group works). Ascend (HCCL) and GPU (NCCL) have them all. Where an entry is missing, mf-parallel builds the
operation from AllReduce: a gather is an AllReduce of zero-padded slices, a maximum the maximum of a gather, a
reduce-scatter an AllReduce followed by the local slice.
"""

from dataclasses import dataclass

from mf_parallel.errors import ParallelError

COLLECTIVES = ("all_reduce", "all_reduce_max", "all_gather", "broadcast", "reduce_scatter", "all_to_all",
               "send_recv", "barrier")

TABLE = {
    "CPU": {"all_reduce": "any", "all_reduce_max": None, "all_gather": "world", "broadcast": "world",
            "reduce_scatter": None, "all_to_all": None, "send_recv": None, "barrier": "world"},
    "Ascend": dict.fromkeys(COLLECTIVES, "any"),
    "GPU": dict.fromkeys(COLLECTIVES, "any"),
}

WORLD_GROUPS = {"CPU": "mccl_world_group", "Ascend": "hccl_world_group", "GPU": "nccl_world_group"}


@dataclass(frozen=True)
class Capabilities:
    """The collectives of one backend (a row of ``TABLE``)."""

    backend: str
    where: dict

    def native(self, collective, world):
        """Whether ``collective`` runs natively on a group (``world``: the group is the world group)."""
        where = self.where[collective]
        return where == "any" or (where == "world" and world)

    @property
    def world_group(self):
        return WORLD_GROUPS[self.backend]

    @property
    def point_to_point(self):
        return self.where["send_recv"] is not None


def capabilities(backend):
    """The ``Capabilities`` of a MindSpore ``device_target`` ("CPU", "Ascend", "GPU")."""
    if backend not in TABLE:
        raise ParallelError(f"unknown backend '{backend}'; expected one of {sorted(TABLE)}",
                            key="context.device_target")
    return Capabilities(backend, TABLE[backend])
