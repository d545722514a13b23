"""generate() on the memorised tiny Llama: batches against rows alone, the cache against recompute, stop
conditions, sampling, streaming; and every bad input refused before any compute."""

from types import SimpleNamespace

import numpy as np
import pytest

from mf_generate import GenerationConfig, GenerationError, TextStreamer, generate

from .helpers import SENTENCES


def encode(tokenizer, texts):
    return [tokenizer.encode(t) for t in texts]


def test_batch_equals_rows_alone_and_cache_equals_recompute(memorised):
    model, tok = memorised
    texts = [SENTENCES[0].rsplit(" ", 1)[0], "A tiny", SENTENCES[2].rsplit(" ", 2)[0], "Generation with a key"]
    prompts = encode(tok, texts)
    kwargs = dict(max_new_tokens=10, do_sample=False)
    batch = generate(model, prompts, use_past=True, **kwargs)
    assert batch == [generate(model, [p], use_past=True, **kwargs)[0] for p in prompts]
    assert batch == generate(model, prompts, use_past=False, **kwargs)
    ends = [row[-1] == tok.eos_token_id for row in batch]
    assert any(ends) and not all(ends)  # rows finished at different steps


def test_memorised_sentences_end_with_eos(memorised):
    model, tok = memorised
    out = generate(model, encode(tok, [s.split()[0] for s in SENTENCES]), max_new_tokens=60, do_sample=False,
                   use_past=True)
    assert [tok.decode(o, skip_special_tokens=True) for o in out] == SENTENCES
    assert all(o[-1] == tok.eos_token_id for o in out)


def test_padded_numpy_input_as_mindformers(memorised):
    model, tok = memorised
    prompts = encode(tok, ["The quick", "A tiny model can"])
    padded = np.zeros((2, 20), np.int64)
    for i, p in enumerate(prompts):
        padded[i, :len(p)] = p
    kwargs = dict(max_new_tokens=6, do_sample=False, pad_token_id=0)
    assert generate(model, padded, **kwargs) == generate(model, prompts, **kwargs)


def test_stop_strings_and_token_limits(memorised):
    model, tok = memorised
    prompt = tok.encode("The quick")
    out = generate(model, [prompt], max_new_tokens=50, do_sample=False, stop_strings=["jumps"], tokenizer=tok)[0]
    assert tok.decode(out, skip_special_tokens=True) == "The quick brown fox jumps"
    assert generate(model, [prompt], max_new_tokens=0)[0] == prompt
    assert len(generate(model, [prompt], max_new_tokens=3, do_sample=False)[0]) == len(prompt) + 3
    full = generate(model, [prompt], max_new_tokens=50, do_sample=False)[0]
    assert full[-1] == tok.eos_token_id
    longer = generate(model, [prompt], max_new_tokens=50, do_sample=False, min_new_tokens=len(full) - len(prompt) + 2)
    assert longer[0][:len(full) - 1] == full[:-1] and tok.eos_token_id not in longer[0][len(full) - 1:len(full) + 1]


def test_seeded_sampling_is_reproducible(memorised):
    model, tok = memorised
    prompt = [tok.encode("MindSpore runs")]
    kwargs = dict(max_new_tokens=20, do_sample=True, top_k=0, temperature=3.0, use_past=True)
    first = generate(model, prompt, seed=11, **kwargs)
    assert generate(model, prompt, seed=11, **kwargs) == first
    assert generate(model, prompt, seed=12, **kwargs) != first
    config = GenerationConfig(seed=11, max_length=64, **kwargs)
    assert generate(model, prompt, config) == first


def test_streamer_gets_the_generated_text(memorised):
    model, tok = memorised
    pieces = []

    class Collect(TextStreamer):
        def on_text(self, text, stream_end=False):
            pieces.append(text)

    out = generate(model, [tok.encode("A tiny")], max_new_tokens=30, do_sample=False,
                   streamer=Collect(tok, skip_prompt=True, skip_special_tokens=True))[0]
    assert "".join(pieces) == tok.decode(out[len(tok.encode("A tiny")):], skip_special_tokens=True)
    assert len(pieces) > 5


@pytest.mark.parametrize("inputs, kwargs, key", [
    ([[]], {}, "input_ids"),
    ([], {}, "input_ids"),
    ([list(range(1, 66))], {}, "input_ids"),             # longer than seq_length 64
    ([[1, 5, 400]], {}, "input_ids"),                     # id outside the vocabulary
    ([[1, 5]], {"max_new_tokens": -1}, "max_new_tokens"),
    ([[1, 5]], {"top_p": 0.0}, "top_p"),
    ([[1, 5]], {"top_p": 1.01}, "top_p"),
    ([[1, 5]], {"eos_token_id": [2, 4000]}, "eos_token_id"),
    ([[1, 5]], {"stop_strings": ["."]}, "stop_strings"),  # no tokenizer to match them
    ([[1, 5], [1, 6]], {"streamer": TextStreamer(None)}, "streamer"),
    ([[1, 5]], {"beams": 2}, "beams"),
])
def test_bad_input_is_refused_before_any_compute(memorised, inputs, kwargs, key):
    model = SimpleNamespace(config=memorised[0].config)  # any compute would fail on this stand-in
    with pytest.raises(GenerationError) as e:
        generate(model, inputs, **kwargs)
    assert e.value.key == key
