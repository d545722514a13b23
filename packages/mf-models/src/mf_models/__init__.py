"""mf-models: Llama 2/3, Mixtral, GPT-2 and Bloom as MindSpore networks with a KV cache."""

__version__ = "0.1.0"
