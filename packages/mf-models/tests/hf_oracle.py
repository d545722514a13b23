"""Tiny `transformers` models of our configs (their config.json is ``mf_config.hf.to_hf_dict``'s), saved as
Hugging Face folders for our networks to load, and the comparison of their logits with ours."""

import mindspore as ms
import numpy as np
import torch
import transformers

from mf_config.hf import to_hf_dict

from .helpers import CONFIGS, build


def hf_model(config, **hf_keys):
    """A random tiny HF model of our ``config`` (float32, eval mode); ``hf_keys`` replace config.json keys."""
    hf_config = transformers.AutoConfig.for_model(**{**to_hf_dict(config), **hf_keys})
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(hf_config)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.2)
    return model.eval()


def saved(model, folder):
    """``folder`` after ``model.save_pretrained(folder)`` (safetensors, HF's names)."""
    model.save_pretrained(folder)
    return folder


def logits_of(model, ids):
    model.set_train(False)
    return model(ms.Tensor(ids.astype(np.int32))).asnumpy()


def compare(family, tmp_path, config_keys=None, **hf_keys):
    """Logits of our network (config ``CONFIGS[family](**config_keys)``) and of transformers' on the weights of
    the transformers model, saved as a Hugging Face folder."""
    ms.set_context(mode=ms.PYNATIVE_MODE)
    config = CONFIGS[family](**(config_keys or {}))
    hf = hf_model(config, **hf_keys)
    ours = build(family, **(config_keys or {}))
    ours.load_weights(saved(hf, tmp_path / "hf"))
    ids = np.random.default_rng(1).integers(3, config.vocab_size, (2, 12)).astype(np.int64)
    with torch.no_grad():
        expected = hf(torch.from_numpy(ids)).logits.numpy()
    got = logits_of(ours, ids)
    assert got.shape == expected.shape == (2, 12, config.vocab_size)
    np.testing.assert_allclose(got, expected, atol=2e-4, rtol=1e-4)
    return got, ids
