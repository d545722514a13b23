"""Tiny `transformers` models of our configs (their config.json is ``mf_config.hf.to_hf_dict``'s), saved as
Hugging Face folders for our networks to load."""

import torch
import transformers

from mf_config.hf import to_hf_dict


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
