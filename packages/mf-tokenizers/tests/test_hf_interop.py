"""Against Hugging Face transformers (tests only): folders it writes loaded by our AutoTokenizer, folders
we write loaded by its AutoTokenizer, chat templates rendered alike."""

import pytest

from mf_tokenizers import AutoTokenizer, LlamaTokenizerFast, PreTrainedTokenizerFast
from mf_tokenizers.chat import LLAMA3

TEXTS = ["Hello <s> world", "x</s>y", "plain text, nothing special", "a <unk> b", "<s><s>two", "tab\tnew\nline"]


@pytest.fixture(scope="module")
def transformers():
    import transformers

    return transformers


def test_transformers_folder_loads_in_ours(transformers, sp_model, pydocs_lines, tmp_path):
    """transformers 5 converts tokenizer.model to a tokenizer.json folder named LlamaTokenizer."""
    import shutil

    shutil.copy(sp_model, tmp_path / "tokenizer.model")
    transformers.LlamaTokenizer.from_pretrained(tmp_path).save_pretrained(tmp_path / "hf")
    hf = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
    ours = AutoTokenizer.from_pretrained(tmp_path / "hf")
    assert type(ours) is LlamaTokenizerFast
    texts = pydocs_lines[:1000] + TEXTS
    assert ours(texts, add_special_tokens=False)["input_ids"] == hf(texts, add_special_tokens=False)["input_ids"]
    assert ours.bos_token_id == hf.bos_token_id and ours.eos_token_id == hf.eos_token_id


def test_our_folders_load_in_transformers(transformers, llama3, gpt2_fast, llama_fast, pydocs_lines, tmp_path):
    from mf_tokenizers.convert import to_fast

    texts = pydocs_lines[:1000] + TEXTS
    for name, tok in [("llama3", to_fast(llama3)), ("gpt2", gpt2_fast)]:
        tok.save_pretrained(tmp_path / name)
        hf = transformers.AutoTokenizer.from_pretrained(tmp_path / name)
        assert hf(texts)["input_ids"] == tok(texts)["input_ids"]
    # transformers 5 rebuilds a Llama tokenizer's pre-tokenizer as its non-legacy Metaspace: equal on
    # prose, but no dummy prefix for a text that starts with a space or follows a special token
    llama_fast.save_pretrained(tmp_path / "llama")
    hf = transformers.AutoTokenizer.from_pretrained(tmp_path / "llama")
    assert hf(pydocs_lines[:1000])["input_ids"] == llama_fast(pydocs_lines[:1000])["input_ids"]
    assert hf.encode(" lead", add_special_tokens=False) != llama_fast.encode(" lead", add_special_tokens=False)


def test_llama3_chat_template_equals_transformers(transformers, llama3):
    from mf_tokenizers.convert import to_fast

    fast = to_fast(llama3)
    assert isinstance(fast, PreTrainedTokenizerFast)
    hf = transformers.PreTrainedTokenizerFast(tokenizer_object=fast.backend_tokenizer, bos_token="<|begin_of_text|>",
                                              eos_token="<|end_of_text|>")
    chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": " What is 2+2? "},
            {"role": "assistant", "content": "4"}, {"role": "user", "content": "And 3+3?"}]
    expected = hf.apply_chat_template(chat, chat_template=LLAMA3, tokenize=False, add_generation_prompt=True)
    assert llama3.apply_chat_template(chat, tokenize=False, add_generation_prompt=True) == expected
    assert llama3.apply_chat_template(chat, add_generation_prompt=True) == \
        hf.apply_chat_template(chat, chat_template=LLAMA3, add_generation_prompt=True, tokenize=True,
                               return_dict=False)
    assert fast.apply_chat_template([chat, chat[:2]], tokenize=False)[1] == \
        hf.apply_chat_template(chat[:2], chat_template=LLAMA3, tokenize=False)
