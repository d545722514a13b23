"""LoRA-only checkpoints: saved alone, loaded onto a fresh base model; MindFormers files; bad adapter files."""

import json

import mindspore as ms
import numpy as np
import pytest

from mf_ckpt.manifest import verify
from mf_ckpt.store import open_checkpoint
from mf_train.lora import LoraError, adapter_parameters, apply_lora
from mf_train.lora_io import LORA_CONFIG, LORA_WEIGHTS, load_lora, save_lora

from .lora_support import (
    build,
    logits,
    pynative_module,  # noqa: F401 (an autouse fixture)
    randomize_adapters,
    set_mode,
)

PET = {"lora_rank": 4, "lora_alpha": 8, "target_modules": ".*wq|.*wv|.*w2"}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """(folder, base folder, adapted logits, adapter values): a tiny Llama's base weights and its adapters."""
    set_mode(False)
    tmp = tmp_path_factory.mktemp("lora")
    model = build("llama")
    model.save_pretrained(tmp / "base")
    apply_lora(model, PET)
    randomize_adapters(model)
    save_lora(model, tmp / "adapter")
    ms.save_checkpoint(model, str(tmp / "mindformers.ckpt"))  # a whole MindFormers-style checkpoint
    values = {n: p.asnumpy() for n, p in adapter_parameters(model).items()}
    return tmp, logits(model), values


def fresh(tmp, **config):
    from mf_models.llama import LlamaForCausalLM

    model = LlamaForCausalLM.from_pretrained(tmp / "base")
    for key, value in config.items():
        setattr(model.config, key, value)
    return model


def test_adapter_folder_holds_only_the_adapters_and_loads_onto_a_fresh_base(saved):
    tmp, adapted, values = saved
    folder = tmp / "adapter"
    assert sorted(p.name for p in folder.iterdir()) == sorted([LORA_CONFIG, LORA_WEIGHTS, "SHA256SUMS.json"])
    verify(folder)  # mf-ckpt's manifest checks every byte
    ckpt = open_checkpoint(folder / LORA_WEIGHTS)
    assert {n: tuple(i.shape) for n, i in ckpt.infos.items()} == {n: v.shape for n, v in values.items()}
    info = json.loads((folder / LORA_CONFIG).read_text())
    assert info["pet_config"]["lora_rank"] == 4 and info["base_model"] == "LlamaConfig"
    model = fresh(tmp)
    params = load_lora(model, folder)
    assert {p.name for p in params} == set(values) == {p.name for p in model.trainable_params()}
    assert all(np.array_equal(p.asnumpy(), values[p.name]) for p in params)
    assert np.array_equal(logits(model), adapted)


def test_loading_onto_an_adapted_model_checks_rank_and_alpha(saved):
    tmp, adapted, _ = saved
    model = fresh(tmp)
    apply_lora(model, PET)
    load_lora(model, tmp / "adapter")
    assert np.array_equal(logits(model), adapted)
    other = fresh(tmp)
    apply_lora(other, {**PET, "lora_rank": 2, "lora_alpha": 4})
    with pytest.raises(LoraError, match=r"adapter: model.layers.0.attention.wq.mindpet_delta_lora_a: "
                                        r"shape \[4, 32\], the model's is \[2, 32\]"):
        load_lora(other, tmp / "adapter")
    alpha = fresh(tmp)
    apply_lora(alpha, {**PET, "lora_alpha": 16})
    with pytest.raises(LoraError, match="pet_config.lora_alpha: lora_alpha / lora_rank is 2.0, the model's"):
        load_lora(alpha, tmp / "adapter")
    fewer = fresh(tmp)
    apply_lora(fewer, {**PET, "target_modules": ".*wq"})
    with pytest.raises(LoraError, match=r"adapter names differ from the model's: missing \[\], unexpected "
                                        r"\['model.layers.0.attention.wv"):
        load_lora(fewer, tmp / "adapter")


def test_a_mindformers_checkpoint_file_gives_its_adapters(saved):
    tmp, adapted, _ = saved
    model = fresh(tmp, pet_config={"lora_alpha": 8})  # the file carries the rank and layers, not alpha
    load_lora(model, tmp / "mindformers.ckpt")
    assert np.array_equal(logits(model), adapted)
    with pytest.raises(LoraError, match=r"mindformers.ckpt: pet_config: a checkpoint file carries no lora_alpha"):
        load_lora(fresh(tmp), tmp / "mindformers.ckpt")
    with pytest.raises(LoraError, match=r"model.safetensors: holds no LoRA tensors"):
        load_lora(fresh(tmp, pet_config={}), tmp / "base" / "model.safetensors")


def test_bad_adapter_files_are_one_line_errors(saved, tmp_path):
    tmp = saved[0]
    with pytest.raises(LoraError, match="no such adapter file or folder"):
        load_lora(fresh(tmp), tmp_path / "nothing")
    with pytest.raises(LoraError, match=r"no lora_config.json \(ours\), adapter_config.json \(PEFT\) or LoRA "
                                        "training checkpoint"):
        load_lora(fresh(tmp), tmp_path)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / LORA_CONFIG).write_text((tmp / "adapter" / LORA_CONFIG).read_text())
    data = (tmp / "adapter" / LORA_WEIGHTS).read_bytes()
    (broken / LORA_WEIGHTS).write_bytes(data[:len(data) // 2])
    with pytest.raises(LoraError) as e:
        load_lora(fresh(tmp), broken)
    assert str(e.value).startswith(str(broken / LORA_WEIGHTS)) and "\n" not in str(e.value)
    (broken / LORA_CONFIG).write_text('{"format": "mf-lora", "pet_config": {"lora_rank": "four"}}')
    with pytest.raises(LoraError, match=r"lora_config.json: pet_config.lora_rank: expected an integer"):
        load_lora(fresh(tmp), broken)
    gpt2 = build("gpt2")
    with pytest.raises(LoraError, match=r"does not fit GPT2LMHeadModel: .* names no Linear layer"):
        load_lora(gpt2, tmp / "adapter")
    with pytest.raises(LoraError, match="has no LoRA adapters to save"):
        save_lora(gpt2, tmp_path / "out")
    assert not (tmp_path / "out").exists()
