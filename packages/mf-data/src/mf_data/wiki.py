"""WikiText raw tokens to clean article texts, as MindFormers' GPT-2 ``wikitext2_data_process.py`` cleans them.

Articles start at a `` = Title = `` line. As in the GPT-2 script, heading lines are dropped, each line is
stripped and cleaned, the lines of a section are joined with a space and the sections with a newline.
Unlike the script, the last article is kept and articles are kept apart (each ends with EOS when tokenized).
"""

import re
from collections.abc import Iterable, Iterator

_BRACKETS = [  # the script's regexes, for one line
    (r"\(\s*([^\)]*?)\s*\)", r"(\1)"),
    (r"\[\s*([^\]]*?)\s*\]", r"[\1]"),
    (r"{\s*([^}]*?)\s*}", r"{\1}"),
    (r"\"\s*([^\"]*?)\s*\"", r'"\1"'),
    (r"'\s*([^']*?)\s*'", r"'\1'"),
]
_SUBS = [(re.compile(pattern), repl) for pattern, repl in _BRACKETS]
# the same for lines joined by newlines: no match crosses a newline, so each line is cleaned as if alone
_SUBS_BY_LINE = [(re.compile(pattern.replace("[^", "[^\\n").replace(r"\s", r"[^\S\n]")), repl)
                 for pattern, repl in _BRACKETS]


def wikitext_clean(string: str) -> str:
    """The GPT-2 script's ``wikitext_clean``: detokenize `` @-@ ``, punctuation, brackets, quotes."""
    return _clean(string, _SUBS, newlines=True)


def clean_lines(lines: list[str]) -> list[str]:
    """``[wikitext_clean(line) for line in lines]`` for lines without newlines, in one pass over them all
    (a fraction of the time of a call per line)."""
    text = "\n".join(lines)
    if not lines or text.count("\n") != len(lines) - 1:
        return [wikitext_clean(line) for line in lines]
    return _clean(text, _SUBS_BY_LINE, newlines=False).split("\n")


def _clean(string, subs, newlines):
    """The script's steps in its order; ``newlines``: with its two replacements around newlines (which do
    nothing within a line)."""
    # contractions
    string = string.replace("s '", "s'")
    string = re.sub(r"/' [0-9]/", r"/'[0-9]/", string)
    # number separators
    string = string.replace(" @-@ ", "-")
    string = string.replace(" @,@ ", ",")
    string = string.replace(" @.@ ", ".")
    # punctuation
    string = string.replace(" : ", ": ")
    string = string.replace(" ; ", "; ")
    string = string.replace(" . ", ". ")
    string = string.replace(" .", ".")
    string = string.replace(" ! ", "! ")
    string = string.replace(" ? ", "? ")
    string = string.replace(" , ", ", ")
    # double brackets
    for pattern, repl in subs:
        string = pattern.sub(repl, string)
    # miscellaneous
    string = string.replace("= = = =", "====")
    string = string.replace("= = =", "===")
    string = string.replace("= =", "==")
    string = string.replace(" " + chr(176) + " ", chr(176))
    if newlines:
        string = string.replace(" \n", "\n")
        string = string.replace("\n ", "\n")
    string = string.replace(" N ", " 1 ")
    string = string.replace(" 's", "'s")
    return string


_HEADING = re.compile(r"^((?:= )+)\S.*?((?: =)+)$")


def _heading_level(line):
    """1 for a `` = Title = `` line, 2 for `` = = Section = = ``..., 0 for text (tables of ``===`` included)."""
    m = _HEADING.match(line)
    return 0 if m is None else len(m.group(1)) // 2


def raw_articles(lines):
    """Articles of a WikiText file as lists of sections, each a list of stripped text lines (not yet cleaned)."""
    sections, passage = [], []
    for _, raw in lines:
        line = raw.strip()
        if not line:
            continue
        level = _heading_level(line)
        if level:
            if passage:
                sections.append(passage)
                passage = []
            if level == 1 and sections:
                yield sections
                sections = []
            continue
        passage.append(line)
    if passage:
        sections.append(passage)
    if sections:
        yield sections


def article_text(sections):
    """The clean text of a raw article: lines cleaned and joined by spaces, sections by newlines."""
    cleaned = iter(clean_lines([line for passage in sections for line in passage]))
    return "\n".join(" ".join(next(cleaned) for _ in passage) for passage in sections)


def articles(lines: Iterable[tuple[int, str]]) -> Iterator[str]:
    """Clean article texts from ``(line_number, text)`` pairs of a WikiText file."""
    return map(article_text, raw_articles(lines))
