"""The device mesh: how global ranks map to (pipeline stage, data-parallel index, model-parallel index), and the
rank groups each collective runs on. Pure Python (no mindspore), so plans and launchers can use it.

Ranks follow MindSpore's device matrix ``[pipeline_stage, data_parallel, model_parallel]``, row-major:
``rank = stage * dp * mp + d * mp + m``, so a model-parallel group is ``mp`` consecutive ranks (one node's
fast links). Expert parallelism splits the data-parallel axis as MindFormers does: ``d = a * ep + e`` (``ep``
divides ``dp``); the experts are split over ``e``, and ranks that differ only in ``a`` hold the same experts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mf_parallel.errors import ParallelError

if TYPE_CHECKING:
    from mf_config import ParallelConfig


@dataclass(frozen=True)
class Mesh:
    """Sizes of the mesh axes; ``world`` = pp * dp * mp."""

    dp: int = 1
    mp: int = 1
    ep: int = 1
    pp: int = 1

    def __post_init__(self):
        for key, value in (("data_parallel", self.dp), ("model_parallel", self.mp),
                           ("expert_parallel", self.ep), ("pipeline_stage", self.pp)):
            if not isinstance(value, int) or value < 1:
                raise ParallelError(f"must be a positive integer, got {value!r}", key=key)
        if self.dp % self.ep:
            raise ParallelError(f"expert_parallel ({self.ep}) must divide data_parallel ({self.dp})",
                                key="expert_parallel")

    @classmethod
    def from_config(cls, parallel_config: ParallelConfig | Mapping[str, Any]) -> Mesh:
        """The mesh of a ``ParallelConfig`` (or a dict with its keys)."""
        get = parallel_config.get if isinstance(parallel_config, dict) else \
            lambda k, d: getattr(parallel_config, k, d)
        if get("context_parallel", 1) not in (None, 1):
            raise ParallelError("context parallelism is not implemented by mf-parallel; set it to 1",
                                key="parallel_config.context_parallel")
        return cls(int(get("data_parallel", 1)), int(get("model_parallel", 1)), int(get("expert_parallel", 1)),
                   int(get("pipeline_stage", 1)))

    @property
    def world(self) -> int:
        return self.pp * self.dp * self.mp

    @property
    def stage_size(self) -> int:
        return self.dp * self.mp

    def coords(self, rank: int) -> tuple[int, int, int]:
        """(stage, d, m) of a global rank."""
        if not 0 <= rank < self.world:
            raise ParallelError(f"rank {rank} is outside the mesh of {self.world} ranks", key="rank_id")
        stage, rest = divmod(rank, self.stage_size)
        d, m = divmod(rest, self.mp)
        return stage, d, m

    def rank(self, stage: int, d: int, m: int) -> int:
        return stage * self.stage_size + d * self.mp + m

    def mp_group(self, rank: int) -> tuple[int, ...]:
        """Ranks that split the same layers' weights (model parallel)."""
        stage, d, _ = self.coords(rank)
        return tuple(self.rank(stage, d, m) for m in range(self.mp))

    def dp_group(self, rank: int) -> tuple[int, ...]:
        """Ranks that hold the same weights and see different data (data parallel)."""
        stage, _, m = self.coords(rank)
        return tuple(self.rank(stage, d, m) for d in range(self.dp))

    def ep_group(self, rank: int) -> tuple[int, ...]:
        """Ranks whose tokens one MoE layer routes together, each holding expert_num / ep experts."""
        stage, d, m = self.coords(rank)
        base = d - d % self.ep
        return tuple(self.rank(stage, base + e, m) for e in range(self.ep))

    def expert_dp_group(self, rank: int) -> tuple[int, ...]:
        """Ranks that hold the same experts (replicas when ep < dp)."""
        stage, d, m = self.coords(rank)
        return tuple(self.rank(stage, a * self.ep + d % self.ep, m) for a in range(self.dp // self.ep))

    def ep_mp_group(self, rank: int) -> tuple[int, ...]:
        """Ranks that together hold one copy of every expert's weights (ep x mp)."""
        return tuple(r for e in self.ep_group(rank) for r in self.mp_group(e))

    def index(self, axis: str, rank: int) -> int:
        """This rank's index along ``axis`` ("dp", "mp", "ep", "pp")."""
        stage, d, m = self.coords(rank)
        return {"pp": stage, "dp": d, "mp": m, "ep": d % self.ep}[axis]

    def size(self, axis: str) -> int:
        return {"pp": self.pp, "dp": self.dp, "mp": self.mp, "ep": self.ep}[axis]

    def groups(self, rank: int) -> dict[str, tuple[int, ...]]:
        """{name: ranks} of every group ``rank`` belongs to."""
        return {"mp": self.mp_group(rank), "dp": self.dp_group(rank), "ep": self.ep_group(rank),
                "expert_dp": self.expert_dp_group(rank), "ep_mp": self.ep_mp_group(rank),
                "world": tuple(range(self.world))}

    def describe(self) -> str:
        return f"dp={self.dp} mp={self.mp} ep={self.ep} pp={self.pp} ({self.world} devices)"
