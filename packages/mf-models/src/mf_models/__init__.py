"""mf-models: Llama 2/3, Mistral, Mixtral, GPT-2 and Bloom as MindSpore networks with a KV cache.

Importing the package is light; the networks (and mindspore) load on first use of a name below.
"""

from mf_config.lazy import lazy_exports

__version__ = "0.2.0"

_LAZY = {
    "AutoModel": "mf_models.auto",
    "PreTrainedModel": "mf_models.modeling",
    "CausalLM": "mf_models.modeling",
    "DecodeSession": "mf_models.decoding",
    "KVCache": "mf_models.decoding",
    "ModelError": "mf_models.errors",
    "LlamaForCausalLM": "mf_models.llama",
    "MixtralForCausalLM": "mf_models.llama",
    "GPT2LMHeadModel": "mf_models.gpt2",
    "BloomLMHeadModel": "mf_models.bloom",
}

__all__ = [*_LAZY, "__version__"]
__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
