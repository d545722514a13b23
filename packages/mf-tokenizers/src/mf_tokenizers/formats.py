"""Converters between vocabulary formats (no tokenizer class), each checked against the source library in the
tests:

- tiktoken ranks -> byte-level BPE ``vocab.json`` + ``merges.txt`` (the merges follow from the ranks),
- tiktoken ranks + split pattern + special tokens -> ``tokenizer.json``,
- a SentencePiece BPE model -> ``tokenizer.json`` (Llama 2 / Mistral layout, byte fallback).
"""

from mf_tokenizers.byte_level import token_to_str
from mf_tokenizers.errors import TokenizerError
from mf_tokenizers.vocab_files import (
    is_tiktoken_file,
    load_sentencepiece,
    read_merges,
    read_tiktoken_ranks,
    read_vocab_json,
)


def _bpe_parts(ranks, token, max_rank):
    """Split ``token`` by byte-pair merges that use only ranks below ``max_rank``."""
    parts = [token[i:i + 1] for i in range(len(token))]
    while len(parts) > 1:
        best, best_rank = None, max_rank
        for i in range(len(parts) - 1):
            rank = ranks.get(parts[i] + parts[i + 1])
            if rank is not None and rank < best_rank:
                best, best_rank = i, rank
        if best is None:
            break
        parts[best:best + 2] = [parts[best] + parts[best + 1]]
    return parts


def tiktoken_merges(ranks):
    """``[(left bytes, right bytes), ...]`` in rank order: the merge that makes each multi-byte token."""
    merges = []
    for token, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
        if len(token) == 1:
            continue
        parts = _bpe_parts(ranks, token, rank)
        if len(parts) != 2:
            raise TokenizerError(f"token {token!r} (rank {rank}) is not the merge of two lower-ranked tokens; "
                                 "these ranks cannot be written as merges")
        merges.append((parts[0], parts[1]))
    return merges


def tiktoken_to_vocab_merges(ranks):
    """(``vocab.json`` dict, ``merges`` list of string pairs) for tiktoken ``ranks``."""
    vocab = {token_to_str(token): rank for token, rank in ranks.items()}
    merges = [(token_to_str(a), token_to_str(b)) for a, b in tiktoken_merges(ranks)]
    return vocab, merges


def vocab_and_merges(vocab_file, merges_file):
    """(vocab, merges, from_tiktoken): from vocab.json + merges.txt, or from a tiktoken ranks file."""
    if merges_file is None and vocab_file is not None and is_tiktoken_file(vocab_file):
        return (*tiktoken_to_vocab_merges(read_tiktoken_ranks(vocab_file)), True)
    vocab = read_vocab_json(vocab_file)
    return vocab, read_merges(merges_file, vocab), False


def byte_level_bpe(vocab, merges, pattern, special_tokens=None, ignore_merges=False):
    """A ``tokenizers.Tokenizer``: ``pattern`` split, byte-level alphabet, BPE with ``merges``.

    ``ignore_merges``: a piece that is in the vocabulary whole is one token (tiktoken's rule).
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

    tok = Tokenizer(models.BPE(vocab, merges, ignore_merges=ignore_merges))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    specials = sorted((special_tokens or {}).items(), key=lambda kv: kv[1])
    for name, idx in specials:
        if idx != tok.get_vocab_size(with_added_tokens=True) and tok.token_to_id(name) != idx:
            raise TokenizerError(f"special token {name} has id {idx}; expected the next free id "
                                 f"{tok.get_vocab_size(with_added_tokens=True)}")
        tok.add_special_tokens([AddedToken(name, special=True, normalized=False)])
    return tok


def tiktoken_to_tokenizer(ranks, pattern, special_tokens=None):
    """A ``tokenizers.Tokenizer`` that encodes as tiktoken does with ``ranks``, ``pattern`` and
    ``special_tokens`` (``{text: id}``)."""
    vocab, merges = tiktoken_to_vocab_merges(ranks)
    return byte_level_bpe(vocab, merges, pattern, special_tokens, ignore_merges=True)


def _sentencepiece_proto(model):
    """The ModelProto of a SentencePiece model file, or of its serialized bytes."""
    from sentencepiece import sentencepiece_model_pb2

    if not isinstance(model, bytes):
        model = load_sentencepiece(model).serialized_model_proto()  # a clear error for a missing or bad file
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(model)
    return proto


def sentencepiece_to_tokenizer(model, legacy=True):
    """A ``tokenizers.Tokenizer`` equal to a SentencePiece BPE model (a file, or its serialized bytes;
    Llama 2 / Mistral layout).

    ``legacy``: text after a special token gets its own dummy-prefix space (as in LlamaTokenizer).
    """
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    proto = _sentencepiece_proto(model)
    where = None if isinstance(model, bytes) else model
    spec, norm = proto.trainer_spec, proto.normalizer_spec
    if spec.model_type != 2:  # BPE
        raise TokenizerError("only SentencePiece BPE models convert to tokenizer.json", file=where)
    if norm.remove_extra_whitespaces or norm.precompiled_charsmap or spec.treat_whitespace_as_suffix:
        raise TokenizerError("SentencePiece normalization (remove_extra_whitespaces, a charsmap or whitespace as "
                             "suffix) is not converted; expected the Llama 2 / Mistral layout", file=where)
    pieces = [(p.piece, p.score) for p in proto.pieces]
    vocab = {piece: i for i, (piece, _) in enumerate(pieces)}
    merges = []
    for piece, score in pieces:
        local = [(piece[:i], piece[i:], score) for i in range(1, len(piece))
                 if piece[:i] in vocab and piece[i:] in vocab]
        merges += sorted(local, key=lambda m: (vocab[m[0]], vocab[m[1]]))
    merges.sort(key=lambda m: m[2], reverse=True)
    tok = Tokenizer(models.BPE(vocab, [(a, b) for a, b, _ in merges], unk_token=spec.unk_piece, fuse_unk=True,
                               byte_fallback=spec.byte_fallback))
    if legacy:
        steps = [normalizers.Replace(" ", "▁")]
        if norm.add_dummy_prefix:
            steps.insert(0, normalizers.Prepend("▁"))
        tok.normalizer = normalizers.Sequence(steps)
    else:
        scheme = "first" if norm.add_dummy_prefix else "never"
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme=scheme, split=False)
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(content=" ", left=1 if norm.add_dummy_prefix else 0, right=0)])
    control = [p.piece for p in proto.pieces if p.type in (2, 3)]  # UNKNOWN, CONTROL
    user = [p.piece for p in proto.pieces if p.type == 4]  # USER_DEFINED
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in control])
    # as Hugging Face converts them: the text after a user-defined piece gets its own dummy prefix in
    # legacy mode, where SentencePiece gives it none
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in user])
    bos = proto.trainer_spec.bos_piece
    if tok.token_to_id(bos) is not None:  # Hugging Face's default for Llama: bos before each sequence
        tok.post_processor = processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A {bos} $B",
                                                           special_tokens=[(bos, tok.token_to_id(bos))])
    return tok
