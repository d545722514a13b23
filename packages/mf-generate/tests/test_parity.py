"""Greedy generation from weights converted from tiny random Hugging Face models equals transformers'
greedy ``generate`` token for token, with and without the KV cache, rows of a batch ending on their own."""

import pytest
import torch

from mf_generate import generate
from mf_generate.loading import load_pretrained

from .helpers import HF_CASES

PROMPTS = [[5, 17, 33, 2, 70, 4, 9], [61, 3], [8, 8, 90, 12, 40]]
NEW = 12


def transformers_greedy(model, prompt, eos, **kwargs):
    with torch.no_grad():
        out = model.generate(torch.tensor([prompt]), attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                             do_sample=False, max_new_tokens=NEW, eos_token_id=eos, pad_token_id=0, **kwargs)
    return out[0].tolist()


def early_eos(model):
    """A token that only one row generates, as eos: that row ends early, the others run to the limit."""
    rows = [transformers_greedy(model, p, eos=None)[len(p):] for p in PROMPTS]
    return next(t for row in rows for t in row if sum(t in r for r in rows) == 1)


@pytest.mark.slow
@pytest.mark.parametrize("case", list(HF_CASES))
def test_greedy_equals_transformers(case, hf_folders):
    folder, hf_model = hf_folders[case]
    model, _ = load_pretrained(folder)
    eos = early_eos(hf_model)
    kwargs = dict(max_new_tokens=NEW, do_sample=False, eos_token_id=eos, pad_token_id=0)
    expected = [transformers_greedy(hf_model, p, eos) for p in PROMPTS]
    assert sorted(len(e) - len(p) for e, p in zip(expected, PROMPTS))[0] < NEW
    assert generate(model, PROMPTS, use_past=True, **kwargs) == expected
    assert generate(model, PROMPTS, use_past=False, **kwargs) == expected
    expected = [transformers_greedy(hf_model, p, eos, repetition_penalty=1.5) for p in PROMPTS]
    assert generate(model, PROMPTS, use_past=True, repetition_penalty=1.5, **kwargs) == expected
