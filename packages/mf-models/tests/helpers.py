"""Shared by the tests: tiny configs of the four families (2 layers, hidden 32), float32 so they run on the CPU
backend, and our network class of each family."""

from mf_config import BloomConfig, GPT2Config, LlamaConfig, MoEConfig
from mf_models.bloom import BloomLMHeadModel
from mf_models.gpt2 import GPT2LMHeadModel
from mf_models.llama import LlamaForCausalLM

TINY = dict(num_layers=2, hidden_size=32, num_heads=4, vocab_size=97, seq_length=32, compute_dtype="float32",
            param_init_type="float32", bos_token_id=1, eos_token_id=2, pad_token_id=0)


def llama_config(**kw):
    return LlamaConfig(**{**TINY, "n_kv_heads": 2, "intermediate_size": 64, **kw})


def mixtral_config(**kw):
    moe = MoEConfig(expert_num=4, num_experts_chosen=2, capacity_factor=1.1, aux_loss_factor=0.05)
    return LlamaConfig(**{**TINY, "n_kv_heads": 2, "intermediate_size": 48, "moe_config": moe, **kw})


def gpt2_config(**kw):
    return GPT2Config(**{**TINY, **kw})


def bloom_config(**kw):
    return BloomConfig(**{**TINY, **kw})


CONFIGS = {"llama": llama_config, "mixtral": mixtral_config, "gpt2": gpt2_config, "bloom": bloom_config}

CLASSES = {"llama": LlamaForCausalLM, "mixtral": LlamaForCausalLM, "gpt2": GPT2LMHeadModel,
           "bloom": BloomLMHeadModel}
