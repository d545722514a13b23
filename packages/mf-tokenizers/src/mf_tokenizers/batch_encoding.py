"""``BatchEncoding`` (what ``tok(...)`` returns) and the truncation/padding rules it is built with."""

from mf_tokenizers.errors import TokenizerError

TRUNCATION_STRATEGIES = ("longest_first", "only_first", "only_second")


class BatchEncoding(dict):
    """A dict of ``input_ids`` (and ``attention_mask``); keys are also attributes."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __reduce__(self):
        return (BatchEncoding, (dict(self),))


def truncation_strategy(truncation, max_length):
    """The strategy name for ``truncation`` (True, False, None or a name), or None for none.

    As in Hugging Face, ``truncation=None`` with a ``max_length`` truncates ``longest_first``.
    """
    if truncation is None:
        return "longest_first" if max_length is not None else None
    if truncation is False or truncation == "do_not_truncate":
        return None
    if truncation is True:
        return "longest_first"
    if truncation not in TRUNCATION_STRATEGIES:
        raise TokenizerError(f"unknown truncation '{truncation}'; expected True, False or one of "
                             f"{', '.join(TRUNCATION_STRATEGIES)}", key="truncation")
    return truncation


def side(value, key):
    """'left' or 'right' from ``value`` (MindFormers' ``truncate_direction`` 'LEFT'/'RIGHT' too)."""
    value = str(value).lower()
    if value not in ("left", "right"):
        raise TokenizerError(f"expected 'left' or 'right', got '{value}'", key=key)
    return value


def _cut(ids, n, where):
    if n <= 0:
        return ids
    return ids[n:] if where == "left" else ids[:len(ids) - n]


def truncate_pair(ids, pair_ids, limit, strategy, where):
    """Cut ``ids`` (and ``pair_ids``) so that together they hold at most ``limit`` tokens."""
    if limit < 0:
        raise TokenizerError(f"max_length is shorter than the {-limit} special tokens added", key="max_length")
    total = len(ids) + (len(pair_ids) if pair_ids is not None else 0)
    excess = total - limit
    if excess <= 0:
        return ids, pair_ids
    if pair_ids is None or strategy == "only_first":
        if excess > len(ids):
            raise TokenizerError(f"cannot truncate the first sequence by {excess} tokens (it has {len(ids)})",
                                 key="truncation")
        return _cut(ids, excess, where), pair_ids
    if strategy == "only_second":
        if excess > len(pair_ids):
            raise TokenizerError(f"cannot truncate the second sequence by {excess} tokens (it has "
                                 f"{len(pair_ids)})", key="truncation")
        return ids, _cut(pair_ids, excess, where)
    # longest_first: take one token at a time from the longer one (the first one on ties)
    a, b = len(ids), len(pair_ids)
    for _ in range(excess):
        if a >= b:
            a -= 1
        else:
            b -= 1
    return _cut(ids, len(ids) - a, where), _cut(pair_ids, len(pair_ids) - b, where)


def pad(sequences, padding, max_length, pad_id, where, multiple_of=None, with_mask=True):
    """Pad lists of ids to a common length; returns (ids, attention_mask or None)."""
    masks = list(map([1].__mul__, map(len, sequences))) if with_mask else None
    if padding in (False, None, "do_not_pad"):
        return sequences, masks
    if padding is True or padding == "longest":
        target = max((len(s) for s in sequences), default=0)
    elif padding == "max_length":
        if max_length is None:
            raise TokenizerError("padding='max_length' needs max_length (or the tokenizer's model_max_length)",
                                 key="max_length")
        target = max_length
    else:
        raise TokenizerError(f"unknown padding '{padding}'; expected True, False, 'longest' or 'max_length'",
                             key="padding")
    if multiple_of:
        target = -(-target // multiple_of) * multiple_of
    if any(len(s) < target for s in sequences) and pad_id is None:
        raise TokenizerError("padding needs a pad token; set pad_token (for example to the eos token)",
                             key="pad_token")
    out, out_masks = [], []
    for i, s in enumerate(sequences):
        n = target - len(s)
        if n <= 0:
            out.append(s)
            if with_mask:
                out_masks.append(masks[i])
            continue
        fill = [pad_id] * n
        out.append(fill + s if where == "left" else s + fill)
        if with_mask:
            out_masks.append([0] * n + masks[i] if where == "left" else masks[i] + [0] * n)
    return out, (out_masks if with_mask else None)


def pack(ids, single, padding, max_length, pad_id, padding_side, with_mask, return_tensors, multiple_of):
    """The :class:`BatchEncoding` of encoded ``ids``: padded, with attention masks (``with_mask``), as numpy
    arrays (``return_tensors="np"``), and unwrapped for a ``single`` text without arrays."""
    ids, masks = pad(ids, padding, max_length, pad_id, padding_side, multiple_of, with_mask)
    out = BatchEncoding(input_ids=ids)
    if with_mask:
        out["attention_mask"] = masks
    if return_tensors is not None:
        if return_tensors != "np":
            raise TokenizerError(f"return_tensors '{return_tensors}' is not supported; use 'np' or None "
                                 "(convert with mindspore.Tensor(array) where needed)", key="return_tensors")
        import numpy as np  # not at import: `import mf_tokenizers` stays light

        if len({len(s) for s in ids}) > 1:
            raise TokenizerError("sequences differ in length; use padding=True to return arrays", key="padding")
        for key in out:
            out[key] = np.asarray(out[key], dtype=np.int64)
    if single and return_tensors is None:
        for key in out:
            out[key] = out[key][0]
    return out
