"""Per-device memory of a layout, from the config alone (no mindspore, nothing allocated).

Weights, gradients and optimizer states are counted parameter by parameter from mf-models' shapes and this
package's plans (so a split the plan makes is the split the memory shows), per pipeline stage by MindFormers'
rule (``pp_dis = (layers + 1) // pp``, stage ``min((i + offset) // pp_dis, pp - 1)``; embeddings on the first
stage, final norm and head on the last, a tied table on both).

- weights in ``param_init_type`` (word embeddings in ``embedding_init_type``), gradients the same;
- optimizer states: FP32StateAdamWeightDecay 8 B/param, AdamWeightDecay/AdamW/Adam/Lamb 2 x the weight's bytes,
  Momentum 1 x, SGD none; with the parallel optimizer (``parallel.enable_parallel_optimizer`` or
  ``parallel_config.optimizer_shard``) states and weights are divided over the parameter's data-parallel
  replicas (dp; dp / ep for experts), as MindSpore's optimizer parallelism slices both;
- activations (Korthikanti et al., adapted): per layer and token, 4h unsplit plus (q, k, v, rotated q and k,
  attention output, MLP intermediates) / mp in the compute dtype, dropout masks (1 B) where dropout is on,
  attention scores (softmax dtype) and probabilities unless flash attention; with recompute a layer keeps only its
  input and one layer at a time holds twice its full activations; the first pipeline stage holds ``pp``
  micro-batches; on the last stage the head's logits as MindFormers' CrossEntropyLoss holds them (compute dtype,
  then float32: their cast, the softmax, the one-hot labels and the gradient: cb + 16 B per logit);
- inference: weights, the KV cache (``2 x layers x batch x seq x kv_heads x head_dim / mp``), one layer's
  activations of the prompt and its logits.
"""

import math
from dataclasses import dataclass, field

from mf_parallel.plans import plan_for

BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}
GB = 1 << 30
STATE_BYTES = {"FP32StateAdamWeightDecay": lambda b: 8, "AdamWeightDecay": lambda b: 2 * b,
               "AdamW": lambda b: 2 * b, "Adam": lambda b: 2 * b, "Lamb": lambda b: 2 * b,
               "Momentum": lambda b: b, "SGD": lambda b: 0}


@dataclass(frozen=True)
class Workload:
    """What runs on each device: ``mode`` "train" or "predict", ``batch`` per device (a micro-batch),
    ``seq`` tokens, ``recompute``, ``flash_attention``, ``optimizer`` type, ``optimizer_shard``,
    ``micro_batch_num``."""

    mode: str = "train"
    batch: int = 1
    seq: int = 2048
    recompute: bool = False
    flash_attention: bool = False
    optimizer: str = "AdamWeightDecay"
    optimizer_shard: bool = False
    micro_batch_num: int = 1


@dataclass
class Breakdown:
    """Bytes per device of the worst pipeline stage."""

    stage: int = 0
    params: int = 0
    weights: int = 0
    gradients: int = 0
    optimizer: int = 0
    activations: int = 0
    kv_cache: int = 0
    parts: dict = field(default_factory=dict)

    @property
    def total(self):
        return self.weights + self.gradients + self.optimizer + self.activations + self.kv_cache


def stage_of_layer(i, layers, pp, offset=0):
    """MindFormers' pipeline stage of layer ``i``."""
    dis = max((layers + 1) // pp, 1)
    if isinstance(offset, list):
        offset = offset[min(i // dis, pp - 1)] if len(offset) == pp else 0
    return min((i + offset) // dis, pp - 1)


def _layer_index(name):
    parts = name.split(".")
    for i, part in enumerate(parts[:-1]):
        if part in ("layers", "blocks") and parts[i + 1].isdigit():
            return int(parts[i + 1])
    return None


def param_stages(config, name, pp):
    """The stages that hold parameter ``name``."""
    i = _layer_index(name)
    if i is not None:
        return {stage_of_layer(i, config.num_layers, pp, getattr(config, "offset", 0))}
    plan = plan_for(config)
    if name == plan.tied_table and config.tie_word_embeddings:
        return {0, pp - 1}
    if "embedding" in name:
        return {0}
    return {pp - 1}


def _dtype_bytes(config, name):
    plan = plan_for(config)
    if name == plan.tied_table and config.embedding_init_type:
        return BYTES[config.embedding_init_type]
    if "router" in name:
        return BYTES[config.moe_config.router_dense_type]
    return BYTES[config.param_init_type]


def parameter_memory(config, mesh, workload, vocab_emb_dp=True):
    """[Breakdown per stage] with params, weights, gradients and optimizer states filled in."""
    from mf_config import param_shapes

    shapes = param_shapes(config)
    placements = plan_for(config).resolve(shapes, vocab_emb_dp)
    stages = [Breakdown(stage=s) for s in range(mesh.pp)]
    state_of = STATE_BYTES.get(workload.optimizer, STATE_BYTES["FP32StateAdamWeightDecay"])
    for name, shape in shapes.items():
        p = placements[name]
        elems = math.prod(p.local_shape(shape, mesh))
        size = _dtype_bytes(config, name)
        replicas = mesh.dp // mesh.ep if "ep" in p.axes() else mesh.dp
        shard = replicas if workload.optimizer_shard else 1
        for s in param_stages(config, name, mesh.pp):
            b = stages[s]
            b.params += elems
            b.weights += elems * size // shard
            if workload.mode == "train":
                b.gradients += elems * size
                b.optimizer += elems * state_of(size) // shard
    return stages


def _widths(config):
    """(hidden, q width, k/v width, ffn, gated, rotary, heads)."""
    h, d = config.hidden_size, config.head_dim
    kv = getattr(config, "kv_heads", config.num_heads) * d
    llama = plan_for(config).family == "llama"
    return h, config.num_heads * d, kv, config.ffn_hidden_size, llama, llama, config.num_heads


def layer_activations(config, mesh, tokens, batch, seq, flash_attention):
    """Bytes one layer keeps for backward (all its activations), per device."""
    h, q, kv, f, gated, rotary, heads = _widths(config)
    t = mesh.mp
    cb = BYTES[config.compute_dtype]
    attention = q + 2 * kv + (q + kv if rotary else 0) + q
    if config.moe_config.expert_num > 1:
        moe = config.moe_config
        slots = moe.num_experts_chosen * moe.capacity_factor
        mlp_tokens = slots * (h + 4 * f / t) + moe.expert_num * 4 / cb
        out = tokens * cb * (4 * h + attention / t + mlp_tokens)
    else:
        out = tokens * cb * (4 * h + (attention + (4 * f if gated else 2 * f)) / t)
    if getattr(config, "hidden_dropout_rate", 0):
        out += tokens * (2 * h + f / t)
    if not flash_attention:
        dropout = 1 if getattr(config, "attention_dropout_rate", 0) else 0
        out += batch * heads / t * seq * seq * (BYTES[config.softmax_compute_type] + cb + dropout)
    return int(out)


def _layers_per_stage(config, pp):
    counts = [0] * pp
    for i in range(config.num_layers):
        counts[stage_of_layer(i, config.num_layers, pp, getattr(config, "offset", 0))] += 1
    return counts


def logits_bytes(config, mesh, tokens, vocab_emb_dp, train):
    vocab = config.vocab_size if vocab_emb_dp else config.vocab_size // mesh.mp
    cb = BYTES[config.compute_dtype]
    return tokens * vocab * (cb + (16 if train else 4))


def activation_memory(config, mesh, workload, vocab_emb_dp, stage, layers):
    """(activation bytes, KV cache bytes) of one pipeline stage."""
    b, s = workload.batch, workload.seq
    tokens = b * s
    one = layer_activations(config, mesh, tokens, b, s, workload.flash_attention)
    last = stage == mesh.pp - 1
    if workload.mode != "train":
        kv = 2 * layers * tokens * _widths(config)[2] // mesh.mp * BYTES[config.compute_dtype]
        return one + (logits_bytes(config, mesh, tokens, vocab_emb_dp, False) if last else 0), kv
    in_flight = min(mesh.pp - stage, max(workload.micro_batch_num, 1))
    if workload.recompute:
        kept = layers * tokens * config.hidden_size * BYTES[config.compute_dtype] * in_flight + 2 * one
    else:
        kept = layers * one * in_flight
    return kept + (logits_bytes(config, mesh, tokens, vocab_emb_dp, True) if last else 0), 0


def estimate(config, mesh, workload, vocab_emb_dp=True):
    """The Breakdown of the stage that needs the most memory."""
    stages = parameter_memory(config, mesh, workload, vocab_emb_dp)
    counts = _layers_per_stage(config, mesh.pp)
    for b in stages:
        b.activations, b.kv_cache = activation_memory(config, mesh, workload, vocab_emb_dp, b.stage,
                                                      counts[b.stage])
    return max(stages, key=lambda b: b.total)


def parse_size(text, key):
    """``"58GB"``, ``"64 GiB"``, ``"1024MB"`` or a number of bytes -> bytes."""
    from mf_parallel.errors import ParallelError

    s = str(text).strip().upper().replace(" ", "").replace("IB", "B")
    for unit, scale in (("TB", 1 << 40), ("GB", GB), ("MB", 1 << 20), ("KB", 1 << 10), ("B", 1)):
        if s.endswith(unit):
            s, mult = s[:-len(unit)], scale
            break
    else:
        mult = 1
    try:
        value = float(s)
    except ValueError:
        raise ParallelError(f"expected a size like 64GB, got {text!r}", key=key) from None
    if value <= 0:
        raise ParallelError(f"must be positive, got {text!r}", key=key)
    return int(value * mult)
