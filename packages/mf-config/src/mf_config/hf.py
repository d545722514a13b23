"""Hugging Face ``config.json`` <-> our model configs, driven by the family specs (``mf_config.spec``).

``from_hf_dict(d)`` picks the family from ``model_type``; ``to_hf_dict(config)`` writes what ``transformers``
reads. A family's ``hf_keys`` pairs map keys one to one; its ``hf_read``/``hf_write`` hooks say the rest.
Keys of the HF file that have no counterpart are kept as extra keys of our config (prefixed ``hf_``), so a
round trip keeps them too.
"""

from typing import Any

from mf_config.spec import family_for_hf, family_of

DTYPES = ("float32", "float16", "bfloat16")
# HF keys our side derives or never needs, dropped on the way in
DERIVED = {"model_type", "transformers_version", "architectures", "torch_dtype", "dtype", "rope_scaling",
           "head_dim", "hidden_act", "activation_function", "n_inner", "n_ctx", "n_embed", "num_attention_heads",
           "num_hidden_layers", "use_cache", "max_position_embeddings", "rope_parameters"}
EXTRA_PREFIX = "hf_"
MODEL_TYPE_KEY = EXTRA_PREFIX + "model_type"


def model_type_of(config: Any) -> str:
    """The HF ``model_type`` of one of our configs."""
    return family_of(config).hf_model_type


def from_hf_dict(hf: dict) -> Any:
    """Our config for a Hugging Face ``config.json`` dict."""
    model_type = hf.get("model_type")
    spec = family_for_hf(model_type)
    hf = dict(hf)
    kwargs = {ours: hf[theirs] for theirs, ours in spec.hf_keys if theirs in hf}
    used = {theirs for theirs, _ in spec.hf_keys}
    if spec.hf_read is not None:
        used |= spec.hf_read(hf, kwargs)
    dtype = hf.get("torch_dtype") or hf.get("dtype") or "float32"
    if dtype in DTYPES:
        kwargs["compute_dtype"] = kwargs["param_init_type"] = dtype
    for key, value in hf.items():
        if key not in used and key not in DERIVED:
            kwargs[f"{EXTRA_PREFIX}{key}"] = value
    config = spec.config_class(**kwargs)
    if family_of(config) is not spec:  # another family would claim it (Mistral is a Llama): say which it is
        setattr(config, MODEL_TYPE_KEY, model_type)
    return config


def to_hf_dict(config: Any) -> dict:
    """The Hugging Face ``config.json`` dict for one of our configs."""
    spec = family_of(config)
    hf = {"architectures": [spec.hf_architectures[0]], "model_type": spec.hf_model_type}
    for theirs, ours in spec.hf_keys:
        value = getattr(config, ours)
        if value is not None:
            hf[theirs] = value
    if spec.hf_write is not None:
        spec.hf_write(config, hf)
    hf["torch_dtype"] = config.param_init_type
    hf["use_cache"] = True
    for key in config.extra_keys():
        if key.startswith(EXTRA_PREFIX) and key != MODEL_TYPE_KEY:
            hf[key[len(EXTRA_PREFIX):]] = getattr(config, key)
    return hf
