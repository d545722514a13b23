"""``tokenizer_config.json``: the Hugging Face file that names a folder's tokenizer class and options."""

from pathlib import Path

from mf_config import jsonio
from mf_tokenizers.errors import TokenizerError

CONFIG_FILE = "tokenizer_config.json"
# Keys of Hugging Face tokenizer_config.json files that describe the file, not the tokenizer.
HF_BOOKKEEPING_KEYS = frozenset({
    "name_or_path", "tokenizer_file", "auto_map", "processor_class", "special_tokens_map_file",
    "model_input_names", "use_fast", "clean_up_tokenization_spaces", "spaces_between_special_tokens",
    "use_default_system_prompt", "sp_model_kwargs", "extra_special_tokens",
    "do_lower_case", "mask_token", "sep_token", "cls_token", "added_tokens", "tokenizer_type", "backend",
    "is_local", "local_files_only",
})


def _int(x):
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def _token(x):
    return isinstance(x, str) or (isinstance(x, dict) and isinstance(x.get("content"), str))


_TYPES = {  # keys read from the file and used as they are: checked here, not where they fail later
    "model_max_length": (lambda x: _int(x) or (isinstance(x, float) and x >= 0 and x.is_integer()),
                         "a whole number of tokens"),
    "padding_side": (lambda x: x in ("left", "right"), "'left' or 'right'"),
    "truncation_side": (lambda x: x in ("left", "right"), "'left' or 'right'"),
    "add_bos_token": (lambda x: isinstance(x, bool), "true or false"),
    "add_eos_token": (lambda x: isinstance(x, bool), "true or false"),
    "legacy": (lambda x: isinstance(x, bool), "true or false"),
    "split_special_tokens": (lambda x: isinstance(x, bool), "true or false"),
    "tokenizer_class": (lambda x: isinstance(x, str), "a class name"),
    "chat_template": (lambda x: isinstance(x, str) or (isinstance(x, list) and all(
        isinstance(t, dict) and isinstance(t.get("template"), str) for t in x)), "a Jinja template"),
    "additional_special_tokens": (lambda x: isinstance(x, list) and all(map(_token, x)), "a list of tokens"),
    **{k: (_token, "a token (a string)") for k in ("bos_token", "eos_token", "unk_token", "pad_token")},
}


def read_tokenizer_config(folder):
    """The options of ``folder/tokenizer_config.json`` (Hugging Face's bookkeeping keys dropped), or {}."""
    path = Path(folder) / CONFIG_FILE
    if not path.is_file():
        return {}
    data = jsonio.load(path, error=TokenizerError, max_bytes=64 << 20, max_depth=32)
    if not isinstance(data, dict):
        raise TokenizerError("expected a JSON object", file=path)
    for key, (ok, expected) in _TYPES.items():
        if key in data and data[key] is not None and not ok(data[key]):
            raise TokenizerError(f"{str(data[key])[:40]!r} is not {expected}", file=path, key=key)
    if data.get("add_prefix_space"):
        raise TokenizerError("add_prefix_space=true is not supported; expected false or no key", file=path,
                             key="add_prefix_space")
    return {k: v for k, v in data.items() if k not in HF_BOOKKEEPING_KEYS and k != "add_prefix_space"}
