"""Weights as they are published and configs that do not fit them: bfloat16/float16 files load into a network of
another dtype (cast on the way in, no MindSpore bfloat16 round trip); a checkpoint that does not fit the config is
stopped before the network is built, every difference named, with the overrides that make it fit."""

import re
import shutil

import mindspore as ms
import ml_dtypes
import numpy as np
import pytest
import torch
from safetensors.numpy import load_file, save_file

import mf_models.auto
from mf_config import LlamaConfig
from mf_models import AutoModel, ModelError

from .helpers import CONFIGS, build
from .hf_oracle import hf_model, saved

YAML = """model:
  model_config:
    type: LlamaConfig
    seq_length: 4096
    hidden_size: 4096
    num_layers: 32
    num_heads: 32
    vocab_size: 32000
    multiple_of: 256
    rms_norm_eps: 1.0e-5
    compute_dtype: "float16"
    param_init_type: "float16"
  arch:
    type: LlamaForCausalLM
"""


def weights(model):
    return {p.name: p.asnumpy() for p in model.get_parameters()}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Our tiny Llama saved as float32 (``ours``), its weights as bfloat16 and float16 files of our names, and its
    config."""
    ms.set_context(mode=ms.PYNATIVE_MODE)
    folder = tmp_path_factory.mktemp("tiny")
    model = build("llama")
    model.save_pretrained(folder / "ours")
    tensors = load_file(folder / "ours" / "model.safetensors")
    for name, dtype in (("bf16", ml_dtypes.bfloat16), ("fp16", np.float16)):
        (folder / name).mkdir()
        save_file({k: v.astype(dtype) for k, v in tensors.items()}, folder / name / "model.safetensors")
        shutil.copyfile(folder / "ours" / "config.json", folder / name / "config.json")
    return folder, model


def never_built(monkeypatch):
    """Make building any network fail: the check must stop the load before."""
    def refuse(*args, **kwargs):
        raise AssertionError("the network was built before the weights were checked")
    monkeypatch.setattr(mf_models.auto, "network_class", refuse)


@pytest.mark.parametrize("stored", ["bf16", "fp16"])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_half_precision_files_load_into_any_float_network(tiny, stored, dtype):
    folder, _ = tiny
    model = AutoModel.from_pretrained(folder / stored, dtype=dtype)
    assert model.model.layers[0].attention.wq.weight.dtype == getattr(ms, dtype)
    on_disk = load_file(folder / "fp16" / "model.safetensors") if stored == "fp16" else None
    for name, value in weights(model).items():
        if stored == "fp16":
            expected = on_disk[name].astype(dtype)
        else:  # what torch makes of the same bfloat16 bits, cast the same way
            bits = load_file(folder / "ours" / "model.safetensors")[name].astype(ml_dtypes.bfloat16)
            expected = torch.from_numpy(bits.view(np.int16)).view(torch.bfloat16).to(getattr(torch, dtype)).numpy()
        np.testing.assert_array_equal(value, expected, err_msg=name)


def test_bfloat16_config_runs_as_float32_on_cpu(tiny, caplog):
    folder, _ = tiny
    config = (folder / "bf16" / "config.json").read_text().replace('"float32"', '"bfloat16"')
    (folder / "bf16" / "config.json").write_text(config)
    with caplog.at_level("WARNING", logger="mf_models"):
        model = AutoModel.from_pretrained(folder / "bf16")
    assert "bfloat16 runs as float32 on MindSpore's CPU backend" in caplog.text
    assert model.config.param_init_type == model.config.compute_dtype == "float32"


def test_mindspore_ckpt_of_bfloat16_loads(tiny, tmp_path):
    folder, model = tiny
    ms.save_checkpoint([{"name": p.name, "data": ms.Tensor(p.asnumpy(), ms.bfloat16)} for p in model.get_parameters()],
                       str(tmp_path / "llama.ckpt"))
    loaded = AutoModel.from_pretrained(tmp_path / "llama.ckpt", config=folder / "ours" / "config.json")
    for name, value in weights(loaded).items():
        np.testing.assert_array_equal(value, weights(model)[name].astype(ml_dtypes.bfloat16).astype(np.float32))


def test_a_big_yaml_against_a_small_checkpoint_stops_before_building(tiny, tmp_path, monkeypatch):
    """The user's mistake: predict_llama2_7b.yaml with a small checkpoint; the error names every difference and the
    overrides under which the YAML fits, which then load it."""
    folder, model = tiny
    yaml = tmp_path / "predict_llama2_7b.yaml"
    yaml.write_text(YAML)
    (tmp_path / "w").mkdir()
    shutil.copyfile(folder / "ours" / "model.safetensors", tmp_path / "w" / "merged.safetensors")
    never_built(monkeypatch)
    with pytest.raises(ModelError) as err:
        AutoModel.from_pretrained(tmp_path / "w" / "merged.safetensors", config=yaml)
    message = str(err.value)
    assert message.startswith(f"{tmp_path / 'w' / 'merged.safetensors'}: does not fit the llama config ({yaml}): "
                              "270 missing: model.layers.[2-31].attention.wq.weight")
    assert "model.tok_embeddings.embedding_weight, lm_head.weight: expected [32000, 4096], found [97, 32]" in message
    assert "model.layers.[0-1].feed_forward.w2.weight: expected [4096, 11008], found [32, 64]" in message
    assert "the checkpoint has its own config" not in message
    overrides = re.findall(r"--set (\S+)", message)
    assert overrides[0] == "model.model_config.num_layers=2"
    monkeypatch.undo()
    fitted = AutoModel.from_pretrained(tmp_path / "w" / "merged.safetensors", config=yaml, overrides=overrides,
                                       dtype="float32")
    assert all(np.array_equal(v, weights(model)[n]) for n, v in weights(fitted).items())


def test_ffn_width_of_a_yaml_that_differs_from_the_checkpoint(tiny, tmp_path, monkeypatch):
    """A Llama 2 style YAML (FFN width from multiple_of) against a checkpoint of another FFN width."""
    folder, _ = tiny
    yaml = tmp_path / "llama.yaml"
    config = LlamaConfig.from_pretrained(folder / "ours")
    text = YAML.replace("4096", str(config.hidden_size)).replace("32000", str(config.vocab_size))
    text = text.replace("num_layers: 32", "num_layers: 2").replace("num_heads: 32", "num_heads: 4")
    yaml.write_text(text.replace("multiple_of: 256", "multiple_of: 32\n    n_kv_heads: 2"))
    assert LlamaConfig.from_yaml(yaml).ffn_hidden_size == 96 != config.ffn_hidden_size
    never_built(monkeypatch)
    with pytest.raises(ModelError) as err:
        AutoModel.from_pretrained(folder / "ours", config=yaml)
    message = str(err.value)
    assert "model.layers.[0-1].feed_forward.w1.weight, model.layers.[0-1].feed_forward.w3.weight: expected [96, 32], "\
           "found [64, 32]" in message
    assert message.endswith(f"the config fits with --set model.model_config.intermediate_size=64; the checkpoint has "
                            f"its own config: {folder / 'ours' / 'config.json'}")


def test_a_tensor_that_is_not_float(tiny, tmp_path):
    folder, _ = tiny
    tensors = load_file(folder / "ours" / "model.safetensors")
    tensors["model.norm_out.weight"] = np.arange(32, dtype=np.int64)
    (tmp_path / "w").mkdir()
    save_file(tensors, tmp_path / "w" / "model.safetensors")
    with pytest.raises(ModelError, match="model.norm_out.weight: dtype I64, expected a float"):
        AutoModel.from_pretrained(tmp_path / "w", config=folder / "ours" / "config.json")


def test_hugging_face_names_in_a_file_without_config(tiny, tmp_path):
    """A lone safetensors file of Hugging Face's names with our config.json: the names say which they are."""
    ms.set_context(mode=ms.PYNATIVE_MODE)
    hf = saved(hf_model(CONFIGS["llama"]()), tmp_path / "hf")
    (tmp_path / "lone").mkdir()
    shutil.copyfile(hf / "model.safetensors", tmp_path / "lone" / "weights.safetensors")
    model = AutoModel.from_pretrained(tmp_path / "lone" / "weights.safetensors",
                                      config=tiny[0] / "ours" / "config.json")
    reference = AutoModel.from_pretrained(hf)
    assert all(np.array_equal(v, weights(reference)[n]) for n, v in weights(model).items())
