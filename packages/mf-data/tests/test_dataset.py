"""CausalLanguageModelDataset from MindFormers' train_dataset sections, over MindRecord and the indexed format."""

import numpy as np
import pytest

from mf_config import load_config
from mf_config.registry import build
from mf_data.dataset import CausalLanguageModelDataset, numpy_batches
from mf_data.errors import DataError
from mf_data.indexed import IndexedDataset

from .helpers import preprocess

SEQ = 32


@pytest.fixture(scope="module")
def data(tmp_path_factory, wiki_small, sp_model):
    root = tmp_path_factory.mktemp("ds")
    common = ["--dataset_type", "wiki", "--input_glob", wiki_small, "--tokenizer", sp_model, "--seq_length", SEQ]
    preprocess(*common, "--format", "indexed", "--output_file", root / "wiki")
    preprocess(*common, "--format", "mindrecord", "--output_file", root / "mr" / "wiki.mindrecord")
    return root


@pytest.fixture(scope="module")
def section(mf_assets):
    """The train_dataset section of a real MindFormers pretraining YAML."""
    return load_config(mf_assets / "mindformers-yaml" / "pretrain_mixtral-8x7b.yaml").train_dataset.to_dict()


def config(section, path, **changes):
    cfg = dict(section, **changes)
    cfg["data_loader"] = dict(section["data_loader"], dataset_dir=str(path))
    return cfg


def batches(dataset):
    return [{k: v for k, v in b.items()} for b in dataset.create_dict_iterator(output_numpy=True, num_epochs=1)]


def rows_of(batch_list, data):
    """Record indices of the rows of a list of batches (records are unique blocks of text)."""
    index = {data[i]["input_ids"].tobytes(): i for i in range(len(data))}
    return [index[row.tobytes()] for b in batch_list for row in b["input_ids"]]


def test_mindrecord_and_indexed_give_the_same_batches(data, section):
    a = batches(CausalLanguageModelDataset(config(section, data / "mr"), batch_size=4))
    b = batches(CausalLanguageModelDataset(config(section, data / "wiki"), batch_size=4))
    c = list(numpy_batches(config(section, data / "wiki"), batch_size=4))
    n = len(IndexedDataset(data / "wiki"))
    assert len(a) == len(b) == len(c) == n // 4
    for x, y, z in zip(a, b, c):
        assert x["input_ids"].dtype == np.int32 and x["input_ids"].shape == (4, SEQ + 1)
        assert np.array_equal(x["input_ids"], y["input_ids"]) and np.array_equal(y["input_ids"], z["input_ids"])


def test_built_from_the_registry(data, mf_assets):
    cfg = load_config(mf_assets / "mindformers-yaml" / "pretrain_mixtral-8x7b.yaml",
                      [f"train_dataset.data_loader.dataset_dir={data / 'mr' / 'wiki.mindrecord'}",
                       "train_dataset.batch_size=2"])
    dataset = build(cfg.train_dataset_task, "dataset")
    assert dataset.get_dataset_size() == len(IndexedDataset(data / "wiki")) // 2


def test_seeded_shuffle(data, section):
    store = IndexedDataset(data / "wiki")
    run = lambda **kw: rows_of(list(numpy_batches(config(section, data / "wiki"), batch_size=4, **kw)), store)  # noqa: E731
    assert run(seed=1) == run(seed=1)
    assert run(seed=1) != run(seed=2)
    two = run(seed=1, repeat=2)
    half = len(two) // 2
    assert sorted(two[:half]) == sorted(two[half:])  # each epoch a permutation of the same records ...
    assert two[:half] != two[half:]  # ... in a new order
    shuffled = run(seed=1, drop_remainder=False)
    assert sorted(shuffled) == list(range(len(store))) and shuffled != sorted(shuffled)
    plain = dict(section, data_loader=dict(section["data_loader"], dataset_dir=str(data / "wiki"), shuffle=False))
    assert rows_of(list(numpy_batches(plain, batch_size=4, drop_remainder=False)), store) == list(range(len(store)))


@pytest.mark.parametrize("device_num", [2, 3])
def test_ranks_together_see_every_sample_once(data, section, device_num):
    store = IndexedDataset(data / "wiki")
    seen = []
    for rank in range(device_num):
        ds = CausalLanguageModelDataset(config(section, data / "mr"), batch_size=2, drop_remainder=False,
                                        rank_id=rank, device_num=device_num)
        seen.append(rows_of(batches(ds), store))
    every = sorted(i for rank in seen for i in rank)
    assert every == list(range(len(store)))
    # training (drop_remainder) gives every rank the same number of whole batches
    sizes = {CausalLanguageModelDataset(config(section, data / "mr"), batch_size=2, rank_id=r,
                                        device_num=device_num).get_dataset_size() for r in range(device_num)}
    assert sizes == {len(store) // device_num // 2}


def test_rank_from_environment(data, section, monkeypatch):
    store = IndexedDataset(data / "wiki")
    monkeypatch.setenv("RANK_ID", "1")
    monkeypatch.setenv("RANK_SIZE", "2")
    from_env = rows_of(list(numpy_batches(config(section, data / "wiki"), batch_size=2)), store)
    monkeypatch.delenv("RANK_ID")
    monkeypatch.delenv("RANK_SIZE")
    explicit = rows_of(list(numpy_batches(config(section, data / "wiki"), batch_size=2, rank_id=1, device_num=2)),
                       store)
    assert from_env == explicit


@pytest.mark.parametrize("path", ["mr", "wiki"])
def test_skip_to_step(data, section, path):
    full = batches(CausalLanguageModelDataset(config(section, data / path), batch_size=4, repeat=2))
    resumed = batches(CausalLanguageModelDataset(config(section, data / path), batch_size=4, repeat=2,
                                                 skip_steps=len(full) - 5))
    assert len(resumed) == 5
    for x, y in zip(full[-5:], resumed):
        assert np.array_equal(x["input_ids"], y["input_ids"])


def test_skip_does_not_read_skipped_records(data, section, monkeypatch):
    read = []
    original = IndexedDataset.__getitem__
    monkeypatch.setattr(IndexedDataset, "__getitem__", lambda self, i: read.append(i) or original(self, i))
    store = IndexedDataset(data / "wiki")
    full = rows_of(list(numpy_batches(config(section, data / "wiki"), batch_size=4)), store)
    read.clear()
    resumed = list(numpy_batches(config(section, data / "wiki"), batch_size=4, skip_steps=10))
    assert sorted(read) == sorted(full[40:])
    read.clear()
    batches(CausalLanguageModelDataset(config(section, data / "wiki"), batch_size=4, skip_steps=10))
    assert sorted(read) == sorted(full[40:])
    assert len(resumed) == len(full) // 4 - 10


def test_eos_reset(data, section):
    ds = CausalLanguageModelDataset(config(section, data / "mr"), batch_size=4, eos_reset=True, eos_token_id=2)
    assert ds.get_col_names() == ["input_ids", "position_id", "attention_mask"]
    found = 0
    for b in batches(ds):
        ids, pos, mask = b["input_ids"], b["position_id"], b["attention_mask"]
        assert pos.shape == (4, SEQ) and mask.shape == (4, SEQ, SEQ) and pos.dtype == mask.dtype == np.int32
        for row in range(4):
            tokens = ids[row, :SEQ]
            for i in range(SEQ):
                # the document of position i starts right after the last EOS before it
                eos_before = [j for j in range(i) if tokens[j] == 2]
                start = eos_before[-1] + 1 if eos_before else 0
                assert pos[row, i] == i - start
                assert mask[row, i].tolist() == [1 if start <= j <= i else 0 for j in range(SEQ)]
            found += int((tokens == 2).any())
    assert found > 0


def test_unknown_key_is_reported(data, section):
    with pytest.raises(DataError, match="train_dataset.sharding"):
        CausalLanguageModelDataset(dict(config(section, data / "wiki"), sharding=True))
    with pytest.raises(DataError, match="rank_id 2 is not in 0..1"):
        list(numpy_batches(config(section, data / "wiki"), rank_id=2, device_num=2))


def test_batches_never_span_epochs(data, section):
    store = IndexedDataset(data / "wiki")
    n = len(store)
    got = list(numpy_batches(config(section, data / "wiki"), batch_size=5, drop_remainder=False, repeat=2))
    per_epoch = -(-n // 5)
    assert len(got) == 2 * per_epoch and len(got[per_epoch - 1]["input_ids"]) == n - 5 * (per_epoch - 1)
    ms = batches(CausalLanguageModelDataset(config(section, data / "mr"), batch_size=5, drop_remainder=False,
                                            repeat=2))
    assert [len(b["input_ids"]) for b in ms] == [len(b["input_ids"]) for b in got]
    resumed = list(numpy_batches(config(section, data / "wiki"), batch_size=5, drop_remainder=False, repeat=2,
                                 skip_steps=per_epoch - 1))
    assert len(resumed) == per_epoch + 1
    for x, y in zip(got[per_epoch - 1:], resumed):
        assert np.array_equal(x["input_ids"], y["input_ids"])
