"""Turning ``input_ids`` into per-row prompts and checking them against the model before any compute."""

import numbers
from collections.abc import Mapping

import numpy as np

from mf_generate.errors import GenerationError


def as_prompts(input_ids, pad_token_id=None, attention_mask=None):
    """Rows of ids from a list of lists, a 1-D list/array (one row), a 2-D numpy array or what a tokenizer
    returns (a ``BatchEncoding``: a mapping with ``input_ids`` and maybe ``attention_mask``).

    A 2-D array holds rows padded on the right as MindFormers' ``generate`` takes them: trailing
    ``pad_token_id`` entries are dropped. With an ``attention_mask`` (same shape) a row is its ids where the mask
    is 1, padded on either side. Raises GenerationError for empty input or non-integer ids.
    """
    if isinstance(input_ids, Mapping):
        if "input_ids" not in input_ids:
            raise GenerationError(f"a mapping of inputs needs 'input_ids', got {sorted(input_ids)}", key="input_ids")
        attention_mask = input_ids.get("attention_mask") if attention_mask is None else attention_mask
        input_ids = input_ids["input_ids"]
    if attention_mask is not None:
        return as_prompts(_masked(input_ids, attention_mask))
    if hasattr(input_ids, "asnumpy"):
        input_ids = input_ids.asnumpy()
    if isinstance(input_ids, np.ndarray):
        if input_ids.ndim == 1:
            input_ids = input_ids[None, :]
        if input_ids.ndim != 2:
            raise GenerationError(f"expected (batch, length) ids, got shape {input_ids.shape}", key="input_ids")
        if not np.issubdtype(input_ids.dtype, np.integer) and input_ids.size:
            raise GenerationError(f"expected integer ids, got {input_ids.dtype}", key="input_ids")
        rows = [_strip_pad(row, pad_token_id) for row in input_ids.tolist()]
    else:
        rows = list(input_ids)
        if rows and all(isinstance(v, numbers.Integral) for v in rows):
            rows = [rows]
        rows = [list(r.tolist() if isinstance(r, np.ndarray) else r) for r in rows]
    if not rows:
        raise GenerationError("no prompts given", key="input_ids")
    for i, row in enumerate(rows):
        if not row:
            raise GenerationError(f"prompt {i} is empty", key="input_ids")
        if any(isinstance(v, bool) or not isinstance(v, numbers.Integral) for v in row):
            raise GenerationError(f"prompt {i} holds non-integer ids", key="input_ids")
    return [[int(v) for v in row] for row in rows]


def _masked(input_ids, attention_mask):
    """The rows of ``input_ids`` where ``attention_mask`` is nonzero."""
    ids = np.asarray(input_ids.asnumpy() if hasattr(input_ids, "asnumpy") else input_ids)
    mask = np.asarray(attention_mask.asnumpy() if hasattr(attention_mask, "asnumpy") else attention_mask)
    if ids.ndim == 1:
        ids, mask = ids[None], mask[None] if mask.ndim == 1 else mask
    if ids.shape != mask.shape:
        raise GenerationError(f"attention_mask has shape {mask.shape}, input_ids {ids.shape}", key="attention_mask")
    return [row[m != 0].tolist() for row, m in zip(ids, mask)]


def _strip_pad(row, pad):
    if pad is None:
        return row
    end = len(row)
    while end and row[end - 1] == pad:
        end -= 1
    return row[:end]


def check_prompts(prompts, config, model_config):
    """GenerationError for ids outside the vocabulary, an eos id outside it, or a prompt longer than
    ``seq_length``."""
    vocab, seq_length = model_config.vocab_size, model_config.seq_length
    for i, row in enumerate(prompts):
        if len(row) > seq_length:
            raise GenerationError(f"prompt {i} has {len(row)} tokens, more than the model's seq_length "
                                  f"{seq_length}", key="input_ids")
        low, high = min(row), max(row)
        if low < 0 or high >= vocab:
            raise GenerationError(f"prompt {i} holds id {low if low < 0 else high}, outside the vocabulary "
                                  f"[0, {vocab})", key="input_ids")
    for eos in config.eos_token_id:
        if eos >= vocab:
            raise GenerationError(f"unknown eos token id {eos}: the vocabulary has {vocab} ids",
                                  key="eos_token_id")
    if config.pad_token_id is not None and not 0 <= config.pad_token_id < vocab:
        raise GenerationError(f"pad token id {config.pad_token_id} is outside the vocabulary [0, {vocab})",
                              key="pad_token_id")
