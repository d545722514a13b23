"""WikiText raw tokens to clean article texts, as MindFormers' GPT-2 ``wikitext2_data_process.py`` cleans them.

Articles start at a `` = Title = `` line. As in the GPT-2 script, heading lines are dropped, each line is
stripped and cleaned, the lines of a section are joined with a space and the sections with a newline.
Unlike the script, the last article is kept and articles are kept apart (each ends with EOS when tokenized).
"""

import re

_SUBS = [
    (re.compile(r"\(\s*([^\)]*?)\s*\)"), r"(\1)"),
    (re.compile(r"\[\s*([^\]]*?)\s*\]"), r"[\1]"),
    (re.compile(r"{\s*([^}]*?)\s*}"), r"{\1}"),
    (re.compile(r"\"\s*([^\"]*?)\s*\""), r'"\1"'),
    (re.compile(r"'\s*([^']*?)\s*'"), r"'\1'"),
]


def wikitext_clean(string):
    """The GPT-2 script's ``wikitext_clean``: detokenize `` @-@ ``, punctuation, brackets, quotes."""
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
    for pattern, repl in _SUBS:
        string = pattern.sub(repl, string)
    # miscellaneous
    string = string.replace("= = = =", "====")
    string = string.replace("= = =", "===")
    string = string.replace("= =", "==")
    string = string.replace(" " + chr(176) + " ", chr(176))
    string = string.replace(" \n", "\n")
    string = string.replace("\n ", "\n")
    string = string.replace(" N ", " 1 ")
    string = string.replace(" 's", "'s")
    return string


def _is_heading(line):
    return line.startswith("=") and line.endswith("=")


def _is_title(line):
    return _is_heading(line) and not line.startswith("= =")


def articles(lines):
    """Clean article texts from ``(line_number, text)`` pairs of a WikiText file."""
    sections, passage = [], []
    for _, raw in lines:
        line = raw.strip()
        if not line:
            continue
        if _is_heading(line):
            if passage:
                sections.append(" ".join(passage))
                passage = []
            if _is_title(line) and sections:
                yield "\n".join(sections)
                sections = []
            continue
        passage.append(wikitext_clean(line))
    if passage:
        sections.append(" ".join(passage))
    if sections:
        yield "\n".join(sections)
