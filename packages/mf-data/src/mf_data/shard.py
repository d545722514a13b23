"""What a data engine's worker runs for `preprocess`: tokenize one shard of chunks and write its part.

Imported on the workers of a Dask or Ray job, so it imports numpy, :mod:`mf_data.encode` and (when the
encoder is unpickled) the tokenizer's module of mf-tokenizers: no mindspore, no torch. A part is one ``.npz``
(``lengths`` int64, ``tokens`` int32, ``mask`` uint8), written under a temporary name and renamed, so a
retried task never leaves a half-written part.
"""

import os
import pickle
import sys

import numpy as np

HEAVY = ("mindspore", "torch", "transformers")
_ENCODERS = {}


def encoder_for(key, blob):
    """The pickled :class:`mf_data.encode.Encoder` of ``key``, unpickled once per worker process (one thread)."""
    if key not in _ENCODERS:
        encoder = pickle.loads(blob)  # the driver pickled it: this job's own object, not file content
        if hasattr(encoder.tokenizer, "num_threads"):
            encoder.tokenizer.num_threads = 1
        _ENCODERS.clear()
        _ENCODERS[key] = encoder
    return _ENCODERS[key]


def encode_shard(key, blob, kind, chunks, part_path):
    """Encode ``chunks`` (lists of wiki articles or conversations) in order and write them to ``part_path``.

    Returns the shard's counts (``records``, ``truncated``, ``dropped``) and the heavy frameworks this worker
    process has imported (``heavy_modules``: empty unless something pulled one in).
    """
    encoder = encoder_for(key, blob)
    results = [getattr(encoder, kind)(chunk) for chunk in chunks]
    lengths = np.concatenate([r[0] for r in results]) if results else np.zeros(0, np.int64)
    tokens = np.concatenate([r[1] for r in results]) if results else np.zeros(0, np.int32)
    masks = [r[2] for r in results if r[2] is not None]
    mask = np.concatenate(masks) if masks else np.zeros(0, np.uint8)
    tmp = f"{part_path}.tmp-{os.getpid()}.npz"
    np.savez(tmp, lengths=lengths, tokens=tokens, mask=mask)
    os.replace(tmp, part_path)
    stats = {"truncated": sum(r[3].get("truncated", 0) for r in results),
             "dropped": sum(r[3].get("dropped", 0) for r in results), "records": len(lengths),
             "heavy_modules": sorted(m for m in HEAVY if m in sys.modules)}
    return stats


def read_part(part_path, has_mask):
    """``(lengths, tokens, mask or None)`` of a written part (plain arrays: no pickle is loaded)."""
    with np.load(part_path, allow_pickle=False) as part:
        return part["lengths"], part["tokens"], part["mask"] if has_mask else None
