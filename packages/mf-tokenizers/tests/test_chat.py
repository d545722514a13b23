"""Chat templates: the alpaca prompt of finetuning and errors for bad conversations or templates."""

import pytest

from mf_tokenizers import TokenizerError, alpaca_prompt

NO_INPUT = ("Below is an instruction that describes a task. Write a response that appropriately completes the "
            "request.\n\n### Instruction:\n{instruction}\n\n### Response:")
WITH_INPUT = ("Below is an instruction that describes a task, paired with an input that provides further context. "
              "Write a response that appropriately completes the request.\n\n### Instruction:\n{instruction}\n\n"
              "### Input:\n{input}\n\n### Response:")


def test_alpaca_prompt_is_stanford_alpacas(mf_assets):
    import json

    records = json.loads((mf_assets / "text" / "alpaca_pydocs.json").read_text(encoding="utf-8"))
    for record in records[:300]:
        expected = (WITH_INPUT if record["input"] else NO_INPUT).format_map(record)
        assert alpaca_prompt(record["instruction"], record["input"]) == expected


def test_alpaca_template_with_response(llama, sp_reference):
    chat = [{"role": "user", "content": "Add them.", "input": "1 2"}, {"role": "assistant", "content": "3"}]
    text = llama.apply_chat_template(chat, chat_template="alpaca", tokenize=False)
    assert text == WITH_INPUT.format(instruction="Add them.", input="1 2") + "3</s>"
    ids = llama.apply_chat_template(chat, chat_template="alpaca")
    assert ids[-1] == llama.eos_token_id
    assert ids[:-1] == sp_reference.encode(text[:-len("</s>")])


def test_llama_has_no_default_template_and_bad_input(llama, llama3):
    with pytest.raises(TokenizerError, match="no chat template"):
        llama.apply_chat_template([{"role": "user", "content": "hi"}])
    with pytest.raises(TokenizerError, match="message 0 must be a dict with 'role' and 'content'"):
        llama3.apply_chat_template([{"role": "user"}])
    with pytest.raises(TokenizerError, match="invalid chat template"):
        llama3.apply_chat_template([{"role": "user", "content": "x"}], chat_template="{% for %}")
    with pytest.raises(TokenizerError, match="only user turns"):
        llama3.apply_chat_template([{"role": "system", "content": "x"}],
                                   chat_template="{{ raise_exception('only user turns') }}")
