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


@pytest.fixture
def one_core(monkeypatch):
    """As if this process ran on one core, without slowing the other tests of this process."""
    monkeypatch.setattr("mf_models.modeling.usable_cores", lambda: 1)


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_decode_applies_a_float32_head_on_the_host_with_the_current_weights(family, one_core):
    """On one core the decode graph and a ``last_only`` prefill stop at the hidden state and numpy
    applies the head (``CausalLM.host_head``); a table changed between generations is the one the next uses."""
    model = build(family, initializer_range=0.2)
    _ALIVE.append(model)
    model.set_train(False)
    ms.set_context(mode=ms.GRAPH_MODE)
    table = model.host_head()
    assert table is model.head_weight() is not None
    ids = np.array([[5, 6, 7, 9]], np.int32)

    def last_logits():
        first = model.prefill(ids[:, :3], max_length=8, last_only=True).asnumpy()[0, 0]
        step = model.decode(ids[:, 3:]).asnumpy()[0, 0]
        full = model.decode_sessions.forward_graph()(ms.Tensor(ids)).asnumpy()[0]
        assert np.abs(first - full[2]).max() < 1e-4 and np.abs(step - full[3]).max() < 1e-4
        return step

    before = last_logits()
    graphs = model.decode_sessions.current.graphs
    assert not graphs["decode"].head and not graphs["prefill_last"].head
    table.set_data(ms.Tensor(table.asnumpy()[::-1].copy()))  # a new buffer, as a weights load gives
    after = last_logits()
    assert np.abs(after - before).max() > 0.1


def test_host_head_only_for_a_plain_whole_float32_table_on_one_core(one_core):
    from mf_models.cells import Linear

    tied = build("gpt2")
    assert tied.host_head() is tied.backbone.embedding.word_embedding.embedding_table
    assert build("llama", compute_dtype="float16").host_head() is None
    wrapped = build("llama")  # a layer put in the head's place (LoRA's) may compute more than x @ W.T

    class Adapted(Linear):
        pass

    wrapped.lm_head = Adapted(wrapped.config.hidden_size, wrapped.config.vocab_size)
    assert wrapped.host_head() is None


def test_no_host_head_on_more_cores(monkeypatch):
    model = build("llama")
    monkeypatch.setattr("mf_models.modeling.usable_cores", lambda: 2)
    assert model.host_head() is None
    monkeypatch.setattr("mf_models.modeling.usable_cores", lambda: 1)
    assert model.host_head() is model.lm_head.weight
