"""LoRA dropout: a stateless mask of (seed, layer, step, element), training only, and bitwise resume with it."""

import mindspore as ms
import numpy as np
import pytest
from mindspore import Parameter, Tensor, nn

from mf_train.lora import apply_lora, set_lora_step
from mf_train.lora_io import load_lora, save_lora
from mf_train.lora_layer import HashDropout, keep_mask

from .lora_support import (
    BATCH,
    build,
    logits,
    pynative_module,  # noqa: F401 (an autouse fixture)
    randomize_adapters,
    set_mode,
)


@pytest.fixture(autouse=True)
def pynative():
    set_mode(False)
    yield
    set_mode(False)


class Dropped(nn.Cell):
    def __init__(self, p, seed, layer):
        super().__init__()
        self.step = Parameter(Tensor(0, ms.int32), name="step", requires_grad=False)
        self.dropout = HashDropout(p, seed, layer, self.step)

    def construct(self, x):
        return self.dropout(x)


@pytest.mark.parametrize("graph", [False, True])
def test_mask_is_a_function_of_seed_layer_step_and_keeps_one_minus_p(graph):
    set_mode(graph)
    x = np.ones((64, 200), np.float32)
    cell = Dropped(0.1, seed=7, layer=3)
    masks = {}
    for step in (0, 1, 2, 0):
        cell.step.set_data(Tensor(step, ms.int32))
        out = cell(Tensor(x)).asnumpy()
        kept = out != 0
        assert np.allclose(out[kept], 1 / 0.9) and np.array_equal(kept, keep_mask(x.shape, 0.1, 7, 3, step))
        assert masks.setdefault(step, kept) is kept or np.array_equal(masks[step], kept)  # same step, same mask
        assert 0.88 < kept.mean() < 0.92
    assert 0.12 < (masks[0] != masks[1]).mean() < 0.24  # independent masks differ in ~2p(1-p) of the elements
    other_layer = keep_mask(x.shape, 0.1, 7, 4, 0)
    assert 0.12 < (masks[0] != other_layer).mean() < 0.24 and (masks[0] != keep_mask(x.shape, 0.1, 8, 3, 0)).any()


def test_dropout_acts_in_training_only():
    model = build("llama")
    apply_lora(model, {"target_modules": ".*wq|.*wv", "lora_dropout": 0.5})
    randomize_adapters(model)
    plain = build("llama")
    apply_lora(plain, {"target_modules": ".*wq|.*wv", "lora_dropout": 0.0})
    randomize_adapters(plain)
    assert np.array_equal(logits(model), logits(plain))  # inference: no dropout
    model.set_train(True)
    plain.set_train(True)
    ids = Tensor(BATCH)
    assert float(model(ids).asnumpy()) != float(plain(ids).asnumpy())


def _trainer(model):
    """``train(steps)``: SGD steps (no optimizer state to restore) on the batch; their losses."""
    step_cell = nn.TrainOneStepCell(model, nn.SGD(model.trainable_params(), learning_rate=0.5))
    step_cell.set_train(True)

    def train(steps):
        out = []
        for step in steps:
            set_lora_step(model, step)
            out.append(float(step_cell(Tensor(BATCH)).asnumpy()))
        return out

    return train


def test_resume_with_dropout_is_bitwise(tmp_path):
    set_mode(True)
    base = build("llama")
    base.save_pretrained(tmp_path / "base")
    pet = {"lora_rank": 4, "lora_alpha": 8, "lora_dropout": 0.3, "lora_a_init": "kaiming_uniform"}
    first = type(base).from_pretrained(tmp_path / "base")
    apply_lora(first, pet, seed=11)
    train = _trainer(first)
    full = train(range(3))
    save_lora(first, tmp_path / "at3")
    full += train(range(3, 6))
    resumed = type(base).from_pretrained(tmp_path / "base")
    load_lora(resumed, tmp_path / "at3")  # the saved dropout seed (11) comes back with it
    train = _trainer(resumed)
    assert train(range(3, 6)) == full[3:]
    load_lora(resumed, tmp_path / "at3")  # back to step 3's adapters, same compiled step
    assert train([3, 3, 3]) != full[3:]  # the step drives the masks: the test can fail
