"""``tokenizer_config.json``: the Hugging Face file that names a folder's tokenizer class and options."""

import json
from pathlib import Path

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


def read_tokenizer_config(folder):
    """The options of ``folder/tokenizer_config.json`` (Hugging Face's bookkeeping keys dropped), or {}."""
    path = Path(folder) / CONFIG_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise TokenizerError(f"invalid JSON: {e.msg}", file=path, line=e.lineno) from None
    except UnicodeDecodeError:
        raise TokenizerError("not UTF-8 text; expected a JSON object", file=path) from None
    if not isinstance(data, dict):
        raise TokenizerError("expected a JSON object", file=path)
    if data.get("add_prefix_space"):
        raise TokenizerError("add_prefix_space=true is not supported; expected false or no key", file=path,
                             key="add_prefix_space")
    return {k: v for k, v in data.items() if k not in HF_BOOKKEEPING_KEYS and k != "add_prefix_space"}
