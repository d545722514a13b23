"""``mf-data inspect``: what a MindRecord or indexed dataset holds, with its first records decoded."""

import itertools

import numpy as np

from mf_data.errors import DataError
from mf_data.indexed import IndexedDataset, is_indexed
from mf_data.mindrecord import mindrecord_files
from mf_data.special import IGNORE_TOKEN_ID


def _indexed(path, show):
    data = IndexedDataset(path)
    h = data.header
    dtypes = {c: "int32" for c in data.columns}
    info = [f"format: mf-data indexed (tokens {h['dtype']}{', loss mask uint8' if h['loss_mask'] else ''}), "
            f"dataset_type {h.get('dataset_type')}, tokenizer {h.get('tokenizer')}"]
    records = [(data.document(i)[0], data.document(i)[1]) for i in range(min(show, len(data)))]
    return len(data), dtypes, data.lengths(), int(h["seq_length"]), records, info, h.get("tokenizer"), h


def _mindrecord(path, show):
    try:
        import mindspore.dataset as ds
    except ImportError:
        raise DataError("reading MindRecord needs MindSpore: pip install 'mf-data[mindspore]'", file=path) from None
    files = mindrecord_files(path)
    data = ds.MindDataset(files if len(files) > 1 else files[0], shuffle=False)
    columns = data.get_col_names()
    dtypes, lengths, records, width = {}, [], [], 0
    for i, row in enumerate(data.create_dict_iterator(output_numpy=True, num_epochs=1)):
        if not dtypes:
            dtypes = {c: str(row[c].dtype) for c in columns}
        ids = row["input_ids"]
        width = max(width, len(ids))
        n = _real_length(row)
        lengths.append(n)
        if i < show:
            mask = None if "labels" not in row else (row["labels"][:n] != IGNORE_TOKEN_ID).astype(np.uint8)
            records.append((ids[:n], mask))
    info = [f"format: MindRecord ({len(files)} file{'s' if len(files) > 1 else ''}: {', '.join(files)})"]
    return len(lengths), dtypes, np.asarray(lengths), width, records, info, None, {}


def _real_length(row):
    """Tokens before padding: from attention_mask, else up to the last learned label, else all."""
    if "attention_mask" in row:
        return int(row["attention_mask"].sum())
    if "labels" in row:
        learned = np.flatnonzero(row["labels"] != IGNORE_TOKEN_ID)
        return int(learned[-1]) + 1 if len(learned) else len(row["input_ids"])
    return len(row["input_ids"])


def inspect_lines(path, tokenizer=None, show=2):
    """Lines describing the dataset at ``path``."""
    reader = _indexed if is_indexed(path) else _mindrecord
    count, dtypes, lengths, width, records, info, named, header = reader(path, show)
    lines = [f"path: {path}", *info, f"records: {count}",
             "columns: " + ", ".join(f"{c} {t}" for c, t in dtypes.items()), f"record length: {width}"]
    if count:
        lines.append(f"tokens before padding: min {int(lengths.min())}, mean {float(lengths.mean()):.1f}, "
                     f"max {int(lengths.max())}, total {int(lengths.sum())}; full-length records "
                     f"{int((lengths >= width).sum())}")
    tok = _tokenizer(tokenizer, ()) if tokenizer else _tokenizer(named, header.get("tokenizer_overrides", ()))
    for i, (ids, mask) in enumerate(records):
        learned = "" if mask is None else f", {int(mask.sum())} learned"
        lines.append(f"record {i}: {len(ids)} tokens{learned}")
        lines.extend(_spans(ids, mask, tok, header))
    return lines


def _tokenizer(source, overrides):
    if source is None:
        return None
    from mf_tokenizers import AutoTokenizer

    kwargs = {"overrides": list(overrides)} if overrides else {}
    return AutoTokenizer.from_pretrained(str(source), **kwargs)


def _spans(ids, mask, tok, header):
    """One line per run of masked (prompt) or learned (answer) tokens, decoded when a tokenizer is known."""
    labels = {0: "masked ", 1: "learned"} if mask is not None else {1: "text   "}
    mask = np.ones(len(ids), dtype=np.uint8) if mask is None else mask
    out, pos = [], 0
    for learned, run in itertools.groupby(mask.tolist()):
        n = len(list(run))
        part = [int(t) for t in ids[pos:pos + n]]
        pos += n
        label = labels[learned]
        text = repr(tok.decode(part)) if tok is not None else " ".join(map(str, part))
        out.append(f"  {label} ({n:>4} tokens): {text}")
    return out
