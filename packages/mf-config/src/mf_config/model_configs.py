"""Model, MoE and parallel configs with MindFormers' field names (pure data, no mindspore)."""

from typing import Any

from mf_config.errors import ConfigError
from mf_config.fields import Field, dtype, non_negative, positive, probability
from mf_config.pet_config import LoraConfig
from mf_config.pretrained import PretrainedConfig, nested
from mf_config.registry import register


@register("config")
class ParallelConfig(PretrainedConfig):
    """MindFormers' ``parallel_config`` (TransformerOpParallelConfig)."""

    data_parallel = Field(int, 1, check=positive, doc="data-parallel ways: batch split over this many device groups")
    model_parallel = Field(int, 1, check=positive,
                           doc="tensor-parallel ways: attention heads and FFN columns split over this many devices")
    context_parallel = Field(int, 1, check=positive,
                             doc="context-parallel ways: the sequence split over this many devices")
    expert_parallel = Field(int, 1, check=positive,
                            doc="expert-parallel ways: MoE experts spread over this many devices (<= data_parallel)")
    pipeline_stage = Field(int, 1, check=positive,
                           doc="pipeline stages: the layers split into this many consecutive groups")
    micro_batch_num = Field(int, 1, check=positive,
                            doc="micro-batches per step fed through the pipeline (at least pipeline_stage)")
    seq_split_num = Field(int, 1, check=positive,
                          doc="pieces the sequence is cut into for pipeline interleaving (MindFormers seq-pipe)")
    use_seq_parallel = Field(bool, False,
                             doc="shard LayerNorm/dropout activations along the sequence on the model_parallel group")
    optimizer_shard = Field(bool, None,
                            doc="shard optimizer state over data_parallel; null: parallel.enable_parallel_optimizer")
    gradient_aggregation_group = Field(int, 4, check=positive,
                                       doc="fusion group size of the sharded optimizer's communication")
    vocab_emb_dp = Field(bool, True,
                         doc="keep the word embedding data-parallel only (true) instead of splitting the vocabulary")
    context_parallel_algo = Field(str, "colossalai_cp",
                                  doc="context-parallel algorithm: colossalai_cp (ring) or ulysses_cp (all-to-all)")
    ulysses_degree_in_cp = Field(int, 1, check=positive,
                                 doc="of the context_parallel ways, how many use Ulysses (all-to-all) attention")
    mem_coeff = Field(float, 0.1, doc="MindFormers: memory coefficient of its parallel layout (read, not used by mf)")

    def validate(self) -> None:
        if self.micro_batch_num < self.pipeline_stage:
            raise ConfigError(f"micro_batch_num ({self.micro_batch_num}) must be at least pipeline_stage "
                              f"({self.pipeline_stage})", key="micro_batch_num")
        if self.expert_parallel > self.data_parallel:
            raise ConfigError(f"expert_parallel ({self.expert_parallel}) must not exceed data_parallel "
                              f"({self.data_parallel})", key="expert_parallel")

    @property
    def device_num(self) -> int:
        """data_parallel x model_parallel x context_parallel x pipeline_stage."""
        return self.data_parallel * self.model_parallel * self.context_parallel * self.pipeline_stage

    def check(self, device_num: int | None = None, num_layers: int | None = None, num_heads: int | None = None,
              n_kv_heads: int | None = None, expert_num: int | None = None) -> None:
        """The rules that tie the layout to a device count and a model; ConfigError on the first broken."""
        if device_num is not None and self.device_num != device_num:
            raise ConfigError(f"data_parallel x model_parallel x context_parallel x pipeline_stage = "
                              f"{self.data_parallel}x{self.model_parallel}x{self.context_parallel}x"
                              f"{self.pipeline_stage} = {self.device_num}, but there are {device_num} devices",
                              key="data_parallel")
        mp = self.model_parallel
        if num_heads is not None and num_heads % mp:
            raise ConfigError(f"num_heads ({num_heads}) is not divisible by model_parallel ({mp})",
                              key="model_parallel")
        if n_kv_heads is not None and n_kv_heads % mp:
            raise ConfigError(f"n_kv_heads ({n_kv_heads}) is not divisible by model_parallel ({mp})",
                              key="model_parallel")
        if num_layers is not None and self.pipeline_stage > num_layers:
            raise ConfigError(f"pipeline_stage ({self.pipeline_stage}) exceeds num_layers ({num_layers})",
                              key="pipeline_stage")
        if expert_num is not None and expert_num > 1 and expert_num % self.expert_parallel:
            raise ConfigError(f"expert_parallel ({self.expert_parallel}) does not divide expert_num "
                              f"({expert_num})", key="expert_parallel")


@register("config")
class MoEConfig(PretrainedConfig):
    """MindFormers' ``moe_config``: experts, routing and the auxiliary loss."""

    expert_num = Field(int, 1, check=positive,
                       doc="experts per MoE layer; 1: a dense feed-forward (HF num_local_experts)")
    capacity_factor = Field(float, 1.1, check=positive,
                            doc="expert capacity = tokens x experts_chosen / expert_num x this; tokens past it dropped")
    aux_loss_factor = Field(float, 0.05, check=non_negative,
                            doc="weight of the router's load-balancing loss (HF router_aux_loss_coef)")
    num_experts_chosen = Field(int, 1, check=positive,
                               doc="experts each token is routed to, top-k (HF num_experts_per_tok)")
    expert_group_size = Field(int, None,
                              doc="tokens per data-parallel group in routing (auto_parallel only); null: all")
    group_wise_a2a = Field(bool, False,
                           doc="MindFormers: grouped all-to-all, part inter- turned intra-node (model_parallel > 1)")
    comp_comm_parallel = Field(bool, False,
                               doc="MindFormers: split expert compute and all-to-all into chunks that overlap")
    comp_comm_parallel_degree = Field(int, 2, doc="chunks for comp_comm_parallel (more overlap, more memory)")
    save_token_distribution = Field(bool, False,
                                    doc="MindFormers: record how many tokens each expert received, per layer")
    cur_layer = Field(int, 0, doc="MindFormers: index of the layer this MoE config belongs to (set per layer in code)")
    enable_cold_hot_expert = Field(bool, False, doc="MindFormers: replicate the busiest (hot) experts on every device")
    update_step = Field(int, 10000, doc="steps between re-choosing the hot experts (enable_cold_hot_expert)")
    hot_expert_num = Field(int, 0, doc="experts kept hot (enable_cold_hot_expert)")
    cold_token_percent = Field(float, 1.0, doc="cold experts' capacity as a fraction of capacity_factor, in (0, 1]")
    moe_module_name = Field(str, "", doc="cell path of the MoE blocks, for moving hot experts (enable_cold_hot_expert)")
    routing_policy = Field(str, "TopkRouterV1", choices=("TopkRouterV1", "TopkRouterV2"),
                           doc="MindFormers' router implementation: TopkRouterV1 or TopkRouterV2")
    norm_topk_prob = Field(bool, True,
                           doc="renormalise the chosen experts' router weights to sum to 1 (HF norm_topk_prob)")
    enable_sdrop = Field(bool, False,
                         doc="MindFormers router switch: drop tokens over capacity by score (TopkRouterV2)")
    use_fused_ops_topkrouter = Field(bool, False, doc="MindFormers: fused Ascend kernel for top-k routing")
    router_dense_type = dtype("float32", doc="dtype of the router's gate layer")
    shared_expert_num = Field(int, 0, check=non_negative,
                              doc="experts every token goes through besides the routed ones (DeepSeek/Qwen-MoE)")
    use_shared_expert_gating = Field(bool, False, doc="scale the shared experts' output by a learned sigmoid gate")
    max_router_load = Field(int, 128 * 1024,
                            doc="MindFormers: bound on the tokens one expert takes in its fused top-k router")
    topk_method = Field(str, "greedy", doc="how experts are chosen: greedy top-k, or group_limited_greedy (DeepSeek)")
    moe_intermediate_size = Field(int, None,
                                  doc="FFN width of each expert (HF moe_intermediate_size); null: the model's")
    routed_scaling_factor = Field(float, 1.0,
                                  doc="multiplier on the routed experts' combined output (HF routed_scaling_factor)")
    z_loss_factor = Field(float, 0.0, doc="weight of the router z-loss (penalises large router logits); 0: off")

    def validate(self) -> None:
        if self.num_experts_chosen > self.expert_num:
            raise ConfigError(f"num_experts_chosen ({self.num_experts_chosen}) exceeds expert_num "
                              f"({self.expert_num})", key="num_experts_chosen")


LLAMA3_KEYS = ("factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings")


def scaling_factor(value):
    """A positive number, or a mapping (checked against extend_method by ``check_rope_scaling``)."""
    return None if isinstance(value, dict) or value > 0 else "must be greater than 0"


def check_rope_scaling(extend_method, value):
    """MindFormers' rules: LLAMA3 takes {factor >= 1, low_freq_factor < high_freq_factor,
    original_max_position_embeddings}; the other methods a number."""
    if extend_method != "LLAMA3":
        if isinstance(value, dict):
            raise ConfigError(f"a mapping is for extend_method LLAMA3; {extend_method} takes a number",
                              key="scaling_factor")
        return
    if not isinstance(value, dict):
        raise ConfigError(f"extend_method LLAMA3 takes a mapping of {', '.join(LLAMA3_KEYS)}, got {value!r}",
                          key="scaling_factor")
    missing, unknown = set(LLAMA3_KEYS) - set(value), set(value) - set(LLAMA3_KEYS)
    if missing or unknown:
        what = f"missing {', '.join(sorted(missing))}" if missing else f"unknown {', '.join(sorted(unknown))}"
        raise ConfigError(f"{what}; LLAMA3 takes {', '.join(LLAMA3_KEYS)}", key="scaling_factor")
    for key in LLAMA3_KEYS:
        if isinstance(value[key], bool) or not isinstance(value[key], (int, float)) or value[key] <= 0:
            raise ConfigError(f"expected a positive number, got {value[key]!r}", key=f"scaling_factor.{key}")
    if value["factor"] < 1:
        raise ConfigError(f"must be at least 1, got {value['factor']}", key="scaling_factor.factor")
    if value["low_freq_factor"] >= value["high_freq_factor"]:
        raise ConfigError(f"low_freq_factor ({value['low_freq_factor']}) must be below high_freq_factor "
                          f"({value['high_freq_factor']})", key="scaling_factor")


class CausalLMConfig(PretrainedConfig):
    """Fields every decoder-only family shares: sizes, special ids, dtypes, generation defaults."""

    batch_size = Field(int, 1, check=positive, doc="MindFormers: samples per device per step the graph is built for")
    seq_length = Field(int, 2048, check=positive,
                       doc="tokens per sample the model is built for, the max context (HF max_position_embeddings)")
    hidden_size = Field(int, 4096, check=positive, doc="width of the residual stream and embeddings")
    num_layers = Field(int, 32, check=positive, doc="decoder layers (HF num_hidden_layers; GPT-2/Bloom n_layer)")
    num_heads = Field(int, 32, check=positive,
                      doc="attention (query) heads (HF num_attention_heads; GPT-2/Bloom n_head)")
    vocab_size = Field(int, 32000, check=positive, doc="rows of the word embedding and outputs of the head")
    bos_token_id = Field(int, 1, optional=True, doc="id of the beginning-of-sequence token; null: none")
    eos_token_id = Field((int, list), 2, optional=True, doc="id, or list of ids, that end generation; null: none")
    pad_token_id = Field(int, 0, optional=True, doc="id of the padding token (ignored by the loss); null: none")
    ignore_token_id = Field(int, -100, doc="label value the loss skips (as PyTorch's ignore_index)")
    compute_dtype = dtype("float16", doc="dtype of matmuls and activations (from HF torch_dtype)")
    layernorm_compute_type = dtype("float32", doc="dtype the norms compute in")
    softmax_compute_type = dtype("float32", doc="dtype of the attention softmax")
    param_init_type = dtype("float16", doc="dtype of the weights as created and stored (HF torch_dtype)")
    embedding_init_type = Field(str, None, choices=(None, "float32", "float16", "bfloat16"),
                                doc="dtype of the word embedding; null: param_init_type")
    initializer_range = Field(float, 0.02, doc="std of the normal init of new weights (HF initializer_range)")
    use_past = Field(bool, False, doc="MindFormers: build the incremental KV-cache graph (mf: decode sessions instead)")
    is_dynamic = Field(bool, False, doc="MindFormers: dynamic-shape inference graph (mf: ignored, warns)")
    use_flash_attention = Field(bool, False, doc="MindFormers: Ascend FlashAttention kernel (mf: ignored, warns)")
    use_prompt_flash_attention = Field(bool, False,
                                       doc="MindFormers: Ascend prompt FlashAttention kernel (mf: ignored, warns)")
    use_seq_parallel = Field(bool, False, doc="MindFormers model-side switch of parallel_config.use_seq_parallel")
    use_select_recompute = Field(bool, False, doc="MindFormers: recompute selected ops in the backward to save memory")
    checkpoint_name_or_path = Field(str, "",
                                    doc="weights to load into the network: a file, folder or model name; empty: none")
    tie_word_embeddings = Field(bool, False,
                                doc="the output head shares the word embedding's weight (HF tie_word_embeddings)")
    repetition_penalty = Field(float, 1.0, check=positive,
                               doc="generation: divide logits of tokens already present by this; 1.0: off")
    max_decode_length = Field(int, 1024, check=positive,
                              doc="generation: max total tokens (prompt + new), capped by seq_length")
    top_k = Field(int, 5, check=non_negative, doc="generation: sample from the k most likely tokens; 0: no limit")
    top_p = Field(float, 1.0, check=probability,
                  doc="generation: sample from the smallest set of tokens whose probability reaches p; 1.0: off")
    do_sample = Field(bool, True, doc="generation: sample (true) or pick the most likely token (false, greedy)")
    block_size = Field(int, 16, check=positive,
                       doc="MindFormers paged attention: tokens per KV-cache block (mf: unused)")
    num_blocks = Field(int, 512, check=positive, doc="MindFormers paged attention: KV-cache blocks (mf: unused)")
    parallel_config = Field(ParallelConfig, None, doc="the parallel layout (top-level parallel_config in a task YAML)")
    moe_config = Field(MoEConfig, None, doc="mixture-of-experts settings (top-level moe_config in a task YAML)")
    pet_config = Field(LoraConfig, None, doc="LoRA (mf_config.pet_config.LoraConfig); null: none")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if self.parallel_config is None:
            object.__setattr__(self, "parallel_config", ParallelConfig())
        if self.moe_config is None:
            object.__setattr__(self, "moe_config", MoEConfig())

    def validate(self) -> None:
        if self.hidden_size % self.num_heads:
            raise ConfigError(f"hidden_size ({self.hidden_size}) is not divisible by num_heads ({self.num_heads})",
                              key="hidden_size")
        for key in ("bos_token_id", "pad_token_id"):
            value = getattr(self, key)
            if value is not None and not -1 <= value < self.vocab_size:
                raise ConfigError(f"{value} is outside the vocabulary (vocab_size {self.vocab_size})", key=key)

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    def check_parallel(self, device_num: int | None = None) -> None:
        """The parallel layout's rules against this model (see ParallelConfig.check)."""
        self.parallel_config.check(device_num=device_num, num_layers=self.num_layers, num_heads=self.num_heads,
                                   n_kv_heads=getattr(self, "n_kv_heads", None) or self.num_heads,
                                   expert_num=self.moe_config.expert_num)


@register("config")
class LlamaConfig(CausalLMConfig):
    """Llama 2 / Llama 3 / Mistral (and Mixtral, through ``moe_config``), as MindFormers names it."""

    model_type = "llama"
    n_kv_heads = Field(int, None, check=positive,
                       doc="key/value heads for grouped-query attention (HF num_key_value_heads); null: num_heads")
    max_position_embedding = Field(int, None, check=positive,
                                   doc="RoPE table length (HF max_position_embeddings); null: seq_length")
    intermediate_size = Field(int, None, check=positive,
                              doc="FFN width (HF intermediate_size); null: from multiple_of, ffn_dim_multiplier")
    multiple_of = Field(int, 256, check=positive, doc="the derived FFN width is rounded up to a multiple of this")
    ffn_dim_multiplier = Field((float, int), None, check=positive,
                               doc="scales the derived FFN width (Llama 2 70B, Llama 3: 1.3); null: 1")
    rms_norm_eps = Field(float, 1e-5, check=positive, doc="epsilon of the RMSNorms (HF rms_norm_eps)")
    theta = Field(float, 10000.0, check=positive, doc="RoPE base frequency (HF rope_theta)")
    rotary_dtype = dtype("float32", doc="dtype of the RoPE sin/cos tables")
    qkv_has_bias = Field(bool, False, doc="query/key/value projections carry a bias (Qwen2: true)")
    qkv_concat = Field(bool, False, doc="MindFormers: one fused qkv matmul (mf: ignored, warns; weights stay wq/wk/wv)")
    extend_method = Field(str, "None", choices=("None", "PI", "NTK", "LLAMA3"),
                          doc="RoPE scaling: None, PI (HF linear), NTK (HF dynamic), LLAMA3 (HF llama3)")
    scaling_factor = Field((float, dict), 1.0, check=scaling_factor,
        doc="RoPE scale: a number for PI/NTK (HF rope_scaling factor); LLAMA3: a mapping of its 4 keys")
    use_rope_slice = Field(bool, False, doc="MindFormers: RoPE rotate-half through slices (mf: ignored, warns)")
    use_ring_attention = Field(bool, False, doc="MindFormers: ring attention for context parallel (mf: ignored, warns)")
    use_attn_mask_compression = Field(bool, False,
                                      doc="MindFormers: compressed causal mask for FlashAttention (mf: ignored, warns)")
    parallel_optimizer = Field(bool, False, doc="MindFormers model-side switch for the sharded optimizer")
    fine_grain_interleave = Field(int, 1, check=positive,
                                  doc="MindFormers: slices per layer overlapping tensor-parallel comm with compute")
    pp_interleave_num = Field(int, 1, check=positive,
                              doc="MindFormers: virtual pipeline chunks per stage (interleaved pipeline)")
    offset = Field((int, list), 0, doc="MindFormers: extra layers per pipeline stage (an int, or a list per stage)")
    fused_rms_norm = Field(bool, False, doc="MindFormers: fused Ascend RMSNorm kernel (mf: ignored, warns)")
    pretrain_seqlen = Field(int, None, doc="MindFormers: seq length of the pretrained checkpoint (informative)")
    compute_in_2d = Field(bool, False, doc="MindFormers 0.x switch; no effect")
    use_past_shard = Field(bool, False, doc="MindFormers 0.x switch; no effect")

    def validate(self) -> None:
        super().validate()
        kv = self.n_kv_heads or self.num_heads
        if self.num_heads % kv:
            raise ConfigError(f"num_heads ({self.num_heads}) is not divisible by n_kv_heads ({kv})", key="n_kv_heads")
        check_rope_scaling(self.extend_method, self.scaling_factor)

    @property
    def kv_heads(self) -> int:
        """n_kv_heads, or num_heads when it is not set (multi-head attention)."""
        return self.n_kv_heads or self.num_heads

    @property
    def ffn_hidden_size(self) -> int:
        """intermediate_size, or MindFormers' rule (LlamaFeedForward) from multiple_of and ffn_dim_multiplier:
        ``int(2/3 * int((ffn_dim_multiplier + 0.01) * 4 * hidden))`` rounded up to ``multiple_of``. The 0.01 is
        MindFormers': with it Llama 2 70B's and Llama 3 70B's YAMLs (1.3, 256) give their checkpoints' 28672."""
        if self.intermediate_size is not None:
            return self.intermediate_size
        hidden = 4 * self.hidden_size
        if self.ffn_dim_multiplier is not None:
            hidden = int((self.ffn_dim_multiplier + 0.01) * hidden)
        hidden = int(2 * hidden / 3)
        return self.multiple_of * ((hidden + self.multiple_of - 1) // self.multiple_of)

    @property
    def is_moe(self) -> bool:
        return self.moe_config.expert_num > 1


@register("config")
class MixtralConfig(LlamaConfig):
    """A Llama config whose feed-forward is a mixture of experts (Mixtral 8x7B's defaults)."""

    model_type = "mixtral"
    seq_length = Field(int, 4096, check=positive,
                       doc="tokens per sample the model is built for (HF max_position_embeddings)")
    n_kv_heads = Field(int, 8, check=positive,
                       doc="key/value heads for grouped-query attention (HF num_key_value_heads)")
    intermediate_size = Field(int, 14336, check=positive, doc="FFN width of each expert (HF intermediate_size)")
    theta = Field(float, 1000000.0, check=positive, doc="RoPE base frequency (HF rope_theta)")

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("moe_config", MoEConfig(expert_num=8, num_experts_chosen=2))
        super().__init__(**kwargs)


@register("config")
class GPT2Config(CausalLMConfig):
    """GPT-2 (learned positions, pre-LayerNorm, tied head), as MindFormers names it."""

    model_type = "gpt2"
    seq_length = Field(int, 1024, check=positive,
                       doc="tokens per sample, the learned position table's length (HF n_positions)")
    vocab_size = Field(int, 50257, check=positive, doc="rows of the word embedding and outputs of the tied head")
    hidden_size = Field(int, 768, check=positive, doc="width of the residual stream and embeddings (HF n_embd)")
    num_layers = Field(int, 12, check=positive, doc="transformer blocks (HF n_layer)")
    num_heads = Field(int, 12, check=positive, doc="attention heads (HF n_head)")
    expand_ratio = Field(int, 4, check=positive, doc="FFN width / hidden_size (HF n_inner = expand_ratio x n_embd)")
    hidden_act = Field(str, "gelu", doc="FFN activation (gelu: the tanh form, HF gelu_new)")
    embedding_dropout_prob = Field(float, 0.1, check=probability,
                                   doc="dropout after the embeddings, training only (HF embd_pdrop)")
    hidden_dropout_rate = Field(float, 0.1, check=probability,
                                doc="dropout on the residual branches, training only (HF resid_pdrop)")
    attention_dropout_rate = Field(float, 0.1, check=probability,
                                   doc="dropout on the attention weights, training only (HF attn_pdrop)")
    layernorm_epsilon = Field(float, 1e-5, check=positive, doc="epsilon of the LayerNorms (HF layer_norm_epsilon)")
    bos_token_id = Field(int, 50256, optional=True, doc="id of <|endoftext|> as beginning of text; null: none")
    eos_token_id = Field((int, list), 50256, optional=True, doc="id(s) that end generation (<|endoftext|>); null: none")
    pad_token_id = Field(int, 50256, optional=True,
                         doc="id of the padding token (GPT-2 has none: <|endoftext|>); null: none")
    compute_dtype = dtype("float16", doc="dtype of matmuls and activations")
    param_init_type = dtype("float32", doc="dtype of the weights as created and stored (HF torch_dtype)")
    tie_word_embeddings = Field(bool, True, doc="the output head shares the word embedding's weight (GPT-2: always)")

    @property
    def ffn_hidden_size(self) -> int:
        return self.expand_ratio * self.hidden_size


@register("config")
class BloomConfig(CausalLMConfig):
    """Bloom (ALiBi, embedding LayerNorm, fused query-key-value, tied head), as MindFormers names it."""

    model_type = "bloom"
    seq_length = Field(int, 1024, check=positive,
                       doc="tokens per sample the model is built for (ALiBi: no position table)")
    vocab_size = Field(int, 250880, check=positive, doc="rows of the word embedding and outputs of the tied head")
    hidden_size = Field(int, 64, check=positive,
                        doc="width of the residual stream and embeddings (HF hidden_size, old files n_embed)")
    num_layers = Field(int, 2, check=positive, doc="transformer blocks (HF n_layer)")
    num_heads = Field(int, 8, check=positive, doc="attention heads, each with its ALiBi slope (HF n_head)")
    expand_ratio = Field(int, 4, check=positive, doc="FFN width / hidden_size (Bloom: 4)")
    hidden_act = Field(str, "gelu", doc="FFN activation (Bloom: gelu, tanh form)")
    embedding_dropout_prob = Field(float, 0.0, check=probability, doc="dropout after the embeddings, training only")
    hidden_dropout_rate = Field(float, 0.1, check=probability,
                                doc="dropout on the residual branches, training only (HF hidden_dropout)")
    attention_dropout_rate = Field(float, 0.1, check=probability,
                                   doc="dropout on the attention weights, training only (HF attention_dropout)")
    layernorm_epsilon = Field(float, 1e-5, check=positive, doc="epsilon of the LayerNorms (HF layer_norm_epsilon)")
    bos_token_id = Field(int, 1, optional=True, doc="id of <s>; null: none")
    eos_token_id = Field((int, list), 2, optional=True, doc="id(s) that end generation (</s>); null: none")
    pad_token_id = Field(int, 3, optional=True, doc="id of <pad>; null: none")
    tie_word_embeddings = Field(bool, True, doc="the output head shares the word embedding's weight (Bloom: always)")

    @property
    def ffn_hidden_size(self) -> int:
        return self.expand_ratio * self.hidden_size


nested("parallel_config", ParallelConfig)
nested("moe_config", MoEConfig)
