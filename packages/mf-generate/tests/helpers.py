"""Shared by the tests: the tiny Hugging Face models of each family, and the sentences a tiny Llama memorises."""

import torch
import transformers

HF_CASES = {
    "llama": ("LlamaForCausalLM", transformers.LlamaConfig, dict(
        vocab_size=96, hidden_size=64, intermediate_size=80, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, rope_theta=500000.0, max_position_embeddings=64)),
    "mixtral": ("MixtralForCausalLM", transformers.MixtralConfig, dict(
        vocab_size=96, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, num_local_experts=4, num_experts_per_tok=2, max_position_embeddings=64)),
    "gpt2": ("GPT2LMHeadModel", transformers.GPT2Config, dict(
        vocab_size=96, n_embd=48, n_layer=2, n_head=4, n_positions=64, bos_token_id=1, eos_token_id=2)),
    "bloom": ("BloomForCausalLM", transformers.BloomConfig, dict(vocab_size=96, hidden_size=48, n_layer=2, n_head=4,
                                                                 seq_length=64)),
    "qwen2": ("Qwen2ForCausalLM", transformers.Qwen2Config, dict(
        vocab_size=96, hidden_size=64, intermediate_size=80, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=64, tie_word_embeddings=True, bos_token_id=1, eos_token_id=2)),
}


SENTENCES = [
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "MindSpore runs the same network on Ascend devices and on the CPU.",
    "A tiny model can learn a few short sentences by heart.",
    "Generation with a key value cache reads each token only once.",
]


def make_hf_model(case, seed=0):
    """A random float32 transformers model (norms and biases randomised too), in eval mode."""
    arch, config_cls, kwargs = HF_CASES[case]
    torch.manual_seed(seed)
    model = getattr(transformers, arch)(config_cls(**kwargs)).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name or "ln" in name or name.endswith("bias"):
                p.add_(torch.randn_like(p) * 0.1)
    return model


def texts(stdout):
    """Prompt + completion of each result `run` printed: the prompt, the separator line, the completion."""
    out = []
    for block in stdout.strip("\n").split("\n\n"):
        prompt, separator, completion = block.split("\n", 2)
        assert separator == "--- completion ---", block
        out.append(prompt + completion)
    return out
