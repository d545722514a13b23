"""Chat templates from files are rendered sandboxed, in bounded time and size: loops that would run for hours,
strings of gigabytes, templates that raise, escapes: each one line (TokenizerError), never a hang or a traceback."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mf_config.reliability import fuzz_settings, hang_guard, tally
from mf_tokenizers import TokenizerError
from mf_tokenizers.chat import render

MESSAGES = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]


@pytest.mark.parametrize("template, message", [
    ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "took more than 0.5 s"),
    ("{{ 'x' * 10000000000 }}", "repeating 1 items 10000000000 times"),
    ("{{ 2 ** 99999999 }}", "is too large"),
    ("{{ 'a' | center(10000000000) }}", "the filter 'center' with the number 10000000000"),
    ("{% set ns = namespace(x='ab') %}{% for i in range(100) %}{% set ns.x = ns.x ~ ns.x %}{% endfor %}",
     "namespace attribute 'x' would build"),
    ("{{ '{:>999999999}'.format(1) }}", "str.format with a format width"),
    ("{{ '%0999999999d' % 1 }}", "'%' formatting with a format width"),
    ("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}", "the output passes the limit"),
    ("{{ 1 / 0 }}", "ZeroDivisionError"),
    ("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "RecursionError"),
    ("{{ ''.__class__.__mro__ }}", "SecurityError"),
    ("{{ messages.append(1) }}", "SecurityError"),
    ("{{ raise_exception('no system turn') }}", "chat template: no system turn"),
    ("{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}", "invalid chat template"),
    ("{% for %}", "invalid chat template"),
])
def test_a_hostile_template_is_one_line(template, message):
    with hang_guard(30), pytest.raises(TokenizerError, match=message) as e:
        render(template, MESSAGES, timeout=0.5)
    assert "\n" not in str(e.value) and str(e.value).startswith("chat_template: ")


def test_a_normal_template_renders_within_the_limits():
    assert render("llama3", MESSAGES, special_tokens={"bos_token": "<s>"}, timeout=5).startswith(
        "<s><|start_header_id|>user")


FRAGMENTS = ["{{", "}}", "{%", "%}", "for", "in", "range(", ")", "(", "messages", "message", "loop", ".index0", "if",
             "endif", "endfor", "set", "=", "~", "+", "*", "**", "%", "/", "1", "99999", "'x'", "|", "length", "center",
             "join", "namespace(", "ns.x", "macro", "endmacro", "raise_exception(", "[", "]", "{", "}", ":", ",",
             "'role'", "['content']", "__class__", "recursive", "cycler(", "joiner(", " ", "\n", "{#", "#}", "-"]


def test_fuzz_templates(budget):
    @fuzz_settings(budget)
    @given(st.lists(st.sampled_from(FRAGMENTS), max_size=30))
    def prop(parts):
        tally("fuzz")
        with hang_guard(budget.timeout):
            try:
                assert isinstance(render("".join(parts), MESSAGES, timeout=1), str)
            except TokenizerError as e:
                assert "\n" not in str(e)

    prop()
