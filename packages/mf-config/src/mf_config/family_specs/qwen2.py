"""Qwen2: a Llama with bias on the query, key and value projections (not on the output projection), its own RoPE
base and RMSNorm epsilon, a tied head in the small sizes. MindFormers runs it as ``LlamaForCausalLM`` with
``qkv_has_bias: True`` (research/qwen2), and its converter renames the tensors as Llama's: so do we."""

from mf_config.family_specs._shared import TINY
from mf_config.family_specs.llama import LLAMA_KEYS, hf_ignorable, is_dense_llama, read_rope, weight_rules, write_rope
from mf_config.model_configs import LlamaConfig
from mf_config.spec import FamilySpec, register_family

SIZES = dict(qkv_has_bias=True, theta=1000000.0, rms_norm_eps=1e-6, seq_length=32768, bos_token_id=151643,
             eos_token_id=151643, pad_token_id=151643)


def _read(hf, kwargs):
    read_rope(hf, kwargs)
    kwargs["qkv_has_bias"] = True  # always, and HF's file does not say it
    return set()


def _write(config, hf):
    write_rope(config, hf, head_dim=False)  # Qwen2Config derives head_dim


QWEN2 = register_family(FamilySpec(
    name="qwen2", config_class=LlamaConfig, hf_model_type="qwen2", hf_architectures=("Qwen2ForCausalLM",),
    mf_config_type="LlamaConfig", mf_arch_type="LlamaForCausalLM", weight_rules=weight_rules,
    accepts=lambda c: is_dense_llama(c) and c.qkv_has_bias, refines="llama", hf_keys=LLAMA_KEYS, hf_read=_read,
    hf_write=_write, hf_ignorable=hf_ignorable,
    presets={
        "tiny": {**TINY, "n_kv_heads": 2, "intermediate_size": 64, "qkv_has_bias": True, "theta": 1000000.0,
                 "rms_norm_eps": 1e-6},
        "qwen2-0.5b": dict(SIZES, hidden_size=896, num_layers=24, num_heads=14, n_kv_heads=2, intermediate_size=4864,
                           vocab_size=151936, tie_word_embeddings=True),
        "qwen2-1.5b": dict(SIZES, hidden_size=1536, num_layers=28, num_heads=12, n_kv_heads=2,
                           intermediate_size=8960, vocab_size=151936, tie_word_embeddings=True),
        "qwen2-7b": dict(SIZES, hidden_size=3584, num_layers=28, num_heads=28, n_kv_heads=4, intermediate_size=18944,
                         vocab_size=152064),
    }))
