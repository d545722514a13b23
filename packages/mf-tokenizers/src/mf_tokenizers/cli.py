"""The `mf-tokenizers` command: encode, decode, info, convert."""

import contextlib
import json
import sys
import time

import click

from mf_config.cli_support import group
from mf_config.fileio import atomic_write
from mf_tokenizers import __version__
from mf_tokenizers.errors import TokenizerError

BATCH_LINES = 4096


@group(__version__, "mf-tokenizers")
def main() -> None:
    """Tokenizers of the four model families (SentencePiece, tiktoken, HF tokenizers); no mindspore or torch."""


def _load(path, overrides=()):
    from mf_tokenizers.auto import AutoTokenizer

    return AutoTokenizer.from_pretrained(path, overrides=overrides)


@contextlib.contextmanager
def _output(path, inputs=()):
    if path is None:
        yield sys.stdout
    else:
        with atomic_write(path, inputs=[i for i in inputs if i is not None]) as f:
            yield f


def _lines(path, errors):
    """(line number, text) of each input line, decoded as UTF-8 (``errors``: strict or replace)."""
    stream = sys.stdin.buffer if path is None else open(path, "rb")  # noqa: SIM115 - closed below
    name = "<stdin>" if path is None else path
    try:
        for lineno, raw in enumerate(stream, 1):
            raw = raw.rstrip(b"\n").rstrip(b"\r")
            try:
                yield lineno, raw.decode("utf-8", errors=errors)
            except UnicodeDecodeError as e:
                raise TokenizerError(f"invalid UTF-8 at byte {e.start} of the line; fix the input or pass "
                                     "--errors replace", file=name, line=lineno) from None
    finally:
        if path is not None:
            stream.close()


def _batches(items):
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == BATCH_LINES:
            yield batch
            batch = []
    if batch:
        yield batch


def _progress():
    from tqdm import tqdm

    return tqdm(unit=" lines", file=sys.stderr, disable=None, leave=False)


def _summary(verb, lines, tokens, seconds):
    rate = tokens / seconds if seconds > 0 else float("inf")
    click.echo(f"{verb} {lines} lines, {tokens} tokens in {seconds:.2f} s ({rate:,.0f} tokens/s)", err=True)


input_option = click.option("--input", "input_path", type=click.Path(dir_okay=False), default=None,
                            help="Input file (default: stdin).")
output_option = click.option("--output", "output_path", type=click.Path(dir_okay=False), default=None,
                             help="Output file, written atomically (default: stdout).")
tokenizer_option = click.option("--tokenizer", "--vocab_file", "tokenizer_path", required=True,
                                help="Tokenizer folder, vocabulary file or MindFormers YAML.")
set_option = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                          help="Override a key of the YAML, e.g. processor.tokenizer.vocab_file=PATH (repeatable).")
format_option = click.option("--format", "fmt", type=click.Choice(["ids", "jsonl"]), default="ids",
                             show_default=True, help="ids: space-separated ids a line; jsonl: {\"input_ids\": [...]}.")


@main.command()
@tokenizer_option
@set_option
@input_option
@output_option
@format_option
@click.option("--add-special-tokens/--no-add-special-tokens", default=True, show_default=True,
              help="Add the tokenizer's special tokens (bos/eos) to each line.")
@click.option("--errors", type=click.Choice(["strict", "replace"]), default="strict", show_default=True,
              help="Invalid UTF-8 input: stop with the line number, or replace it with U+FFFD.")
def encode(tokenizer_path: str, overrides: tuple[str, ...], input_path: str | None, output_path: str | None, fmt: str,
           add_special_tokens: bool, errors: str) -> None:
    """Encode each input line to one output line of token ids; a summary goes to stderr.

    \b
    Example:
      mf-tokenizers encode --tokenizer tokenizer.model --input pydocs.txt --output ids.txt
    """
    tok = _load(tokenizer_path, overrides)
    lines = tokens = 0
    start = time.perf_counter()
    with _output(output_path, [input_path, tokenizer_path]) as out, _progress() as bar:
        for batch in _batches(_lines(input_path, errors)):
            texts = [text for _, text in batch]
            ids = tok(texts, add_special_tokens=add_special_tokens, return_attention_mask=False)["input_ids"]
            for seq in ids:
                out.write(" ".join(map(str, seq)) + "\n" if fmt == "ids" else json.dumps({"input_ids": seq}) + "\n")
            lines += len(batch)
            tokens += sum(map(len, ids))
            bar.update(len(batch))
    _summary("encoded", lines, tokens, time.perf_counter() - start)


def _parse_ids(text, fmt, name, lineno):
    try:
        if fmt == "jsonl":
            ids = json.loads(text)["input_ids"]
            if not all(isinstance(i, int) for i in ids):
                raise ValueError
            return ids
        return [int(x) for x in text.split()]
    except (ValueError, KeyError, TypeError):
        expected = 'a JSON object {"input_ids": [ints]}' if fmt == "jsonl" else "space-separated integer ids"
        raise TokenizerError(f"expected {expected}, got {text[:60]!r}", file=name, line=lineno) from None


@main.command()
@tokenizer_option
@set_option
@input_option
@output_option
@format_option
@click.option("--skip-special-tokens/--keep-special-tokens", default=False, show_default=True,
              help="Drop special tokens (bos/eos/pad) from the text.")
def decode(tokenizer_path: str, overrides: tuple[str, ...], input_path: str | None, output_path: str | None, fmt: str,
           skip_special_tokens: bool) -> None:
    """Decode each input line of token ids to one line of text; a summary goes to stderr.

    \b
    Example:
      mf-tokenizers decode --tokenizer tokenizer.model --input ids.txt --skip_special_tokens
    """
    tok = _load(tokenizer_path, overrides)
    name = input_path or "<stdin>"
    lines = tokens = 0
    start = time.perf_counter()
    with _output(output_path, [input_path, tokenizer_path]) as out, _progress() as bar:
        for batch in _batches(_lines(input_path, "strict")):
            seqs = [_parse_ids(text, fmt, name, lineno) for lineno, text in batch]
            try:
                texts = tok.batch_decode(seqs, skip_special_tokens=skip_special_tokens)
            except TokenizerError as e:
                raise TokenizerError(f"{e.message} (in lines {batch[0][0]}-{batch[-1][0]})", file=name) from None
            for text in texts:
                out.write(text + "\n")
            lines += len(batch)
            tokens += sum(map(len, seqs))
            bar.update(len(batch))
    _summary("decoded", lines, tokens, time.perf_counter() - start)


@main.command()
@click.argument("path", required=False)
@click.option("--tokenizer", "--vocab_file", "tokenizer_path", default=None,
              help="Tokenizer folder, vocabulary file or MindFormers YAML (or give it as PATH).")
@set_option
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def info(path: str | None, tokenizer_path: str | None, overrides: tuple[str, ...], as_json: bool) -> None:
    """Show a tokenizer's class, vocabulary size and special tokens.

    \b
    Example:
      mf-tokenizers info --tokenizer tokenizer.model      (or: mf-tokenizers info tokenizer.model)
    """
    if (path is None) == (tokenizer_path is None):
        raise TokenizerError("name the tokenizer once: --tokenizer PATH (or PATH alone)", key="--tokenizer")
    tok = _load(path or tokenizer_path, overrides)
    data = {"class": type(tok).__name__, "vocab_size": tok.vocab_size, "len": len(tok),
            "special_tokens": {k: [v, tok.convert_tokens_to_ids(v)] for k, v in tok.special_tokens_map.items()
                               if k != "additional_special_tokens"},
            "additional_special_tokens": len(tok.special_tokens_map.get("additional_special_tokens", [])),
            "add_bos_token": tok.add_bos_token, "add_eos_token": tok.add_eos_token,
            "model_max_length": tok.model_max_length, "chat_template": bool(tok.chat_template
                                                                             or tok.default_chat_template)}
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False))
        return
    click.echo(f"class: {data['class']}")
    click.echo(f"vocab_size: {data['vocab_size']} (with added tokens: {data['len']})")
    for key, (token, idx) in data["special_tokens"].items():
        click.echo(f"{key}: {token} = {idx}")
    for key in ("additional_special_tokens", "add_bos_token", "add_eos_token", "model_max_length", "chat_template"):
        click.echo(f"{key}: {data[key]}")


@main.command()
@tokenizer_option
@set_option
@click.option("--output", "output_dir", required=True, type=click.Path(file_okay=False),
              help="Folder to write (tokenizer_config.json plus the vocabulary files).")
@click.option("--to", "target", type=click.Choice(["tokenizer.json", "vocab-merges"]), default="tokenizer.json",
              show_default=True, help="tokenizer.json (Hugging Face tokenizers) or vocab.json + merges.txt (GPT-2).")
def convert(tokenizer_path: str, overrides: tuple[str, ...], output_dir: str, target: str) -> None:
    """Convert a tokenizer (SentencePiece, tiktoken ranks, vocab.json + merges.txt) to another format.

    \b
    Example:
      mf-tokenizers convert --tokenizer tokenizer.model --output mistral-fast/
    """
    from mf_config.fileio import atomic_dir
    from mf_tokenizers.convert import to_fast, to_vocab_merges

    start = time.perf_counter()
    tok = _load(tokenizer_path, overrides)
    out = to_fast(tok) if target == "tokenizer.json" else to_vocab_merges(tok)
    with atomic_dir(output_dir, inputs=[tokenizer_path]) as tmp:
        paths = out.save_pretrained(tmp)
    click.echo(f"wrote {type(out).__name__} to {output_dir} ({', '.join(p.name for p in paths)}) in "
               f"{time.perf_counter() - start:.2f} s", err=True)
