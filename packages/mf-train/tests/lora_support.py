"""Tiny models of each family (2 layers, hidden 32, vocab 97, float32) and helpers for the LoRA tests."""

import mindspore as ms
import numpy as np
import pytest
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


@pytest.fixture(autouse=True, scope="module")
def pynative_module():
    """A module that imports this runs in PyNative (tiny models run faster than they compile; a test that wants
    graph mode sets it), and the mode the session had comes back after it."""
    mode = ms.get_context("mode")
    ms.set_context(mode=ms.PYNATIVE_MODE)
    yield
    ms.set_context(mode=mode)


def hf_config(family):
    """The transformers config of the tiny ``family`` model."""
    import transformers

    c = CONFIGS[family]()
    common = dict(vocab_size=c.vocab_size, bos_token_id=c.bos_token_id, eos_token_id=c.eos_token_id,
                  pad_token_id=c.pad_token_id)
    if family == "llama":
        return transformers.LlamaConfig(hidden_size=c.hidden_size, intermediate_size=c.ffn_hidden_size,
                                         num_hidden_layers=c.num_layers, num_attention_heads=c.num_heads,
                                         num_key_value_heads=c.kv_heads, max_position_embeddings=c.seq_length,
                                         **common)
    if family == "gpt2":
        return transformers.GPT2Config(n_embd=c.hidden_size, n_layer=c.num_layers, n_head=c.num_heads,
                                       n_positions=c.seq_length, **common)
    return transformers.BloomConfig(hidden_size=c.hidden_size, n_layer=c.num_layers, n_head=c.num_heads, **common)


def hf_folders(tmp, family):
    """A random tiny transformers model saved as a HF folder ``tmp/hf``, converted to ours (``tmp/ours``) by
    mf-ckpt."""
    import torch
    import transformers

    from mf_ckpt.conversion import convert

    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(hf_config(family))
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.2)
    model.save_pretrained(tmp / "hf")
    convert(tmp / "hf", tmp / "ours")
    return tmp
