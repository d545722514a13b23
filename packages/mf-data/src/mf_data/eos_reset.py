"""``eos_reset`` as MindFormers' ``CausalLanguageModelDataset`` does it, vectorized with numpy.

A batch of ``input_ids`` (``seq_length + 1`` tokens) gets ``position_id`` that restart at 0 after each
EOS and an ``attention_mask`` (``seq_length x seq_length``, causal) that keeps each document to itself.
"""

import numpy as np


def eos_reset_batch(input_ids: np.ndarray, eos_token_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(input_ids, position_id, attention_mask)`` of a batch, as int32 arrays."""
    input_ids = np.asarray(input_ids)
    batch, width = input_ids.shape
    length = width - 1
    is_eos = input_ids[:, :length] == eos_token_id
    pos = np.arange(length)
    last_eos = np.maximum.accumulate(np.where(is_eos, pos, -1), axis=1)
    start = np.concatenate([np.zeros((batch, 1), dtype=np.int64), last_eos[:, :-1] + 1], axis=1)
    position_id = (pos[None, :] - start).astype(np.int32)
    segment = np.cumsum(is_eos, axis=1) - is_eos
    causal = np.tril(np.ones((length, length), dtype=bool))
    attention_mask = (causal[None] & (segment[:, :, None] == segment[:, None, :])).astype(np.int32)
    return input_ids.astype(np.int32), position_id, attention_mask
