"""save_pretrained / from_pretrained round trips, AutoModel through the registry, parameter counts, dtype errors."""

import mindspore as ms
import numpy as np
import pytest
import transformers
from safetensors.numpy import load_file

from mf_config.errors import MFError
from mf_models import AutoModel
from mf_models.cli import count

from .helpers import CONFIGS, FAMILIES


def weights(model):
    return {p.name: p.asnumpy() for p in model.get_parameters()}


@pytest.mark.parametrize("family", FAMILIES)
def test_save_load_round_trip_is_bitwise(family_models, family, tmp_path):
    model = family_models[family]
    path = model.save_pretrained(tmp_path)
    assert path.name == "model.safetensors" and (tmp_path / "config.json").is_file()
    on_disk = load_file(path)  # a standard safetensors file: readable without MindSpore
    assert set(on_disk) == {p.name for p in model.get_parameters()}
    loaded = AutoModel.from_pretrained(tmp_path)
    assert type(loaded) is type(model) and loaded.config == model.config
    before, after = weights(model), weights(loaded)
    assert all(np.array_equal(before[k], after[k]) and before[k].dtype == after[k].dtype for k in before)


def test_ckpt_on_request(family_models, tmp_path):
    model = family_models["gpt2"]
    assert model.save_pretrained(tmp_path, format="ckpt").name == "model.ckpt"
    loaded = type(model).from_pretrained(tmp_path)
    before, after = weights(model), weights(loaded)
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_wrong_names_are_reported(family_models, tmp_path):
    family_models["gpt2"].save_pretrained(tmp_path)
    with pytest.raises(MFError) as err:
        family_models["bloom"].load_weights(tmp_path)
    message = str(err.value)
    assert "does not fit the bloom config: 37 missing: transformer.embedding.word_embedding.embedding_table" in message
    assert "36 unexpected: backbone.blocks.[0-1].attention.dense1.bias" in message
    assert message.endswith(f"the checkpoint has its own config: {tmp_path / 'config.json'}")


@pytest.mark.parametrize("family", FAMILIES)
def test_num_parameters(family_models, family):
    model = family_models[family]
    assert model.num_parameters() == count(CONFIGS[family]())["total"] == sum(w.size for w in weights(model).values())


def test_auto_model_from_yaml_uses_arch_type(mf_assets):
    model = AutoModel.from_config(mf_assets / "mindformers-yaml" / "finetune_mixtral-8x7b.yaml", overrides=[
        "model.model_config.num_layers=1", "model.model_config.hidden_size=32", "model.model_config.num_heads=4",
        "model.model_config.n_kv_heads=2", "model.model_config.intermediate_size=16",
        "model.model_config.vocab_size=64", "model.model_config.seq_length=16",
        "model.model_config.compute_dtype=float32", "model.model_config.param_init_type=float32"])
    assert type(model).__name__ == "LlamaForCausalLM" and model.config.is_moe
    assert model.config.moe_config.expert_num == 8
    assert "model.layers.0.feed_forward.ffn.w1.weight" in {p.name for p in model.get_parameters()}


def test_auto_model_from_hf_config_json(tmp_path):
    hf = transformers.GPT2Config(vocab_size=50, n_embd=16, n_layer=1, n_head=2, n_positions=8, bos_token_id=1,
                                 eos_token_id=2, pad_token_id=0)
    hf.save_pretrained(tmp_path)
    model = AutoModel.from_config(tmp_path, overrides=["compute_dtype=float32"])
    assert type(model).__name__ == "GPT2LMHeadModel"
    assert model.num_parameters() == transformers.GPT2LMHeadModel(hf).num_parameters()


def test_bfloat16_on_cpu_is_a_clear_error():
    with pytest.raises(MFError, match="compute_dtype: bfloat16 is not supported by MindSpore's CPU backend"):
        AutoModel.from_config(CONFIGS["llama"](compute_dtype="bfloat16"))


def test_float16_runs_on_cpu():
    ms.set_context(mode=ms.PYNATIVE_MODE)
    model = AutoModel.from_config(CONFIGS["llama"](compute_dtype="float16", param_init_type="float16"))
    model.set_train(False)
    logits = model(ms.Tensor(np.array([[3, 4, 5]], np.int32)))
    assert logits.dtype == ms.float32 and logits.shape == (1, 3, 97)
    assert model.model.layers[0].attention.wq.weight.dtype == ms.float16


def test_unhonoured_switches_are_named(caplog):
    with caplog.at_level("WARNING", logger="mf_models"):
        AutoModel.from_config(CONFIGS["llama"](use_flash_attention=True, use_past=True))
    assert "use_flash_attention, use_past" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="mf_models"):
        AutoModel.from_config(CONFIGS["llama"](hf_sliding_window=16))
    assert "hf_sliding_window" in caplog.text


def test_aliased_safetensors_offsets_are_refused(family_models, tmp_path):
    import json
    import struct

    path = family_models["gpt2"].save_pretrained(tmp_path)
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    names = [k for k in header if k != "__metadata__"]
    same = [b for b in names if b != names[0] and header[b]["shape"] == header[names[0]]["shape"]
            and header[b]["dtype"] == header[names[0]]["dtype"]]
    header[same[0]]["data_offsets"] = header[names[0]]["data_offsets"]  # two tensors on one set of bytes
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + raw[8 + n:])
    with pytest.raises(MFError, match="model.safetensors: not a readable safetensors file"):  # the library's check
        family_models["gpt2"].load_weights(tmp_path)
