"""mf-tokenizers installed alone (no mindspore, torch or transformers): tokenizers pickled into process pools
started by fork, spawn and forkserver encode exactly as sentencepiece and tiktoken do in the parent.
Run by `nox -s standalone-mf-tokenizers` in an environment holding only `uv pip install ./packages/mf-tokenizers`;
it also passes in the development environment. Argument: the shared assets folder (default $MF_ASSETS, else
shared/assets beside the repository).
"""

import importlib.util
import multiprocessing
import os
import sys
from pathlib import Path

import sentencepiece
import tiktoken
from tiktoken.load import load_tiktoken_bpe

from mf_tokenizers import AutoTokenizer, Llama3Tokenizer

HEAVY = ("torch", "mindspore", "transformers")


def assets_folder():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if args:
        return Path(args[0])
    if os.environ.get("MF_ASSETS"):
        return Path(os.environ["MF_ASSETS"])
    here = Path(__file__).resolve()
    return next(p / "shared" / "assets" for p in here.parents if (p / "shared" / "assets" / "text").is_dir())


TOKENIZER = None


def receive(tok):
    """Pool initializer: under spawn and forkserver the tokenizer arrives pickled, once per worker."""
    global TOKENIZER
    TOKENIZER = tok


def encode(lines):
    """A worker's job; also say what the worker imported."""
    return TOKENIZER(lines, add_special_tokens=False)["input_ids"], sorted(m for m in HEAVY if m in sys.modules)


def oracles(assets):
    """(our tokenizer, the raw library's encode of a list of lines) for SentencePiece and tiktoken."""
    sp_path = assets / "tokenizers" / "mistral-7b-v0.1.sp.model"
    sp = sentencepiece.SentencePieceProcessor(model_file=str(sp_path))
    ranks = assets / "tokenizers" / "cl100k_base.tiktoken"
    llama3 = Llama3Tokenizer(vocab_file=str(ranks))
    enc = tiktoken.Encoding("cl100k_llama3", pat_str=llama3.pat_str, special_tokens={},
                            mergeable_ranks=load_tiktoken_bpe(str(ranks)))
    return [(AutoTokenizer.from_pretrained(str(sp_path)), lambda lines: sp.encode(lines)),
            (llama3, lambda lines: enc.encode_ordinary_batch(lines))]


def main():
    assets = assets_folder()
    heavy = [m for m in HEAVY if importlib.util.find_spec(m)]
    if "--standalone" in sys.argv:
        assert not heavy, f"not a standalone environment: {heavy} installed"
    lines = (assets / "text" / "pydocs.txt").read_text(encoding="utf-8").splitlines()[:2000]
    chunks = [lines[i:i + 250] for i in range(0, len(lines), 250)]
    pairs = oracles(assets)
    for method in ("fork", "spawn", "forkserver"):
        for tok, raw in pairs:
            with multiprocessing.get_context(method).Pool(2, initializer=receive, initargs=(tok,)) as pool:
                results = pool.map(encode, chunks)
                assert [ids for ids, _ in results] == [raw(chunk) for chunk in chunks], (method, type(tok).__name__)
                assert all(not loaded for _, loaded in results), (method, results[0][1])
    assert not [m for m in HEAVY if m in sys.modules]
    print(f"mf-tokenizers standalone: {len(pairs)} tokenizers x fork/spawn/forkserver pools equal sentencepiece and "
          f"tiktoken on {len(lines)} lines; heavy packages installed: {heavy or 'none'}")


if __name__ == "__main__":
    main()
