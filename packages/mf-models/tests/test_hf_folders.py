"""Hugging Face folders load straight into our networks (no converted copy): sharded, .bin, bfloat16 and base-model
files; a folder that disagrees with its config, or weights without a config, is one clear error."""

import mindspore as ms
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from mf_config import ConfigError, families, part
from mf_config.registry import get
from mf_models import AutoModel, ModelError
from mf_models.cli import main

from .helpers import CONFIGS, FAMILIES, build
from .hf_oracle import hf_model, saved

IDS = np.array([[5, 6, 7, 8, 9, 10], [11, 3, 12, 40, 2, 60]])


def weights(model):
    return {p.name: p.asnumpy() for p in model.get_parameters()}


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory):
    """(transformers' tiny GPT-2, its folder)."""
    model = hf_model(CONFIGS["gpt2"]())
    return model, saved(model, tmp_path_factory.mktemp("gpt2"))


def test_each_family_announces_its_network():
    for spec in families():
        assert part(spec.name, "network") is get("model", spec.mf_arch_type)


@pytest.mark.parametrize("how", ["sharded", "bin", "base_model"])
def test_layouts_of_hugging_face_folders(gpt2, tmp_path, how):
    ms.set_context(mode=ms.PYNATIVE_MODE)
    model, folder = gpt2
    if how == "sharded":
        model.save_pretrained(tmp_path, max_shard_size="20KB")
        assert (tmp_path / "model.safetensors.index.json").is_file()
    elif how == "bin":  # as older HF files: a plain state dict, the tied head included
        torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
        (tmp_path / "config.json").write_text((folder / "config.json").read_text())
    else:  # openai-community/gpt2 ships the base model's names: h.0., wte.weight
        model.transformer.save_pretrained(tmp_path)
        (tmp_path / "config.json").write_text((folder / "config.json").read_text())
    reference, loaded = AutoModel.from_pretrained(folder), AutoModel.from_pretrained(tmp_path)
    assert all(np.array_equal(a, weights(loaded)[n]) for n, a in weights(reference).items())


def test_bfloat16_folder_loads_exactly_into_float32(tmp_path):
    ms.set_context(mode=ms.PYNATIVE_MODE)
    model = hf_model(CONFIGS["llama"]()).to(torch.bfloat16)
    ours = AutoModel.from_pretrained(saved(model, tmp_path), overrides=["compute_dtype=float32",
                                                                         "param_init_type=float32"])
    assert ours.config.param_init_type == "float32"
    np.testing.assert_array_equal(weights(ours)["model.layers.1.attention.wk.weight"],
                                  model.model.layers[1].self_attn.k_proj.weight.detach().float().numpy())
    ours.set_train(False)
    with torch.no_grad():
        expected = model.float()(torch.from_numpy(IDS)).logits.numpy()
    np.testing.assert_allclose(ours(ms.Tensor(IDS, ms.int32)).asnumpy(), expected, atol=2e-4, rtol=1e-4)


def test_weights_that_disagree_with_the_config(gpt2, tmp_path):
    _, folder = gpt2
    model = build("gpt2", num_layers=3)
    with pytest.raises(ModelError) as err:
        model.load_weights(folder)
    assert "12 missing: transformer.h.2.ln_1.weight" in str(err.value)
    assert "the config fits with --set num_layers=2" in str(err.value)
    other = build("gpt2", hidden_size=64)
    with pytest.raises(ModelError, match=r"transformer.wte.weight: expected \[97, 64\], found \[97, 32\]"):
        other.load_weights(folder / "model.safetensors")


@pytest.mark.parametrize("family", FAMILIES)
def test_our_folder_and_hugging_face_folder_hold_the_same_model(family, tmp_path):
    ms.set_context(mode=ms.PYNATIVE_MODE)
    hf = saved(hf_model(CONFIGS[family]()), tmp_path / "hf")
    model = AutoModel.from_pretrained(hf)
    model.save_pretrained(tmp_path / "ours")
    again = AutoModel.from_pretrained(tmp_path / "ours")
    assert type(again) is type(model) and again.config.num_layers == model.config.num_layers
    assert all(np.array_equal(a, weights(again)[n]) for n, a in weights(model).items())


def test_weights_without_a_config(gpt2, tmp_path):
    lone = tmp_path / "model.safetensors"
    lone.write_bytes((gpt2[1] / "model.safetensors").read_bytes())
    result = CliRunner().invoke(main, ["params", str(lone)])
    assert result.exit_code == 2 and result.stderr == f"Error: {lone}: no config.json beside it; pass --config\n"
    with pytest.raises(ConfigError, match="no config.json beside it; pass --config"):
        AutoModel.from_pretrained(lone)
    model = AutoModel.from_pretrained(lone, config=gpt2[1] / "config.json")
    assert model.config.num_layers == 2
