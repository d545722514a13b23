"""Our processors against transformers' LogitsProcessors on the same scores and histories."""

import numpy as np
import pytest
import torch
from transformers.generation import logits_process as hf

from mf_generate import GenerationConfig
from mf_generate.logits import RepetitionPenalty, Sampler, SuppressEos, Temperature, TopK, TopP
from mf_generate.stopping import Row

V = 50


@pytest.fixture
def case():
    rng = np.random.default_rng(0)
    scores = (rng.standard_normal((3, V)) * 3).astype(np.float32)
    history = rng.integers(0, V, (3, 7))
    rows = [Row(list(h), 4, 10, min_new=5) for h in history]
    return scores, history, rows


def _hf(processor, scores, history):
    return processor(torch.tensor(history), torch.tensor(scores)).numpy()


@pytest.mark.parametrize("ours, theirs", [
    (RepetitionPenalty(1.3), hf.RepetitionPenaltyLogitsProcessor(1.3)),
    (RepetitionPenalty(0.7), hf.RepetitionPenaltyLogitsProcessor(0.7)),
    (Temperature(0.6), hf.TemperatureLogitsWarper(0.6)),
    (TopK(5), hf.TopKLogitsWarper(5)),
    (TopK(V + 10), hf.TopKLogitsWarper(V + 10)),
    (TopP(0.7), hf.TopPLogitsWarper(0.7)),
    (TopP(0.05), hf.TopPLogitsWarper(0.05)),
])
def test_processor_equals_transformers(case, ours, theirs):
    scores, history, rows = case
    np.testing.assert_allclose(ours(scores.copy(), rows), _hf(theirs, scores, history), rtol=1e-6)


def test_min_new_tokens_suppresses_eos_like_transformers(case):
    scores, history, rows = case  # prompts of 4, 3 generated: fewer than min_new=5
    theirs = hf.MinNewTokensLengthLogitsProcessor(prompt_length_to_skip=4, min_new_tokens=5, eos_token_id=[3, 9])
    np.testing.assert_array_equal(SuppressEos([3, 9])(scores.copy(), rows), _hf(theirs, scores, history))
    done = [Row(r.tokens, 1, 10, min_new=5) for r in rows]  # 6 generated: eos allowed again
    np.testing.assert_array_equal(SuppressEos([3, 9])(scores.copy(), done), scores)


def test_greedy_with_penalty_is_argmax_of_processed(case):
    scores, history, rows = case
    sampler = Sampler(GenerationConfig(repetition_penalty=2.0, top_k=1, do_sample=False))
    expected = _hf(hf.RepetitionPenaltyLogitsProcessor(2.0), scores, history).argmax(-1)
    np.testing.assert_array_equal(sampler(scores, rows), expected)


def test_seeded_sampling_is_reproducible_and_follows_the_distribution(case):
    scores, _, rows = case
    config = GenerationConfig(do_sample=True, top_k=0, temperature=2.0, seed=7)
    draws = np.stack([Sampler(config)(scores, rows) for _ in range(3)])
    assert (draws == draws[0]).all()
    sampler = Sampler(config)
    counts = np.bincount(np.concatenate([sampler(scores, rows)[:1] for _ in range(4000)]), minlength=V)
    probs = torch.softmax(torch.tensor(scores[0]) / 2.0, -1).numpy()
    assert np.abs(counts / 4000 - probs).max() < 0.03


def test_sampling_never_picks_filtered_tokens(case):
    scores, _, rows = case
    sampler = Sampler(GenerationConfig(do_sample=True, top_k=3, top_p=0.9, seed=1))
    allowed = np.argsort(-scores, -1)[:, :3]
    for _ in range(200):
        picks = sampler(scores, rows)
        assert all(p in a for p, a in zip(picks, allowed))
