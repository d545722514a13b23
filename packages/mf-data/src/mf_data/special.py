"""Special token ids (bos, eos, pad, ignore) from the tokenizer or a MindFormers YAML, checked before work starts.

MindFormers' docs ask users to check by hand that the ids in ``model.model_config`` match the tokenizer
and that the pad id is not a token the model learns; here that is an error before any file is read.
"""

import dataclasses
from pathlib import Path

from mf_data.errors import DataError

IGNORE_TOKEN_ID = -100
_NAMES = ("bos_token_id", "eos_token_id", "pad_token_id")


@dataclasses.dataclass(frozen=True)
class SpecialIds:
    """The ids a preprocessing run uses."""

    bos: int | None
    eos: int
    pad: int | None
    ignore: int
    vocab_size: int


def vocab_size(tokenizer):
    """The number of ids of a tokenizer (``vocab_size`` or ``len``)."""
    size = getattr(tokenizer, "vocab_size", None)
    try:
        size = max(size or 0, len(tokenizer))
    except TypeError:
        pass
    if not size:
        raise DataError(f"cannot tell the vocabulary size of tokenizer {type(tokenizer).__name__}")
    return int(size)


def is_yaml(path):
    """True for a ``.yaml``/``.yml`` path."""
    return Path(str(path)).suffix in (".yaml", ".yml")


def _yaml_ids(path, overrides):
    """``{name: (value, dotted key)}`` of the special ids in a YAML's ``model.model_config``."""
    from mf_config import load_config

    cfg = load_config(path, overrides)
    model_config = (cfg.get("model") or {}).get("model_config") or {}
    out = {}
    for name in (*_NAMES, "ignore_token_id"):
        if model_config.get(name) is not None:
            out[name] = (model_config[name], f"model.model_config.{name}")
    return out


def resolve(tokenizer, tokenizer_source, ids_given, need_pad, overrides=()):
    """Special ids for a run, checked against each other and the vocabulary.

    ``ids_given`` maps ``bos_token_id``/``eos_token_id``/``pad_token_id``/``ignore_token_id`` to values
    given on the command line (None: not given). ``need_pad``: the run pads (qa/alpaca). ``overrides``
    (``"key=value"``) apply to a YAML source.
    """
    ids = {name: getattr(tokenizer, name, None) for name in _NAMES}
    ids["ignore_token_id"] = IGNORE_TOKEN_ID
    source = str(tokenizer_source)
    if is_yaml(source):
        for name, (value, key) in _yaml_ids(source, overrides).items():
            mine = ids.get(name) if name != "ignore_token_id" else None
            if mine is not None and int(mine) != int(value):
                raise DataError(f"is {value} but the tokenizer's {name[:-3]} has id {mine}; make them agree",
                                file=source, key=key)
            ids[name] = value
    for name, value in ids_given.items():
        if value is not None:
            ids[name] = value
    size = vocab_size(tokenizer)
    special = SpecialIds(ids["bos_token_id"], ids["eos_token_id"], ids["pad_token_id"], ids["ignore_token_id"],
                         size)
    _check(special, tokenizer, need_pad)
    return special


def _check(ids, tokenizer, need_pad):
    if ids.eos is None or not 0 <= ids.eos < ids.vocab_size:
        raise DataError(f"eos_token_id {ids.eos} is not in the vocabulary (0..{ids.vocab_size - 1}); "
                        "every document and answer ends with EOS")
    if ids.bos is not None and not 0 <= ids.bos < ids.vocab_size:
        raise DataError(f"bos_token_id {ids.bos} is not in the vocabulary (0..{ids.vocab_size - 1})")
    if ids.ignore >= 0:
        raise DataError(f"ignore_token_id {ids.ignore} must be negative so that it is never a real token id")
    if not need_pad:
        return
    if ids.pad is None:
        raise DataError("the tokenizer has no pad token; pass --pad_token_id (MindFormers' Llama uses 0, <unk>)")
    if not 0 <= ids.pad < ids.vocab_size:
        raise DataError(f"pad_token_id {ids.pad} is not in the vocabulary (0..{ids.vocab_size - 1})")
    if ids.pad == ids.eos:
        raise DataError(f"pad_token_id {ids.pad} equals eos_token_id, which ends every answer and is learned "
                        "as a label; pass a --pad_token_id the model never learns (e.g. <unk>)")
    if ids.pad == ids.bos:
        raise DataError(f"pad_token_id {ids.pad} equals bos_token_id; pass another --pad_token_id")
    special = getattr(tokenizer, "all_special_ids", None)
    unk = getattr(tokenizer, "unk_token_id", None)
    if special is not None and ids.pad not in set(special) | {unk}:
        raise DataError(f"pad_token_id {ids.pad} is an ordinary token that answers may contain and that would be "
                        "learned as a label; pass the id of a special or unknown token as --pad_token_id")
