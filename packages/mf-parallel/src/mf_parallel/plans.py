"""Tensor-parallel plans, one per family, as data keyed by MindFormers' parameter names (``*`` = a layer index).

``params``: name pattern -> placement, first match wins, anything unmatched is replicated (norms, biases of
row-parallel layers, GPT-2's position table, the MoE router). ``regions``: cells whose first input enters a
model-parallel region (one copy-to per region, however many column-parallel layers read it; a matching cell
without column-parallel children, such as a MoE feed-forward, is not a region). ``heads``: attributes that count
attention heads, divided by mp. ``head_tensors``: per-head tensors (Bloom's ALiBi slopes) sliced to this
rank's heads. ``tied_table``: the embedding table that is also the output head. ``moe``: the MoE feed-forward
cells that expert parallelism replaces. One plan gives both the swapped cells and the checkpoint layout.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mf_parallel.errors import ParallelError
from mf_parallel.placements import (
    COLUMN,
    COLUMN_T,
    EXPERT_COLUMN,
    EXPERT_ROW,
    REPLICATED,
    ROW,
    ROW_T,
    VOCAB,
)

if TYPE_CHECKING:
    from mf_config import PretrainedConfig
    from mf_parallel.placements import Placement


@dataclass(frozen=True)
class Plan:
    family: str
    params: tuple
    regions: tuple
    heads: tuple
    head_tensors: tuple = ()
    tied_table: str = None
    moe: tuple = ()

    def placement(self, name: str) -> Placement:
        for pattern, placement in self.params:
            if fnmatch.fnmatchcase(name, pattern):
                return placement
        return REPLICATED

    def resolve(self, names: Iterable[str], vocab_emb_dp: bool = True) -> dict[str, Placement]:
        """{name: placement} for parameter ``names``; vocab placements are replicated with ``vocab_emb_dp``."""
        out = {}
        for name in names:
            p = self.placement(name)
            out[name] = REPLICATED if (p.kind == "vocab" and vocab_emb_dp) else p
        return out


def _matches(path, patterns):
    return any(fnmatch.fnmatchcase(path, p) for p in patterns)


LLAMA = Plan(
    family="llama",  # also Mistral, Mixtral and Qwen2 (their networks are Llama's)
    params=(
        ("model.tok_embeddings.embedding_weight", VOCAB),
        ("model.layers.*.attention.w[qkv].weight", COLUMN),
        ("model.layers.*.attention.w[qkv].bias", COLUMN),
        ("model.layers.*.attention.wo.weight", ROW),
        ("model.layers.*.feed_forward.w[13].weight", COLUMN),
        ("model.layers.*.feed_forward.w2.weight", ROW),
        ("model.layers.*.feed_forward.ffn.w[13].weight", EXPERT_COLUMN),
        ("model.layers.*.feed_forward.ffn.w2.weight", EXPERT_ROW),
        ("lm_head.weight", VOCAB),
    ),
    regions=("model.layers.*.attention", "model.layers.*.feed_forward", "model.layers.*.feed_forward.ffn"),
    heads=(("model.layers.*.attention", ("n_heads", "n_kv")), ("", ("cache_heads",))),
    tied_table="model.tok_embeddings.embedding_weight",
    moe=("model.layers.*.feed_forward",),
)


def _gpt_like(family, root, tied):
    blocks = f"{root}.blocks.*"
    return Plan(
        family=family,
        params=(
            (tied, VOCAB),
            (f"{blocks}.attention.dense[123].weight", COLUMN),
            (f"{blocks}.attention.dense[123].bias", COLUMN),
            (f"{blocks}.attention.projection.weight", ROW_T),
            (f"{blocks}.output.mapping.weight", COLUMN_T),
            (f"{blocks}.output.mapping.bias", COLUMN),
            (f"{blocks}.output.projection.weight", ROW_T),
        ),
        regions=(f"{blocks}.attention", f"{blocks}.output"),
        heads=((f"{blocks}.attention", ("n_heads",)), ("", ("cache_heads",))),
        head_tensors=((root, "slopes", 1),) if family == "bloom" else (),
        tied_table=tied,
    )


GPT2 = _gpt_like("gpt2", "backbone", "backbone.embedding.word_embedding.embedding_table")
BLOOM = _gpt_like("bloom", "transformer", "transformer.embedding.word_embedding.embedding_table")

PLAN_PART = "tp_plan"  # the family part (mf_config.spec) that holds a family's plan


def plan_for(config: PretrainedConfig) -> Plan:
    """The plan of a model config's family: its ``tp_plan`` part (entry points of group ``mf.parts``; mf-parallel
    registers Llama's for llama, mistral, mixtral and qwen2, GPT-2's and Bloom's)."""
    from mf_config.spec import families, family_of

    spec = family_of(config)
    plan = spec.part(PLAN_PART, None)
    if plan is None:
        with_plan = [s.name for s in families() if s.part(PLAN_PART, None) is not None]
        raise ParallelError(f"no tensor-parallel plan for family '{spec.name}'; families with one: "
                            f"{', '.join(with_plan)}", key="model.model_config.type")
    return plan


def matching(paths, patterns):
    """The ``paths`` that match one of ``patterns`` (``""`` matches the root)."""
    return [p for p in paths if _matches(p, patterns)]
