import pytest

HARD_STRINGS = [
    "",
    " ",
    "  ",
    "\n",
    "\n\n\n",
    "\t\t tab\tand  spaces   ",
    "  leading and trailing spaces  ",
    "Hello, world!",
    "naïve café, Zürich, Ελληνικά, русский, 日本語のテキスト, 한국어, עברית, العربية",
    "emoji 🤗🎉👩‍👩‍👧‍👦 and flags 🇫🇷🇯🇵",
    "byte fallback: 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ꙮ \u2028 \u00a0 \ufeff \u200b",
    "numbers 1234567890 3.14159 1,000,000 ½",
    "code:\n    def f(x):\n        return x ** 2  # comment\n",
    "it's they're we've I'm you'll he'd IT'S",
    "line one\r\nline two\rline three\n\n\nfour",
    "<unk> <s> </s> <|endoftext|> <|begin_of_text|> literal specials",
    "a" * 300 + " " + "ab" * 200,
    "   \n  \t \n",
]


@pytest.fixture(scope="session")
def tokenizers_dir(mf_assets):
    return mf_assets / "tokenizers"


@pytest.fixture(scope="session")
def sp_model(tokenizers_dir):
    return tokenizers_dir / "mistral-7b-v0.1.sp.model"


@pytest.fixture(scope="session")
def pydocs_lines(mf_assets):
    """Every line of pydocs.txt (without its newline)."""
    return (mf_assets / "text" / "pydocs.txt").read_text(encoding="utf-8").split("\n")


@pytest.fixture(scope="session")
def llama(sp_model):
    from mf_tokenizers import LlamaTokenizer

    return LlamaTokenizer(sp_model)


@pytest.fixture(scope="session")
def sp_reference(sp_model):
    import sentencepiece

    return sentencepiece.SentencePieceProcessor(model_file=str(sp_model))
