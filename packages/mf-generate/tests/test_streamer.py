import threading

import pytest

from mf_generate import TextIteratorStreamer, TextStreamer
from mf_tokenizers import AutoTokenizer

TEXT = "Ünïcode: 龘 𠀋 饕餮 🦀 and ㄅ end"


@pytest.fixture(scope="module")
def tokenizer(mf_assets):
    return AutoTokenizer.from_pretrained(mf_assets / "tokenizers" / "mistral-7b-v0.1.sp.model")


class Collect(TextStreamer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.pieces = []

    def on_text(self, text, stream_end=False):
        self.pieces.append(text)


def test_multibyte_characters_split_across_tokens_come_out_whole(tokenizer):
    ids = tokenizer.encode(TEXT, add_special_tokens=False)
    assert len(ids) > len(TEXT.split()) + 10  # the rare characters are byte-fallback tokens
    prompt, new = ids[:3], ids[3:]
    streamer = Collect(tokenizer, skip_prompt=True)
    streamer.put(prompt)
    for i in new:
        streamer.put([i])
    streamer.end()
    assert "".join(streamer.pieces) == tokenizer.decode(new)
    assert not any("\ufffd" in p for p in streamer.pieces)
    assert len([p for p in streamer.pieces if p]) > 10  # it streamed, not one piece at the end


def test_prompt_is_printed_unless_skipped(tokenizer, capsys):
    ids = tokenizer.encode("Hello world", add_special_tokens=False)
    streamer = TextStreamer(tokenizer)
    streamer.put(ids[:1])
    for i in ids[1:]:
        streamer.put([i])
    streamer.end()
    assert capsys.readouterr().out == "Hello world\n"


def test_iterator_streamer_from_a_thread(tokenizer):
    ids = tokenizer.encode(TEXT, add_special_tokens=False)
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, timeout=10)

    def produce():
        streamer.put(ids[:2])
        for i in ids[2:]:
            streamer.put([i])
        streamer.end()

    thread = threading.Thread(target=produce)
    thread.start()
    text = "".join(streamer)
    thread.join()
    assert text == tokenizer.decode(ids[2:])
