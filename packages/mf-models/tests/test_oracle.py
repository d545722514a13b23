"""Our networks compute what `transformers` computes on the same weights (renamed as MindFormers' converters do)."""

import mindspore as ms
import numpy as np
import pytest
import torch

from .helpers import CLASSES, CONFIGS
from .hf_oracle import hf_model, load_numpy, ours_from_hf


def compare(family, config):
    ms.set_context(mode=ms.PYNATIVE_MODE)
    hf = hf_model(family, config)
    ours = CLASSES[family](config)
    load_numpy(ours, ours_from_hf(family, hf, config))
    ours.set_train(False)
    ids = np.random.default_rng(1).integers(3, config.vocab_size, (2, 12)).astype(np.int64)
    with torch.no_grad():
        expected = hf(torch.from_numpy(ids)).logits.numpy()
    got = ours(ms.Tensor(ids.astype(np.int32))).asnumpy()
    assert got.shape == expected.shape == (2, 12, config.vocab_size)
    np.testing.assert_allclose(got, expected, atol=2e-4, rtol=1e-4)


@pytest.mark.parametrize("family", ["llama", "mixtral", "gpt2", "bloom"])
def test_logits_match_transformers(family):
    compare(family, CONFIGS[family]())


def test_llama_pi_scaling_matches_transformers_linear_rope():
    compare("llama", CONFIGS["llama"](extend_method="PI", scaling_factor=2.0, theta=500000.0))


def test_llama_ntk_scaling_is_a_change_of_base():
    compare("llama", CONFIGS["llama"](extend_method="NTK", scaling_factor=4.0))


def test_bloom_alibi_with_a_head_count_that_is_not_a_power_of_two():
    compare("bloom", CONFIGS["bloom"](num_heads=6, hidden_size=48))
