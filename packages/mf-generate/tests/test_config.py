import pytest

from mf_config import LlamaConfig
from mf_generate import GenerationConfig, GenerationError


def test_defaults_as_mindformers():
    c = GenerationConfig()
    assert (c.max_length, c.max_new_tokens, c.do_sample, c.top_k, c.top_p, c.eos_token_id) == (20, None, False, 50,
                                                                                                1.0, [])
    assert c.use_past  # every mf-models network has its cache


def test_from_model_config_takes_mindformers_keys():
    model = LlamaConfig(max_decode_length=77, top_k=3, top_p=0.8, do_sample=False, repetition_penalty=1.1,
                        eos_token_id=[2, 7], pad_token_id=0, use_past=False)
    c = GenerationConfig.from_model_config(model, top_k=9)
    assert (c.max_length, c.top_k, c.top_p, c.do_sample, c.repetition_penalty) == (77, 9, 0.8, False, 1.1)
    assert (c.eos_token_id, c.pad_token_id, c.use_past) == ([2, 7], 0, True)  # the cache stays on


def test_max_decode_length_alias_and_update():
    c = GenerationConfig(max_decode_length=30, eos_token_id=5, stop_strings="\n")
    assert (c.max_length, c.eos_token_id, c.stop_strings) == (30, [5], ["\n"])
    d = c.update(max_new_tokens=4, top_k=None)
    assert (d.max_new_tokens, d.top_k, c.max_new_tokens) == (4, 50, None)
    assert d.max_new_for(100) == 4 and c.max_new_for(25) == 5 and c.max_new_for(40) == 0


@pytest.mark.parametrize("kwargs, key", [
    ({"top_p": 0.0}, "top_p"), ({"top_p": 1.5}, "top_p"), ({"max_new_tokens": -1}, "max_new_tokens"),
    ({"temperature": 0}, "temperature"), ({"top_k": -2}, "top_k"), ({"eos_token_id": [1, -3]}, "eos_token_id"),
    ({"do_sample": "yes"}, "do_sample"), ({"max_new_tokens": 2.5}, "max_new_tokens"),
    ({"stop_strings": [""]}, "stop_strings"), ({"num_beams": 4}, "num_beams"),
])
def test_bad_values_name_the_key(kwargs, key):
    with pytest.raises(GenerationError) as e:
        GenerationConfig(**kwargs)
    assert e.value.key == key
