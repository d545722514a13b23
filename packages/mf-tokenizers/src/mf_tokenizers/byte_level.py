"""GPT-2's byte-level alphabet: every byte as one printable unicode character, and the split patterns."""

import functools

GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")


@functools.cache
def bytes_to_unicode():
    """``{byte: char}``: printable bytes map to themselves, the others to chars from U+0100 on."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


@functools.cache
def unicode_to_bytes():
    return {c: b for b, c in bytes_to_unicode().items()}


def token_to_str(token):
    """A token's bytes as its byte-level string (as vocab.json and tokenizer.json write them)."""
    table = bytes_to_unicode()
    return "".join(table[b] for b in token)

