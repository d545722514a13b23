import sys

import pytest

from mf_config import ConfigError, LlamaConfig, build, register, registry
from mf_config.registry import auto_register_sections, get, known


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


def test_auto_register_sections_as_mindformers_register_path(tmp_path, caplog, monkeypatch):
    """Each section that builds a class may name user code (a plain folder, no __init__.py); only the modules named
    are imported, only with a register_path, and their classes win over mf's of the same name."""
    monkeypatch.setattr(registry, "_user", {kind: {} for kind in registry.KINDS})  # this test's classes only
    (tmp_path / "user_tok_i16.py").write_text("class Llama3TokenizerI16:\n    pass\n")
    (tmp_path / "user_cb_i16.py").write_text("class EchoCallback:\n    pass\n")
    (tmp_path / "unrelated_i16.py").write_text("raise SystemExit('imported')\n")
    (tmp_path / "json.py").write_text("")
    cfg = {"processor": {"tokenizer": {"type": "Llama3TokenizerI16", "auto_register":
                                       "user_tok_i16.Llama3TokenizerI16"}},
           "callbacks": [{"type": "MFLossMonitor"},
                         {"type": "EchoCallback", "auto_register": "user_cb_i16.EchoCallback"}]}
    with caplog.at_level("WARNING", logger="mf_config"):
        assert auto_register_sections(cfg) == []
    assert "processor.tokenizer.auto_register: user_tok_i16.Llama3TokenizerI16 not imported" in caplog.text
    assert "user_tok_i16" not in sys.modules
    imported = auto_register_sections(cfg, tmp_path)
    assert [c.__module__ for c in imported] == ["user_tok_i16", "user_cb_i16"]
    assert get("tokenizer", "Llama3TokenizerI16") is imported[0] and get("callback", "EchoCallback") is imported[1]
    assert "unrelated_i16" not in sys.modules and str(tmp_path) not in sys.path
    with pytest.raises(ConfigError, match="optimizer.auto_register: module 'json' is already imported from"):
        auto_register_sections({"optimizer": {"type": "X", "auto_register": "json.X"}}, tmp_path)
    (tmp_path / "broken_i16.py").write_text("import no_such_module_i16\n")
    with pytest.raises(ConfigError, match="ModuleNotFoundError: No module named 'no_such_module_i16'"):
        auto_register_sections({"model": {"arch": {"type": "X", "auto_register": "broken_i16.X"}}}, tmp_path)
