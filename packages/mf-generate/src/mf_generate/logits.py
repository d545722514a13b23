"""Logits processors on the host (numpy, float32 rows of the last position), defined as Hugging Face's
``LogitsProcessor``/``LogitsWarper`` classes and MindFormers' copies of them.

Each processor is called as ``scores = p(scores, rows)`` with ``scores`` (batch, vocab) and ``rows`` the
per-row state (``tokens``: the row's ids so far, prompt included; ``new``: how many it generated).
"""

import numpy as np

NEG_INF = -np.inf


class RepetitionPenalty:
    """CTRL's penalty: a seen token's logit is divided by ``penalty`` when positive, multiplied when negative."""

    def __init__(self, penalty):
        self.penalty = float(penalty)

    def __call__(self, scores, rows):
        for i, row in enumerate(rows):
            seen = np.unique(np.asarray(row.tokens, np.int64))
            picked = scores[i, seen]
            scores[i, seen] = np.where(picked < 0, picked * self.penalty, picked / self.penalty)
        return scores


class SuppressEos:
    """No eos token before a row has generated ``min_new`` tokens (HF's MinNewTokensLengthLogitsProcessor)."""

    def __init__(self, eos_ids):
        self.eos_ids = np.asarray(eos_ids, np.int64)

    def __call__(self, scores, rows):
        for i, row in enumerate(rows):
            if row.new < row.min_new:
                scores[i, self.eos_ids] = NEG_INF
        return scores


class Temperature:
    """Scores divided by ``temperature``."""

    def __init__(self, temperature):
        self.temperature = float(temperature)

    def __call__(self, scores, rows):
        return scores / np.float32(self.temperature)


class TopK:
    """Keep the ``top_k`` largest scores of each row (ties with the k-th kept), the rest -inf."""

    def __init__(self, top_k, min_tokens_to_keep=1):
        self.top_k = max(int(top_k), min_tokens_to_keep)

    def __call__(self, scores, rows):
        k = min(self.top_k, scores.shape[-1])
        kth = np.partition(scores, -k, axis=-1)[:, -k:].min(axis=-1, keepdims=True)
        return np.where(scores < kth, NEG_INF, scores).astype(scores.dtype)


class TopP:
    """Nucleus filtering: keep the smallest set of most likely tokens whose probability reaches ``top_p``."""

    def __init__(self, top_p, min_tokens_to_keep=1):
        self.top_p = float(top_p)
        self.min_tokens_to_keep = min_tokens_to_keep

    def __call__(self, scores, rows):
        order = np.argsort(scores, axis=-1, kind="stable")            # ascending, as HF sorts
        ordered = np.take_along_axis(scores, order, -1)
        cumulative = np.cumsum(softmax(ordered), axis=-1)
        drop = cumulative <= (1 - self.top_p)
        drop[:, -self.min_tokens_to_keep:] = False
        mask = np.zeros_like(drop)
        np.put_along_axis(mask, order, drop, -1)
        return np.where(mask, NEG_INF, scores).astype(scores.dtype)


def softmax(scores):
    """Row softmax in float32 (rows of -inf except at least one finite value)."""
    shifted = scores - scores.max(axis=-1, keepdims=True)
    e = np.exp(shifted, dtype=np.float32)
    return e / e.sum(axis=-1, keepdims=True)


def build_processors(config):
    """The processors a GenerationConfig asks for, in Hugging Face's order: repetition penalty and the eos
    suppression of ``min_new_tokens`` always; temperature, top-k and top-p only when sampling."""
    processors = []
    if config.repetition_penalty != 1.0:
        processors.append(RepetitionPenalty(config.repetition_penalty))
    if config.eos_token_id and (config.min_new_tokens or config.min_length):
        processors.append(SuppressEos(config.eos_token_id))
    if config.do_sample:
        if config.temperature != 1.0:
            processors.append(Temperature(config.temperature))
        if config.top_k:
            processors.append(TopK(config.top_k))
        if config.top_p < 1.0:
            processors.append(TopP(config.top_p))
    return processors


class Sampler:
    """Chooses the next token of each row: argmax (greedy) or a draw from the softmax, from a numpy
    ``Generator`` seeded with ``seed`` (reproducible; ``None`` draws fresh entropy)."""

    def __init__(self, config):
        self.processors = build_processors(config)
        self.do_sample = config.do_sample
        self.rng = np.random.default_rng(config.seed)

    def __call__(self, logits, rows):
        scores = np.array(logits, dtype=np.float32, copy=True)
        for p in self.processors:
            scores = p(scores, rows)
        if not self.do_sample:
            return scores.argmax(axis=-1)
        probs = softmax(scores).astype(np.float64)
        cdf = np.cumsum(probs, axis=-1)
        u = self.rng.random(len(rows)) * cdf[:, -1]
        picks = (cdf <= u[:, None]).sum(axis=-1)
        return np.minimum(picks, scores.shape[-1] - 1)
