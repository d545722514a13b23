"""Streamers: text as tokens arrive (``put(ids)`` per step, ``end()`` once), as Hugging Face's and MindFormers'.

The new tokens are decoded together with all earlier ones since the prompt, so a character that a
tokenizer splits across several tokens (UTF-8 bytes of byte-level BPE or SentencePiece byte fallback)
comes out whole, once its last byte has arrived: text that ends in an incomplete character (U+FFFD)
is held back until it completes.
"""

from __future__ import annotations

import queue
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from mf_tokenizers import PreTrainedTokenizerBase

REPLACEMENT = "\ufffd"


class BaseStreamer:
    """What ``generate`` calls: ``put(token_ids)`` with the prompt first, then each new token; ``end()``."""

    def put(self, value: np.ndarray | Sequence[int] | int) -> None:
        raise NotImplementedError

    def end(self) -> None:
        raise NotImplementedError


class TextStreamer(BaseStreamer):
    """Prints (or hands to ``on_text``) the decoded text as it grows.

    ``skip_prompt`` leaves out the prompt (the first ``put``); ``decode_kwargs`` go to ``tokenizer.decode``
    (e.g. ``skip_special_tokens=True``).
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, skip_prompt: bool = False, **decode_kwargs: Any) -> None:
        self.tokenizer = tokenizer
        self.skip_prompt = skip_prompt
        self.decode_kwargs = decode_kwargs
        self.tokens = []
        self.printed = 0
        self.next_is_prompt = True

    def put(self, value: np.ndarray | Sequence[int] | int) -> None:
        ids = np.asarray(value).reshape(-1).tolist()
        if self.skip_prompt and self.next_is_prompt:
            self.next_is_prompt = False
            return
        self.next_is_prompt = False
        self.tokens.extend(int(i) for i in ids)
        text = self.tokenizer.decode(self.tokens, **self.decode_kwargs)
        stable = len(text.rstrip(REPLACEMENT)) if text.endswith(REPLACEMENT) else len(text)
        if stable > self.printed:
            self.on_text(text[self.printed:stable])
            self.printed = stable

    def end(self) -> None:
        """Flush what is left (an incomplete last character is printed as it decodes) and start over."""
        text = self.tokenizer.decode(self.tokens, **self.decode_kwargs) if self.tokens else ""
        self.on_text(text[self.printed:], stream_end=True)
        self.tokens, self.printed, self.next_is_prompt = [], 0, True

    def on_text(self, text: str, stream_end: bool = False) -> None:
        """Print ``text`` (override to send it elsewhere)."""
        print(text, end="" if not stream_end else "\n", flush=True)


class TextIteratorStreamer(TextStreamer):
    """A ``TextStreamer`` to iterate over from another thread: ``for text in streamer: ...``;
    ``timeout`` (seconds) bounds each wait for the next piece (``queue.Empty`` when it passes)."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, skip_prompt: bool = False, timeout: float | None = None,
                 **decode_kwargs: Any) -> None:
        super().__init__(tokenizer, skip_prompt, **decode_kwargs)
        self.queue = queue.Queue()
        self.timeout = timeout
        self._stop = object()

    def on_text(self, text: str, stream_end: bool = False) -> None:
        if text:
            self.queue.put(text)
        if stream_end:
            self.queue.put(self._stop)

    def __iter__(self):
        return self

    def __next__(self):
        value = self.queue.get(timeout=self.timeout)
        if value is self._stop:
            raise StopIteration
        return value
