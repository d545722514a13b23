"""Our networks compute what `transformers` computes on the same weights, read from the Hugging Face folder
through the family's weight rules (as MindFormers' converters map them)."""

import numpy as np
import pytest

from mf_models import AutoModel

from .helpers import CONFIGS, FAMILIES, build
from .hf_oracle import compare, logits_of


@pytest.mark.parametrize("family", FAMILIES)
def test_logits_match_transformers(family, tmp_path):
    got, ids = compare(family, tmp_path)
    # AutoModel reads the Hugging Face folder itself: config.json through the family spec, weights through its rules
    loaded = AutoModel.from_pretrained(tmp_path / "hf")
    assert loaded.num_parameters() == build(family).num_parameters()
    np.testing.assert_array_equal(logits_of(loaded, ids), got)


def test_llama_pi_scaling_matches_transformers_linear_rope(tmp_path):
    compare("llama", tmp_path, dict(extend_method="PI", scaling_factor=2.0, theta=500000.0))


def test_llama_ntk_scaling_is_a_change_of_base(tmp_path):
    config = CONFIGS["llama"]()
    theta = config.theta * 4.0 ** (config.head_dim / (config.head_dim - 2))  # MindFormers' NTK: a new base
    compare("llama", tmp_path, dict(extend_method="NTK", scaling_factor=4.0),
            rope_parameters={"rope_type": "default", "rope_theta": theta}, rope_scaling=None)


def test_bloom_alibi_with_a_head_count_that_is_not_a_power_of_two(tmp_path):
    compare("bloom", tmp_path, dict(num_heads=6, hidden_size=48))
