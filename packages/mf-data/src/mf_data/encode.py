"""Turning texts into token records; an :class:`Encoder` is pickled once into each worker process.

A chunk of records comes back as ``(lengths, tokens, mask, stats)``: record lengths, their tokens
end to end (int32) and, for conversations, a uint8 mask of learned positions (1: answer or its EOS).
"""

import itertools

import numpy as np

from mf_data.wiki import article_text


def needs_space(tokenizer):
    """True when segments must keep their leading space to tokenize as in context (byte-level BPE).

    SentencePiece adds a dummy prefix to every segment, so ``"Hello" + "world"`` tokenizes like
    ``"Hello world"``; GPT-2-style tokenizers need ``"Hello" + " world"``.
    """
    enc = tokenizer(["Hello world", "Hello", "world"], add_special_tokens=False)["input_ids"]
    whole, hello, world = (list(x) for x in enc[:3])
    return whole != hello + world


class Encoder:
    """Encodes wiki articles (``bos? + text + eos``) or conversation rounds (masked prompts, learned answers)."""

    def __init__(self, tokenizer, ids, length):
        self.tokenizer = tokenizer
        self.ids = ids
        self.length = length
        self.space = needs_space(tokenizer)

    def wiki(self, raw):
        """Raw articles (see :func:`mf_data.wiki.raw_articles`) cleaned and tokenized as documents: the
        tokenizer's default special tokens (bos) plus EOS."""
        texts = [article_text(sections) for sections in raw]
        docs = self.tokenizer(texts, split_special_tokens=True, return_attention_mask=False)["input_ids"]
        lengths = np.fromiter((len(d) + 1 for d in docs), dtype=np.int64, count=len(docs))
        tokens = np.empty(int(lengths.sum()), dtype=np.int32)
        ends = np.cumsum(lengths)
        pos = 0
        for doc, end in zip(docs, ends):
            tokens[pos:end - 1] = doc
            tokens[end - 1] = self.ids.eos
            pos = end
        return lengths, tokens, None, {}

    def conversations(self, records):
        """Each record (a list of ``(prompt, answer)`` rounds) to tokens and a learned-position mask.

        Records longer than the record length are truncated (counted); those whose prompt alone fills
        the record are dropped (counted). Text is literal: special-token strings in it are not control tokens.
        """
        texts, counts = [], []
        for rounds in records:
            counts.append(len(rounds))
            for prompt, answer in rounds:
                texts.append(prompt)
                texts.append(" " + answer if self.space else answer)
        encoded = self.tokenizer(texts, add_special_tokens=False, split_special_tokens=True,
                                 return_attention_mask=False)["input_ids"]  # masks: unused work
        return conversation_records(encoded, np.asarray(counts, dtype=np.int64), self.ids.bos, self.ids.eos,
                                    self.length)


def _starts(lengths):
    """Where each of consecutive runs of ``lengths`` starts."""
    return np.cumsum(lengths) - lengths


def _runs(starts, lengths):
    """The indices ``starts[i] .. starts[i] + lengths[i] - 1`` of every run, end to end."""
    return np.repeat(starts - _starts(lengths), lengths) + np.arange(int(lengths.sum()))


def conversation_records(encoded, counts, bos, eos, length):
    """``(lengths, tokens, mask, stats)`` of records of ``counts[r]`` rounds, from ``encoded`` (prompt and answer
    ids of each round, in order): each record ``bos? + (prompt + answer + eos)...``, mask 1 on answers and their
    EOS, cut to ``length``; a record whose cut keeps no learned token is dropped."""
    seg = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    flat = np.fromiter(itertools.chain.from_iterable(encoded), dtype=np.int32, count=int(seg.sum()))
    prompt, answer = seg[0::2], seg[1::2]
    per_round = prompt + answer + 1  # with its eos
    head = 0 if bos is None else 1
    record_of_round = np.repeat(np.arange(len(counts)), counts)
    full = head + np.bincount(record_of_round, weights=per_round, minlength=len(counts)).astype(np.int64)
    # every record end to end, uncut: round j of record r starts after r + 1 heads and the rounds before it
    round_start = head * (record_of_round + 1) + _starts(per_round)
    dest = _runs(np.stack([round_start, round_start + prompt], axis=1).ravel(), seg)
    eos_at = round_start + per_round - 1
    tokens = np.empty(int(full.sum()), dtype=np.int32)
    tokens[dest] = flat
    tokens[eos_at] = eos
    mask = np.zeros(len(tokens), dtype=np.uint8)
    mask[dest[np.repeat(np.arange(len(seg)) % 2 == 1, seg)]] = 1
    mask[eos_at] = 1
    record_start = _starts(full)
    if head:
        tokens[record_start] = bos
    first_learned = np.full(len(counts), length)  # a record of no round learns nothing
    some = counts > 0
    first_learned[some] = head + prompt[_starts(counts)[some]]
    over = full > length
    keep = ~(over & (first_learned >= length))
    lengths = np.minimum(full, length)[keep]
    at = _runs(record_start[keep], lengths)
    stats = {"truncated": int((over & keep).sum()), "dropped": int((~keep).sum())}
    return lengths, tokens[at], mask[at], stats


_WORKER = {}


def init_worker(encoder, single_thread=False):
    """Pool initializer: keep the encoder (and its tokenizer) for every task of this process.

    ``single_thread``: one of several worker processes, so its tokenizer uses one thread.
    """
    if single_thread and hasattr(encoder.tokenizer, "num_threads"):
        encoder.tokenizer.num_threads = 1
    _WORKER["encoder"] = encoder


def run_chunk(task):
    """``(kind, items)`` -> the encoded chunk, in a worker process."""
    kind, items = task
    return getattr(_WORKER["encoder"], kind)(items)
