"""Consistency checks of tokenizer files, before a library loads them: what ``sentencepiece`` and ``tokenizers``
accept silently (flipped bytes in a model file, two tokens on one id, ids shifted, merges that make no token of
the vocabulary) is an error naming the file and the token.

A SentencePiece model is a protobuf ``ModelProto``: it must parse, hold no field a model or a piece does not
have (a flipped tag byte makes one; protobuf keeps it silently, and an unknown piece type too), and its pieces must
be valid UTF-8, unique, with finite scores. A byte flipped inside a piece's text or score can still make a valid
model: no check short of a checksum finds every flip.
"""

import math

from mf_tokenizers.errors import TokenizerError

_BPE, _NORMAL = 2, 1  # TrainerSpec.ModelType.BPE, SentencePiece.Type.NORMAL
_SPECS = ("trainer_spec", "normalizer_spec", "self_test_data", "denormalizer_spec")


def _field_bytes(size):
    """Bytes a length-delimited field of ``size`` bytes takes in its parent (a one-byte tag)."""
    n = 1
    while size >= 0x80:
        size >>= 7
        n += 1
    return 1 + n + size


def check_sentencepiece_model(data, path):
    """TokenizerError unless ``data`` is a well-formed ModelProto (protobuf) with unique pieces of valid UTF-8
    and finite scores, and no field a model does not have (the specs may hold fields of newer versions)."""
    from sentencepiece import sentencepiece_model_pb2

    def fail(what):
        return TokenizerError(f"not a SentencePiece model: {what} (damaged or truncated)", file=path)

    try:
        model = sentencepiece_model_pb2.ModelProto.FromString(data)
    except Exception as e:  # noqa: BLE001 - protobuf's DecodeError, or a RuntimeError of its C parser
        raise fail(f"protobuf: {str(e)[:80]}") from None
    fields = model.DESCRIPTOR.fields_by_name
    specs = [getattr(model, name) for name in _SPECS if name in fields and model.HasField(name)]
    before = model.ByteSize() - sum(_field_bytes(spec.ByteSize()) for spec in specs)
    model.DiscardUnknownFields()
    after = model.ByteSize() - sum(_field_bytes(spec.ByteSize()) for spec in specs)
    if before != after:
        raise fail(f"{before - after} bytes of fields a model or a piece does not have")
    texts = [p.piece for p in model.pieces]
    if not texts:
        raise fail("no pieces")
    bad = next((i for i, t in enumerate(texts) if not isinstance(t, str) or not t), None)
    if bad is not None:
        raise fail(f"piece {bad} is {'empty' if not texts[bad] else 'not UTF-8'}")
    if len(set(texts)) != len(texts):
        seen = set()
        dup = next(t for t in texts if t in seen or seen.add(t))
        raise fail(f"piece {dup!r} appears twice")
    scores = [p.score for p in model.pieces]
    if not all(map(math.isfinite, scores)):
        i = next(i for i, x in enumerate(scores) if not math.isfinite(x))
        raise fail(f"score {scores[i]} of piece {texts[i]!r}")
    if model.trainer_spec.model_type == _BPE:
        _check_bpe_pieces(model, texts, fail)
    return len(texts)


def _check_bpe_pieces(model, texts, fail):
    """In a BPE model each normal piece of two or more characters is a merge of two other pieces."""
    vocab, types = set(texts), [p.type for p in model.pieces]
    for i, t in enumerate(texts):
        if len(t) > 1 and types[i] == _NORMAL:
            for j in range(1, len(t)):
                if t[:j] in vocab and t[j:] in vocab:
                    break
            else:
                raise fail(f"piece {t!r} (id {i}) is not a merge of two other pieces, as every piece of a BPE "
                           "model is")


def check_ids(vocab, path, what="vocab"):
    """``{token: id}``: ids are integers, each on one token, running 0..n-1."""
    seen = {}
    for token, i in vocab.items():
        if not isinstance(i, int) or isinstance(i, bool) or i < 0:
            raise TokenizerError(f"id {i!r} of {what} token {token!r} is not a non-negative integer", file=path)
        if i in seen:
            raise TokenizerError(f"tokens {seen[i]!r} and {token!r} share id {i}", file=path, key=what)
        seen[i] = token
    if seen and (min(seen) != 0 or max(seen) != len(seen) - 1):
        raise TokenizerError(f"{what} ids run from {min(seen)} to {max(seen)} over {len(seen)} tokens; expected "
                             f"0..{len(seen) - 1} (ids shifted or missing)", file=path, key=what)


def check_byte_alphabet(vocab, path):
    """A byte-level BPE vocabulary holds the character of each of the 256 bytes (else some text has no tokens)."""
    from mf_tokenizers.byte_level import bytes_to_unicode

    missing = [c for c in bytes_to_unicode().values() if c not in vocab]
    if missing:
        raise TokenizerError(f"lacks the byte-level characters of {len(missing)} of the 256 bytes (such as "
                             f"{missing[0]!r}); a byte-level BPE vocabulary has all of them", file=path)


def check_tokenizer_json(data, path):
    """A ``tokenizer.json`` (parsed): its model's vocabulary ids (unique, 0..n-1), merges that make vocabulary
    tokens, and added tokens that do not share an id with another token."""
    if not isinstance(data, dict) or not isinstance(data.get("model"), dict):
        raise TokenizerError("expected a JSON object with a 'model'", file=path)
    model = data["model"]
    vocab = model.get("vocab")
    for key, value in (("model.merges", model.get("merges")), ("added_tokens", data.get("added_tokens"))):
        if value is not None and not isinstance(value, list):
            raise TokenizerError(f"{str(value)[:40]!r} is not a list", file=path, key=key)
    if isinstance(vocab, dict):
        check_ids(vocab, path, "model.vocab")
        for k, merge in enumerate(model.get("merges") or []):
            parts = merge.split(" ") if isinstance(merge, str) else merge
            if not (isinstance(parts, list) and len(parts) == 2 and all(isinstance(p, str) for p in parts)
                    and parts[0] + parts[1] in vocab and parts[0] in vocab and parts[1] in vocab):
                raise TokenizerError(f"merge {k} {merge!r} does not join two vocabulary tokens into a third",
                                     file=path, key="model.merges")
    elif isinstance(vocab, list):  # Unigram: [[piece, score], ...]
        pieces = set()
        for i, item in enumerate(vocab):
            if (not isinstance(item, list) or len(item) != 2 or not isinstance(item[0], str)
                    or not isinstance(item[1], (int, float)) or not math.isfinite(item[1]) or item[0] in pieces):
                raise TokenizerError(f"entry {i} {str(item)[:40]!r} is not a new [piece, finite score]", file=path,
                                     key="model.vocab")
            pieces.add(item[0])
    _check_added(data.get("added_tokens") or [], vocab, path)


def _check_added(added, vocab, path):
    by_id = {i: t for t, i in vocab.items()} if isinstance(vocab, dict) else {}
    seen = {}
    for entry in added:
        if not isinstance(entry, dict) or not isinstance(entry.get("content"), str) or not isinstance(
                entry.get("id"), int):
            raise TokenizerError(f"added token {str(entry)[:60]!r} needs 'id' and 'content'", file=path,
                                 key="added_tokens")
        i, text = entry["id"], entry["content"]
        if i in seen or (i in by_id and by_id[i] != text):
            raise TokenizerError(f"added token {text!r} has id {i}, which is {seen.get(i, by_id.get(i))!r}'s",
                                 file=path, key="added_tokens")
        seen[i] = text
