"""Tiny `transformers` models of each family and the same weights in our network (converted by mf-ckpt)."""

import torch
import transformers

from mf_ckpt.conversion import convert
from mf_models.auto import AutoModel

COMMON = dict(vocab_size=97, bos_token_id=1, eos_token_id=2, pad_token_id=0)
CASES = {
    "llama": (transformers.LlamaConfig, transformers.LlamaForCausalLM, dict(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        max_position_embeddings=32)),
    "mixtral": (transformers.MixtralConfig, transformers.MixtralForCausalLM, dict(
        hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        num_local_experts=4, num_experts_per_tok=2, max_position_embeddings=32)),
    "gpt2": (transformers.GPT2Config, transformers.GPT2LMHeadModel, dict(
        n_embd=32, n_layer=2, n_head=4, n_positions=32, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)),
    "bloom": (transformers.BloomConfig, transformers.BloomForCausalLM, dict(hidden_size=32, n_layer=2, n_head=4)),
}
# no expert is ever full (capacity = every token), so training routes as transformers' dropless Mixtral
OVERRIDES = {"mixtral": {"moe_config": {"capacity_factor": 4.0, "aux_loss_factor": 0.0}}}


def hf_model(family, seed=0):
    config_cls, model_cls, kwargs = CASES[family]
    torch.manual_seed(seed)
    model = model_cls(config_cls(**COMMON, **kwargs))
    with torch.no_grad():  # norms at one and biases at zero would hide a mapping error
        for name, p in model.named_parameters():
            if "norm" in name or "ln" in name or name.endswith("bias"):
                p.add_(torch.randn_like(p) * 0.1)
    return model


def ours_from_hf(hf, folder, family):
    """Our network with the weights of ``hf`` (saved, converted by mf-ckpt, loaded)."""
    hf.save_pretrained(folder / "hf", safe_serialization=True)
    convert(folder / "hf", folder / "ours")
    model = AutoModel.from_pretrained(folder / "ours")
    for section, values in OVERRIDES.get(family, {}).items():
        for key, value in values.items():
            object.__setattr__(getattr(model.config, section), key, value)
    if family == "mixtral":
        model = type(model)(model.config)
        model.load_weights(folder / "ours")
    return model
