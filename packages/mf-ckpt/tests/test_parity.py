"""Converted folders load into mf-models' networks, whose logits equal transformers' (float32, < 1e-4)."""

import mindspore as ms
import numpy as np
import pytest

from mf_ckpt.store import open_checkpoint
from mf_config import load_model_config, param_shapes
from mf_models import AutoModel

from .hf_models import CASES, logits

IDS = np.array([[1, 5, 9, 17, 33, 2, 70, 4], [3, 3, 8, 60, 91, 12, 0, 44]])


@pytest.mark.parametrize("case", list(CASES))
def test_names_and_shapes_are_mf_models(case, converted):
    config = load_model_config(converted[case][0])
    infos = open_checkpoint(converted[case][0]).infos
    assert {n: tuple(i.shape) for n, i in infos.items()} == param_shapes(config)


@pytest.mark.parametrize("case", list(CASES))
def test_logits_equal_transformers(case, hf, converted):
    network = AutoModel.from_pretrained(converted[case][0])
    network.set_train(False)
    ours = network(ms.Tensor(IDS, ms.int32)).asnumpy()
    theirs = logits(hf[case][1], IDS)
    assert ours.shape == theirs.shape
    assert np.abs(ours - theirs).max() < 1e-4
