"""PEFT interop against the oracle: transformers with a PEFT adapter gives the logits of our model with the
converted adapter, both ways."""

import json

import numpy as np
import peft
import pytest
import torch
import transformers

from mf_ckpt.store import open_checkpoint
from mf_models.auto import AutoModel
from mf_train.lora import LoraError, apply_lora
from mf_train.lora_io import load_lora
from mf_train.lora_peft import PEFT_CONFIG, PEFT_WEIGHTS, save_peft

from .lora_support import (
    BATCH,
    hf_folders,
    logits,
    pynative_module,  # noqa: F401 (an autouse fixture)
    randomize_adapters,
    set_mode,
)

PEFT_TARGETS = {"llama": ["q_proj", "v_proj", "down_proj"], "gpt2": ["c_attn", "c_proj"],
                "bloom": ["query_key_value", "dense"]}
OUR_TARGETS = {"llama": ".*wk|.*wo|.*w3", "gpt2": ".*dense1|.*dense3|.*mapping", "bloom": ".*dense2|.*projection"}


@pytest.fixture(scope="module", params=["llama", "gpt2", "bloom"])
def family(request, tmp_path_factory):
    """(family, folder) of ``hf_folders``."""
    set_mode(False)
    return request.param, hf_folders(tmp_path_factory.mktemp(request.param), request.param)


def hf_logits(model):
    model.eval()
    with torch.no_grad():
        return model(torch.tensor(BATCH, dtype=torch.long)).logits.numpy()


def peft_model(tmp, adapter=None, **lora):
    base = transformers.AutoModelForCausalLM.from_pretrained(tmp / "hf")
    if adapter is not None:
        return peft.PeftModel.from_pretrained(base, adapter)
    torch.manual_seed(1)
    return peft.get_peft_model(base, peft.LoraConfig(init_lora_weights=False, **lora))  # B random, not zero


def test_peft_adapter_on_ours_gives_transformers_logits(family):
    name, tmp = family
    rslora = name == "bloom"  # rank-stabilised: alpha / sqrt(r)
    model = peft_model(tmp, r=4, lora_alpha=12, target_modules=PEFT_TARGETS[name], use_rslora=rslora)
    model.save_pretrained(tmp / "peft")
    expected = hf_logits(model)
    ours = AutoModel.from_pretrained(tmp / "ours")
    params = load_lora(ours, tmp / "peft")
    assert ours.config.pet_config.lora_rank == 4 and ours.config.pet_config.scaling == (6.0 if rslora else 3.0)
    assert all(p.name.endswith((".mindpet_delta_lora_a", ".mindpet_delta_lora_b")) for p in params)
    got = logits(ours)
    assert np.abs(got - expected).max() < 1e-4
    assert np.abs(got - hf_logits(transformers.AutoModelForCausalLM.from_pretrained(tmp / "hf"))).max() > 1e-2


def test_our_adapter_in_peft_gives_our_logits(family):
    name, tmp = family
    ours = AutoModel.from_pretrained(tmp / "ours")
    apply_lora(ours, {"lora_rank": 3, "lora_alpha": 5, "target_modules": OUR_TARGETS[name]})
    randomize_adapters(ours)  # GPT-2/Bloom parts get different A's: exported as one fused block-diagonal adapter
    expected = logits(ours)
    save_peft(ours, tmp / "exported")
    got = hf_logits(peft_model(tmp, tmp / "exported"))
    assert np.abs(got - expected).max() < 1e-4


def test_peft_to_ours_to_peft_is_exact(family, tmp_path):
    name, tmp = family
    peft_model(tmp, r=2, lora_alpha=4, target_modules=PEFT_TARGETS[name]).save_pretrained(tmp_path / "peft")
    ours = AutoModel.from_pretrained(tmp / "ours")
    load_lora(ours, tmp_path / "peft")
    save_peft(ours, tmp_path / "back")
    before, after = open_checkpoint(tmp_path / "peft" / PEFT_WEIGHTS), open_checkpoint(tmp_path / "back" / PEFT_WEIGHTS)
    assert sorted(before.infos) == sorted(after.infos)
    assert all(np.array_equal(before.get(n), after.get(n)) for n in before.infos)
    config = json.loads((tmp_path / "back" / PEFT_CONFIG).read_text())
    assert (config["r"], config["lora_alpha"], sorted(config["target_modules"]), config["rank_pattern"]) == \
        (2, 4, sorted(PEFT_TARGETS[name]), {})


@pytest.mark.parametrize("change, key", [({"use_dora": True}, "use_dora"), ({"bias": "all"}, "bias"),
                                         ({"peft_type": "IA3"}, "peft_type"), ({"r": "4"}, "r"),
                                         ({"alpha_pattern": {"q_proj": 16}}, "alpha_pattern")])
def test_unsupported_peft_adapters_are_one_line_errors(tmp_path, change, key):
    set_mode(False)
    tmp = hf_folders(tmp_path, "llama")
    peft_model(tmp, r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]).save_pretrained(tmp / "peft")
    config = json.loads((tmp / "peft" / PEFT_CONFIG).read_text())
    (tmp / "peft" / PEFT_CONFIG).write_text(json.dumps({**config, **change}))
    with pytest.raises(LoraError) as e:
        load_lora(AutoModel.from_pretrained(tmp / "ours"), tmp / "peft")
    assert str(e.value).startswith(f"{tmp / 'peft' / PEFT_CONFIG}: {key}: ") and "\n" not in str(e.value)
