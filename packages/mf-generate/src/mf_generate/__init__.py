"""mf-generate: generate() with KV cache, sampling, streaming, pipelines; `mf-generate run`.

Importing this package does not import mindspore; ``generate`` and the pipeline load it when they run.
"""

__version__ = "0.1.0"

from mf_generate.config import GenerationConfig
from mf_generate.errors import GenerationError
from mf_generate.generate import generate
from mf_generate.pipeline import TextGenerationPipeline, pipeline
from mf_generate.streamers import BaseStreamer, TextIteratorStreamer, TextStreamer

__all__ = ["BaseStreamer", "GenerationConfig", "GenerationError", "TextGenerationPipeline", "TextIteratorStreamer",
           "TextStreamer", "generate", "pipeline"]
