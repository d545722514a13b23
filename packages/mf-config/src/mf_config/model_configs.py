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

    data_parallel = Field(int, 1, check=positive)
    model_parallel = Field(int, 1, check=positive)
    context_parallel = Field(int, 1, check=positive)
    expert_parallel = Field(int, 1, check=positive)
    pipeline_stage = Field(int, 1, check=positive)
    micro_batch_num = Field(int, 1, check=positive)
    seq_split_num = Field(int, 1, check=positive)
    use_seq_parallel = Field(bool, False)
    optimizer_shard = Field(bool, None)
    gradient_aggregation_group = Field(int, 4, check=positive)
    vocab_emb_dp = Field(bool, True)
    context_parallel_algo = Field(str, "colossalai_cp")
    ulysses_degree_in_cp = Field(int, 1, check=positive)
    mem_coeff = Field(float, 0.1)

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

    expert_num = Field(int, 1, check=positive)
    capacity_factor = Field(float, 1.1, check=positive)
    aux_loss_factor = Field(float, 0.05, check=non_negative)
    num_experts_chosen = Field(int, 1, check=positive)
    expert_group_size = Field(int, None)
    group_wise_a2a = Field(bool, False)
    comp_comm_parallel = Field(bool, False)
    comp_comm_parallel_degree = Field(int, 2)
    save_token_distribution = Field(bool, False)
    cur_layer = Field(int, 0)
    enable_cold_hot_expert = Field(bool, False)
    update_step = Field(int, 10000)
    hot_expert_num = Field(int, 0)
    cold_token_percent = Field(float, 1.0)
    moe_module_name = Field(str, "")
    routing_policy = Field(str, "TopkRouterV1", choices=("TopkRouterV1", "TopkRouterV2"))
    norm_topk_prob = Field(bool, True)
    enable_sdrop = Field(bool, False)
    use_fused_ops_topkrouter = Field(bool, False)
    router_dense_type = dtype("float32")
    shared_expert_num = Field(int, 0, check=non_negative)
    use_shared_expert_gating = Field(bool, False)
    max_router_load = Field(int, 128 * 1024)
    topk_method = Field(str, "greedy")
    moe_intermediate_size = Field(int, None)
    routed_scaling_factor = Field(float, 1.0)
    z_loss_factor = Field(float, 0.0)

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

    batch_size = Field(int, 1, check=positive)
    seq_length = Field(int, 2048, check=positive)
    hidden_size = Field(int, 4096, check=positive)
    num_layers = Field(int, 32, check=positive)
    num_heads = Field(int, 32, check=positive)
    vocab_size = Field(int, 32000, check=positive)
    bos_token_id = Field(int, 1, optional=True)
    eos_token_id = Field((int, list), 2, optional=True)
    pad_token_id = Field(int, 0, optional=True)
    ignore_token_id = Field(int, -100)
    compute_dtype = dtype("float16")
    layernorm_compute_type = dtype("float32")
    softmax_compute_type = dtype("float32")
    param_init_type = dtype("float16")
    embedding_init_type = Field(str, None, choices=(None, "float32", "float16", "bfloat16"))
    initializer_range = Field(float, 0.02)
    use_past = Field(bool, False)
    is_dynamic = Field(bool, False)
    use_flash_attention = Field(bool, False)
    use_prompt_flash_attention = Field(bool, False)
    use_seq_parallel = Field(bool, False)
    use_select_recompute = Field(bool, False)
    checkpoint_name_or_path = Field(str, "")
    tie_word_embeddings = Field(bool, False)
    repetition_penalty = Field(float, 1.0, check=positive)
    max_decode_length = Field(int, 1024, check=positive)
    top_k = Field(int, 5, check=non_negative)
    top_p = Field(float, 1.0, check=probability)
    do_sample = Field(bool, True)
    block_size = Field(int, 16, check=positive)
    num_blocks = Field(int, 512, check=positive)
    parallel_config = Field(ParallelConfig, None)
    moe_config = Field(MoEConfig, None)
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
    n_kv_heads = Field(int, None, check=positive)
    max_position_embedding = Field(int, None, check=positive)
    intermediate_size = Field(int, None, check=positive)
    multiple_of = Field(int, 256, check=positive)
    ffn_dim_multiplier = Field((float, int), None, check=positive)
    rms_norm_eps = Field(float, 1e-5, check=positive)
    theta = Field(float, 10000.0, check=positive)
    rotary_dtype = dtype("float32")
    qkv_has_bias = Field(bool, False)
    qkv_concat = Field(bool, False)
    extend_method = Field(str, "None", choices=("None", "PI", "NTK", "LLAMA3"))
    scaling_factor = Field((float, dict), 1.0, check=scaling_factor,
                           doc="a number (PI, NTK); for LLAMA3 a mapping of " + ", ".join(LLAMA3_KEYS))
    use_rope_slice = Field(bool, False)
    use_ring_attention = Field(bool, False)
    use_attn_mask_compression = Field(bool, False)
    parallel_optimizer = Field(bool, False)
    fine_grain_interleave = Field(int, 1, check=positive)
    pp_interleave_num = Field(int, 1, check=positive)
    offset = Field((int, list), 0)
    fused_rms_norm = Field(bool, False)
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
    seq_length = Field(int, 4096, check=positive)
    n_kv_heads = Field(int, 8, check=positive)
    intermediate_size = Field(int, 14336, check=positive)
    theta = Field(float, 1000000.0, check=positive)

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("moe_config", MoEConfig(expert_num=8, num_experts_chosen=2))
        super().__init__(**kwargs)


@register("config")
class GPT2Config(CausalLMConfig):
    """GPT-2 (learned positions, pre-LayerNorm, tied head), as MindFormers names it."""

    model_type = "gpt2"
    seq_length = Field(int, 1024, check=positive)
    vocab_size = Field(int, 50257, check=positive)
    hidden_size = Field(int, 768, check=positive)
    num_layers = Field(int, 12, check=positive)
    num_heads = Field(int, 12, check=positive)
    expand_ratio = Field(int, 4, check=positive)
    hidden_act = Field(str, "gelu")
    embedding_dropout_prob = Field(float, 0.1, check=probability)
    hidden_dropout_rate = Field(float, 0.1, check=probability)
    attention_dropout_rate = Field(float, 0.1, check=probability)
    layernorm_epsilon = Field(float, 1e-5, check=positive)
    bos_token_id = Field(int, 50256, optional=True)
    eos_token_id = Field((int, list), 50256, optional=True)
    pad_token_id = Field(int, 50256, optional=True)
    compute_dtype = dtype("float16")
    param_init_type = dtype("float32")
    tie_word_embeddings = Field(bool, True)

    @property
    def ffn_hidden_size(self) -> int:
        return self.expand_ratio * self.hidden_size


@register("config")
class BloomConfig(CausalLMConfig):
    """Bloom (ALiBi, embedding LayerNorm, fused query-key-value, tied head), as MindFormers names it."""

    model_type = "bloom"
    seq_length = Field(int, 1024, check=positive)
    vocab_size = Field(int, 250880, check=positive)
    hidden_size = Field(int, 64, check=positive)
    num_layers = Field(int, 2, check=positive)
    num_heads = Field(int, 8, check=positive)
    expand_ratio = Field(int, 4, check=positive)
    hidden_act = Field(str, "gelu")
    embedding_dropout_prob = Field(float, 0.0, check=probability)
    hidden_dropout_rate = Field(float, 0.1, check=probability)
    attention_dropout_rate = Field(float, 0.1, check=probability)
    layernorm_epsilon = Field(float, 1e-5, check=positive)
    bos_token_id = Field(int, 1, optional=True)
    eos_token_id = Field((int, list), 2, optional=True)
    pad_token_id = Field(int, 3, optional=True)
    tie_word_embeddings = Field(bool, True)

    @property
    def ffn_hidden_size(self) -> int:
        return self.expand_ratio * self.hidden_size


nested("parallel_config", ParallelConfig)
nested("moe_config", MoEConfig)
