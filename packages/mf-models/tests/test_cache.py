"""Prefill plus single-token decode steps reproduce the full forward, for mixed prompt lengths, in graph mode."""

import mindspore as ms
import numpy as np
import pytest

from .helpers import FAMILIES, build

LENGTHS = [5, 3, 7]
STEPS = 4
# MindSpore keys compiled graphs partly by id(cell): a new cell at a dead one's address may compile twice, so the
# models of this module stay alive until it ends
_ALIVE = []


def padded(prompts, width, left):
    ids = np.zeros((len(prompts), width), np.int32)
    for r, p in enumerate(prompts):
        if left:
            ids[r, width - len(p):] = p
        else:
            ids[r, :len(p)] = p
    return ids


@pytest.mark.parametrize("family", FAMILIES)
def test_prefill_and_decode_equal_full_forward(family):
    model = build(family, initializer_range=0.2)
    _ALIVE.append(model)
    model.set_train(False)
    rng = np.random.default_rng(0)
    prompts = [rng.integers(3, 97, n) for n in LENGTHS]
    width = max(LENGTHS)
    for left in (False, True):
        new = rng.integers(3, 97, (len(prompts), STEPS))
        ms.set_context(mode=ms.GRAPH_MODE)
        prefill = model.prefill(padded(prompts, width, left), LENGTHS, left_padding=left, max_length=16).asnumpy()
        steps = [model.decode(new[:, i]).asnumpy() for i in range(STEPS)]
        # last_only: the head runs on each row's last prompt token alone; same logits as that column
        last = model.prefill(padded(prompts, width, left), LENGTHS, left_padding=left, max_length=16,
                             last_only=True).asnumpy()
        columns = model.kv_cache.last_index
        assert last.shape == (len(prompts), 1, prefill.shape[-1])
        assert np.abs(last[:, 0] - prefill[np.arange(len(prompts)), columns]).max() < 1e-5
        ms.set_context(mode=ms.PYNATIVE_MODE)
        for r, p in enumerate(prompts):
            full = model(ms.Tensor(np.concatenate([p, new[r]]).astype(np.int32)[None])).asnumpy()[0]
            got = np.concatenate([prefill[r, width - len(p):] if left else prefill[r, :len(p)]]
                                 + [s[r] for s in steps])
            assert got.shape == full.shape
            assert np.abs(got - full).max() < 1e-4
    # one graph per kind (prefill, decode, prefill of the last tokens) for both generations and all their steps
    graphs = model.decode_sessions.graphs()
    assert sorted(kind for kind, _, _ in graphs) == ["decode", "prefill", "prefill_last"]
    assert [len(g.compile_cache) for g in graphs.values()] == [1, 1, 1]


def test_decode_state_and_errors(family_models):
    ms.set_context(mode=ms.PYNATIVE_MODE)
    model = family_models["llama"]
    model.set_train(False)
    model.prefill([[5, 6, 7, 0], [5, 6, 0, 0]], [3, 2], max_length=6)
    assert model.kv_cache.next_slot.tolist() == [3, 2] and model.kv_cache.last_index.tolist() == [2, 1]
    model.decode([[8], [8]])
    assert model.kv_cache.next_slot.tolist() == [4, 3]
    model.decode([[9], [9]], slots=[5, 5])
    with pytest.raises(Exception, match="cache is full"):
        model.decode([[9], [9]])
    with pytest.raises(Exception, match="valid_length"):
        model.prefill([[5, 6]], [3])
    model.reset_cache()
    assert model.kv_cache.next_slot.tolist() == [0, 0]
    assert float(np.abs(model.kv_cache.tensors[0].asnumpy()).max()) == 0.0
