"""mf-generate: generate() with KV cache, sampling, streaming, pipelines; `mf-generate run`."""

__version__ = "0.1.0"
