import sys

import pytest

from mf_config import ConfigError, LlamaConfig, build, register
from mf_config.registry import get, known


@register("callback")
class EchoCallback:
    def __init__(self, prefix="p", steps=1):
        self.prefix, self.steps = prefix, steps


def test_build_from_a_section_with_defaults():
    cb = build({"type": "EchoCallback", "steps": 5}, "callback", prefix="default")
    assert (cb.prefix, cb.steps) == ("default", 5)
    assert build({"type": "EchoCallback", "prefix": "mine"}, "callback", prefix="default").prefix == "mine"


def test_config_classes_are_registered():
    config = build({"type": "LlamaConfig", "num_layers": 2}, "config")
    assert isinstance(config, LlamaConfig) and config.num_layers == 2
    assert {"LlamaConfig", "GPT2Config", "BloomConfig", "MixtralConfig"} <= set(known("config"))


def test_unknown_type_lists_known_names():
    with pytest.raises(ConfigError) as err:
        build({"type": "EchoCalback"}, "callback")
    assert "unknown callback type 'EchoCalback' (did you mean 'EchoCallback'?); known callback types:" in str(err.value)


def test_unknown_kind():
    with pytest.raises(ConfigError, match="unknown registry kind 'widget'"):
        register("widget")


def test_entry_points_are_loaded_only_when_asked(tmp_path, monkeypatch):
    pkg = tmp_path / "ep_plugin_mod.py"
    pkg.write_text("LOADED = True\nclass PluginModel:\n    def __init__(self, size=1):\n        self.size = size\n")
    dist = tmp_path / "ep_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[mf.registry]\nmodel.PluginModel = ep_plugin_mod:PluginModel\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "PluginModel" in known("model")
    assert "ep_plugin_mod" not in sys.modules
    model = build({"type": "PluginModel", "size": 3}, "model")
    assert model.size == 3 and type(model) is get("model", "PluginModel")


def test_auto_register_imports_only_from_register_path(tmp_path):
    (tmp_path / "my_user_code.py").write_text(
        "class MyMetric:\n    def __init__(self, k=0):\n        self.k = k\n")
    section = {"type": "MyMetric", "auto_register": "my_user_code.MyMetric", "k": 2}
    with pytest.raises(ConfigError, match="auto_register 'my_user_code.MyMetric' needs register_path"):
        build(section, "metric")
    assert build(section, "metric", register_path=tmp_path).k == 2
    with pytest.raises(ConfigError, match="module 'nothere' not found in register_path"):
        build({"type": "X", "auto_register": "nothere.X"}, "metric", register_path=tmp_path)
