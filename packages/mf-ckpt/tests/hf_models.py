"""Tiny random Hugging Face models, made by transformers, one per case the issue names."""

import copy

import torch
import transformers

CASES = {
    "llama_gqa": ("LlamaForCausalLM", transformers.LlamaConfig, dict(
        vocab_size=96, hidden_size=64, intermediate_size=80, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, rope_theta=500000.0, max_position_embeddings=64, rms_norm_eps=1e-5)),
    "llama31": ("LlamaForCausalLM", transformers.LlamaConfig, dict(  # Llama 3.1's RoPE scaling, in every band
        vocab_size=96, hidden_size=64, intermediate_size=80, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, rope_theta=500000.0, max_position_embeddings=64, rms_norm_eps=1e-5,
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                      "original_max_position_embeddings": 16})),
    "llama_mha": ("LlamaForCausalLM", transformers.LlamaConfig, dict(
        vocab_size=96, hidden_size=48, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=4, max_position_embeddings=64, tie_word_embeddings=True)),
    "mistral": ("MistralForCausalLM", transformers.MistralConfig, dict(
        vocab_size=96, hidden_size=64, intermediate_size=80, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=64, sliding_window=None)),
    "mixtral": ("MixtralForCausalLM", transformers.MixtralConfig, dict(
        vocab_size=96, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, num_local_experts=4, num_experts_per_tok=2, max_position_embeddings=64)),
    "gpt2": ("GPT2LMHeadModel", transformers.GPT2Config, dict(
        vocab_size=96, n_embd=48, n_layer=2, n_head=4, n_positions=64, bos_token_id=0, eos_token_id=0)),
    "bloom": ("BloomForCausalLM", transformers.BloomConfig, dict(
        vocab_size=96, hidden_size=48, n_layer=2, n_head=4)),
    "qwen2": ("Qwen2ForCausalLM", transformers.Qwen2Config, dict(
        vocab_size=96, hidden_size=64, intermediate_size=80, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=64, rope_theta=1000000.0, rms_norm_eps=1e-6)),
}


def make_model(case, seed=0):
    """The random float32 transformers model of ``case``, in eval mode."""
    arch, config_cls, kwargs = CASES[case]
    torch.manual_seed(seed)
    model = getattr(transformers, arch)(config_cls(**copy.deepcopy(kwargs))).eval()  # it edits rope_scaling
    with torch.no_grad():  # norms start at exactly one and biases at zero: randomise them so the mapping shows
        for name, p in model.named_parameters():
            if "norm" in name or "ln" in name or name.endswith("bias"):
                p.add_(torch.randn_like(p) * 0.1)
    return model


def logits(model, ids):
    with torch.no_grad():
        return model(torch.as_tensor(ids)).logits.float().numpy()
