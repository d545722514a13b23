"""Tensor-parallel plans, one per family, as data keyed by MindFormers' parameter names (``*`` = a layer index).

``params``: name pattern -> placement, first match wins, anything unmatched is replicated (norms, biases of
row-parallel layers, GPT-2's position table, the MoE router). ``regions``: cells whose first input enters a
model-parallel region (one copy-to per region, however many column-parallel layers read it; a matching cell
without column-parallel children, such as a MoE feed-forward, is not a region). ``heads``: attributes that count
attention heads, divided by mp. ``head_tensors``: per-head tensors (Bloom's ALiBi slopes) sliced to this
rank's heads. ``tied_table``: the embedding table that is also the output head. ``moe``: the MoE feed-forward
cells that expert parallelism replaces. One plan gives both the swapped cells and the checkpoint layout.
"""

import fnmatch
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Plan:
    family: str
    params: tuple
    regions: tuple
    heads: tuple
    head_tensors: tuple = ()
    tied_table: str = None
    moe: tuple = ()

    def placement(self, name):
        for pattern, placement in self.params:
            if fnmatch.fnmatchcase(name, pattern):
                return placement
        return REPLICATED

    def resolve(self, names, vocab_emb_dp=True):
        """{name: placement} for parameter ``names``; vocab placements are replicated with ``vocab_emb_dp``."""
        out = {}
        for name in names:
            p = self.placement(name)
            out[name] = REPLICATED if (p.kind == "vocab" and vocab_emb_dp) else p
        return out


def _matches(path, patterns):
    return any(fnmatch.fnmatchcase(path, p) for p in patterns)


LLAMA = Plan(
    family="llama",
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

# config class name -> plan (until mf-config's family specs take plans by registration)
PLANS = {"LlamaConfig": LLAMA, "MixtralConfig": LLAMA, "GPT2Config": GPT2, "BloomConfig": BLOOM}


def plan_for(config):
    """The plan of a model config's family."""
    for cls in type(config).__mro__:
        if cls.__name__ in PLANS:
            return PLANS[cls.__name__]
    raise ParallelError(f"no tensor-parallel plan for {type(config).__name__}; families with one: "
                        f"{', '.join(sorted(PLANS))}", key="model.model_config.type")


def matching(paths, patterns):
    """The ``paths`` that match one of ``patterns`` (``""`` matches the root)."""
    return [p for p in paths if _matches(p, patterns)]
