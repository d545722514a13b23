"""Tiny models of each family (2 layers, hidden 32, vocab 97, float32) and helpers for the LoRA tests."""

import mindspore as ms
import numpy as np
from mindspore import Tensor

from mf_config import BloomConfig, GPT2Config, LlamaConfig, MoEConfig

TINY = dict(num_layers=2, hidden_size=32, num_heads=4, vocab_size=97, seq_length=32, compute_dtype="float32",
            param_init_type="float32", bos_token_id=1, eos_token_id=2, pad_token_id=0)
CONFIGS = {
    "llama": lambda **kw: LlamaConfig(**{**TINY, "n_kv_heads": 2, "intermediate_size": 64, **kw}),
    "mixtral": lambda **kw: LlamaConfig(**{**TINY, "n_kv_heads": 2, "intermediate_size": 48, **kw, "moe_config":
                                           MoEConfig(expert_num=4, num_experts_chosen=2)}),
    "gpt2": lambda **kw: GPT2Config(**{**TINY, **kw}),
    "bloom": lambda **kw: BloomConfig(**{**TINY, **kw}),
}
BATCH = np.random.default_rng(3).integers(3, 97, (2, 12)).astype(np.int32)


def build(family, seed=0, **kw):
    """A fresh tiny model of ``family`` (random weights drawn from ``seed``)."""
    from mf_models.bloom import BloomLMHeadModel
    from mf_models.gpt2 import GPT2LMHeadModel
    from mf_models.llama import LlamaForCausalLM

    cls = {"llama": LlamaForCausalLM, "mixtral": LlamaForCausalLM, "gpt2": GPT2LMHeadModel,
           "bloom": BloomLMHeadModel}[family]
    ms.set_seed(seed)
    return cls(CONFIGS[family](**kw))


def randomize_adapters(model, seed=0, std=0.2):
    """Give every adapter (A and B) random values, so that the adapters change the model's output."""
    from mf_train.lora import adapter_parameters

    rng = np.random.default_rng(seed)
    for param in adapter_parameters(model).values():
        param.set_data(Tensor(rng.normal(0.0, std, param.shape).astype(np.float32)))


def logits(model, ids=BATCH):
    model.set_train(False)
    return model(Tensor(ids)).asnumpy()


def values(model):
    """{name: numpy copy} of every parameter."""
    return {p.name: p.asnumpy().copy() for p in model.get_parameters()}


def set_mode(graph):
    ms.set_context(mode=ms.GRAPH_MODE if graph else ms.PYNATIVE_MODE)
