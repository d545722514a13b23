import pickle

import pytest
import yaml

from mf_config import ConfigError, ConfigKeyError, LlamaConfig, MFConfig, load_config

from .helpers import SHARED, write


def test_every_shared_file_is_listed(yaml_dir):
    assert sorted(p.name for p in yaml_dir.glob("*.yaml")) == sorted(SHARED)


@pytest.mark.parametrize("name", SHARED)
def test_shared_file_loads_equal_to_safe_load(yaml_dir, name):
    cfg = load_config(yaml_dir / name)
    assert cfg.to_dict() == yaml.safe_load((yaml_dir / name).read_text())


@pytest.mark.parametrize("name", SHARED)
def test_dump_reloads_equal(yaml_dir, name, tmp_path):
    cfg = load_config(yaml_dir / name)
    cfg.dump(tmp_path / "out.yaml")
    assert load_config(tmp_path / "out.yaml") == cfg


def test_anchors_and_aliases(yaml_dir):
    cfg = load_config(yaml_dir / "run_llama3_8b_8k_800T_A2_64G.yaml")
    assert cfg.train_dataset_task.dataset_config == cfg.train_dataset
    assert cfg.train_dataset.data_loader.type == "MindDataset"


def test_llama3_config_from_task_file(yaml_dir):
    config = LlamaConfig.from_yaml(yaml_dir / "run_llama3_8b_8k_800T_A2_64G.yaml")
    assert (config.theta, config.n_kv_heads, config.vocab_size) == (500000, 8, 128256)
    assert config.parallel_config.data_parallel == 8


def test_attribute_and_dict_access():
    cfg = MFConfig({"model": {"model_config": {"num_layers": 2}}})
    assert cfg.model.model_config.num_layers == 2 == cfg["model"]["model_config"]["num_layers"]
    assert cfg.model.get("arch", "default") == "default"
    assert getattr(cfg.model, "arch", None) is None


def test_misspelt_attribute_names_the_nearest_key():
    cfg = MFConfig({"model": {"model_config": {"num_layers": 2, "num_heads": 4}}})
    with pytest.raises(ConfigKeyError) as err:
        _ = cfg.model.model_config.num_layer
    assert str(err.value) == "model.model_config.num_layer: no such key (did you mean 'num_layers'?)"


def test_pickles():
    cfg = MFConfig({"a": {"b": [1, {"c": 2}]}})
    again = pickle.loads(pickle.dumps(cfg))
    assert again == cfg and again.a.b[1].c == 2


def test_base_config_inheritance_deep_merges_child_wins(tmp_path):
    write(tmp_path / "a.yaml", "x: {p: 1, q: 2}\nlst: [1, 2]\nonly_a: 1\n")
    write(tmp_path / "b.yaml", "x: {q: 3}\nonly_b: 2\n")
    (tmp_path / "sub").mkdir()
    child = write(tmp_path / "sub" / "child.yaml", "base_config: [../a.yaml, ../b.yaml]\nx: {r: 4}\nlst: [9]\n")
    cfg = load_config(child)
    assert cfg.to_dict() == {"x": {"p": 1, "q": 3, "r": 4}, "lst": [9], "only_a": 1, "only_b": 2}
    assert cfg.source("x.r").endswith("child.yaml:2") and cfg.source("x.p").endswith("a.yaml:1")


def test_base_config_single_path(tmp_path):
    write(tmp_path / "base.yaml", "seed: 1\nrun_mode: train\n")
    cfg = load_config(write(tmp_path / "c.yaml", "base_config: base.yaml\nseed: 2\n"))
    assert cfg.to_dict() == {"seed": 2, "run_mode": "train"}


def test_overrides_are_typed_as_yaml(yaml_dir):
    overrides = ["model.model_config.num_layers=2", "context.device_target=CPU", "use_parallel=false",
                 "optimizer.eps=1e-6", "callbacks.0.type=X", "new.section.key=[1, 2]"]
    with pytest.raises(ConfigError, match=r"^--set new.section.key: unknown key$"):
        load_config(yaml_dir / "run_gpt2.yaml", overrides)
    cfg = load_config(yaml_dir / "run_gpt2.yaml", overrides, new_keys=True)
    assert cfg.model.model_config.num_layers == 2
    assert cfg.context.device_target == "CPU" and cfg.use_parallel is False
    assert cfg.optimizer.eps == 1e-6 and cfg.callbacks[0].type == "X" and cfg.new.section.key == [1, 2]
    assert cfg.source("use_parallel") == "override"


def test_override_into_a_scalar_is_an_error(yaml_dir):
    with pytest.raises(ConfigError, match="'seed' is a int, not a section"):
        load_config(yaml_dir / "run_gpt2.yaml", ["seed.x=1"])
