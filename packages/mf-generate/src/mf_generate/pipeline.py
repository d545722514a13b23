"""``TextGenerationPipeline`` and ``pipeline("text_generation", ...)``, as MindFormers' (text in, text out).

    pipe = pipeline("text_generation", model="out/llama_tiny", max_new_tokens=32, do_sample=False)
    pipe("I love Beijing, because")
    # [{'text_generation_text': ['I love Beijing, because ...']}]
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mf_config.registry import register
from mf_generate.config import GenerationConfig
from mf_generate.errors import GenerationError
from mf_generate.generate import generate
from mf_generate.prompts import as_prompts, check_prompts

if TYPE_CHECKING:
    from mf_generate.streamers import BaseStreamer
    from mf_models import CausalLM
    from mf_tokenizers import PreTrainedTokenizerBase

TASKS = ("text_generation", "text-generation")


@register("pipeline")
class TextGenerationPipeline:
    """Text in, text out: tokenise, ``generate`` in batches of ``batch_size`` prompts (default: the model
    config's ``batch_size``), decode prompt plus completion without special tokens.

    ``gen_kwargs`` (``max_new_tokens``, ``do_sample``, ``top_k``, ``seed``, ``use_past`` ...) are the defaults of
    every call; a call's own kwargs win. Unknown generation options raise before any compute.
    """

    def __init__(self, model: CausalLM, tokenizer: PreTrainedTokenizerBase, batch_size: int | None = None,
                 **gen_kwargs: Any) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size or getattr(model.config, "batch_size", 1) or 1
        self.generation_config = GenerationConfig.from_model(model, **gen_kwargs)

    def check(self, inputs: str | Iterable[str], **gen_kwargs: Any) -> None:
        """GenerationError for inputs ``__call__`` would refuse (empty, too long, ids outside the vocabulary),
        before anything runs."""
        texts = [inputs] if isinstance(inputs, str) else list(inputs)
        config = self.generation_config.update(**gen_kwargs)
        check_prompts(as_prompts([self.tokenizer.encode(t) for t in texts]), config, self.model.config)

    def __call__(self, inputs, streamer=None, timing=None, **gen_kwargs):
        """``inputs``: a string or a list of strings. Returns one ``{'text_generation_text': [text]}`` per input.
        ``timing``, a dict, gets the figures of ``generate`` summed over the batches (the first token: the first
        batch's)."""
        pairs = self.generate_ids(inputs, streamer=streamer, timing=timing, **gen_kwargs)
        return [{"text_generation_text": [self.tokenizer.decode(out, skip_special_tokens=True)]} for _, out in pairs]

    def generate_ids(self, inputs: str | Iterable[str], streamer: BaseStreamer | None = None,
                     timing: dict[str, Any] | None = None, **gen_kwargs: Any) -> list[tuple[list[int], list[int]]]:
        """``(prompt ids, prompt + generated ids)`` per input string, in order: the exact token counts."""
        texts = [inputs] if isinstance(inputs, str) else list(inputs)
        if not texts or not all(isinstance(t, str) for t in texts):
            raise GenerationError("expected a string or a list of strings", key="inputs")
        config = self.generation_config.update(**gen_kwargs)
        ids = [self.tokenizer.encode(t) for t in texts]
        outputs = []
        step = 1 if streamer is not None else self.batch_size
        for start in range(0, len(ids), step):
            batch = {}
            outputs += generate(self.model, ids[start:start + step], config, streamer=streamer,
                                tokenizer=self.tokenizer, timing=batch)
            if timing is not None:
                add_timing(timing, batch)
        return list(zip(ids, outputs))


def pipeline(task: str = "text_generation", model: CausalLM | str | os.PathLike | None = None,
             tokenizer: PreTrainedTokenizerBase | str | os.PathLike | None = None,
             **kwargs: Any) -> TextGenerationPipeline:
    """MindFormers' ``pipeline``: ``model`` a loaded network or a model folder (ours or Hugging Face's, with its
    tokenizer files), ``tokenizer`` a tokenizer or a path (default: the model folder's); ``kwargs`` are
    ``batch_size`` and generation options."""
    if task not in TASKS:
        raise GenerationError(f"unknown task '{task}'; this package serves {', '.join(TASKS)}", key="task")
    if model is None:
        raise GenerationError("pipeline needs model= (a network or a model folder)", key="model")
    if isinstance(model, (str, Path)):
        from mf_generate.loading import load_pretrained

        tokenizer = model if tokenizer is None else tokenizer
        model, _ = load_pretrained(model)
    if tokenizer is None:
        raise GenerationError("pipeline needs tokenizer= when model is a network", key="tokenizer")
    if isinstance(tokenizer, (str, Path)):
        from mf_tokenizers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(tokenizer)
    return TextGenerationPipeline(model, tokenizer, **kwargs)


def add_timing(total, batch):
    """Sum one batch's ``generate`` timing into ``total`` (first token: the first batch's)."""
    if not total:
        total.update(batch)
        return
    for key in ("new_tokens", "seconds", "decode_tokens", "decode_s", "decode_cpu_s"):
        if batch[key] is not None:
            total[key] = (total[key] or 0) + batch[key]
