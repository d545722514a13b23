"""Shared by the tests: hard strings every tokenizer must encode as its reference does."""

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
