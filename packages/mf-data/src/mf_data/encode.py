"""Turning texts into token records; an :class:`Encoder` is pickled once into each worker process.

A chunk of records comes back as ``(lengths, tokens, mask, stats)``: record lengths, their tokens
end to end (int32) and, for conversations, a uint8 mask of learned positions (1: answer or its EOS).
"""

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
        texts = []
        for rounds in records:
            for prompt, answer in rounds:
                texts.append(prompt)
                texts.append(" " + answer if self.space else answer)
        encoded = iter(self.tokenizer(texts, add_special_tokens=False, split_special_tokens=True,
                                      return_attention_mask=False)["input_ids"])  # masks: unused work
        bos, eos = self.ids.bos, self.ids.eos
        lengths, tokens, masks = [], [], []
        truncated = dropped = 0
        for rounds in records:
            ids = [] if bos is None else [bos]
            mask = [0] * len(ids)
            for _ in rounds:
                prompt, answer = next(encoded), next(encoded)
                ids += prompt
                mask += [0] * len(prompt)
                ids += answer
                ids.append(eos)
                mask += [1] * (len(answer) + 1)
            if len(ids) > self.length:
                ids, mask = ids[:self.length], mask[:self.length]
                if 1 not in mask:
                    dropped += 1
                    continue
                truncated += 1
            lengths.append(len(ids))
            tokens += ids
            masks += mask
        lengths = np.asarray(lengths, dtype=np.int64)
        tokens = np.asarray(tokens, dtype=np.int32)
        mask = np.asarray(masks, dtype=np.uint8)
        return lengths, tokens, mask, {"truncated": truncated, "dropped": dropped}


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
