"""Chat templates come from files (``tokenizer_config.json``): render them sandboxed, in bounded time and size.

Jinja's sandbox stops attribute and method escapes and caps ``range`` at 100000, but two nested ``range`` loops run
for hours and ``'x' * 10**10``, ``'a' | center(10**10)`` or a namespace doubling a string in a loop exhaust memory.
Here every string or list a template builds through ``*``, ``**``, ``+``, ``%``, a call, a filter or a namespace
attribute is checked against ``MAX_CHARS``, the output is streamed and cut at ``MAX_CHARS``, and rendering is
interrupted after ``TIMEOUT`` seconds (an exception raised asynchronously in the rendering thread: CPython).
"""

import ctypes
import functools
import re
import threading

from jinja2.runtime import Namespace
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_CHARS = 8 << 20  # a prompt of a 128k-token context is under 1 MB
TIMEOUT = 5.0
_WIDE_FORMAT = re.compile(r"[%:][^a-zA-Z%{}]*?\d{7,}")  # '%099999999d', '{:>99999999}'


class TemplateLimit(Exception):
    """A chat template went past a bound (its message says which)."""


def _size(value):
    return len(value) if isinstance(value, (str, bytes, list, tuple, dict)) else 0


def _check_size(value, what):
    if _size(value) > MAX_CHARS:
        raise TemplateLimit(f"{what} would build {_size(value)} items; the limit is {MAX_CHARS}")
    return value


def _check_args(args, kwargs, what):
    for a in (*args, *kwargs.values()):
        if isinstance(a, int) and not isinstance(a, bool) and abs(a) > MAX_CHARS:
            raise TemplateLimit(f"{what} with the number {a}; numbers beyond {MAX_CHARS} are refused")
        if isinstance(a, str) and _WIDE_FORMAT.search(a):
            raise TemplateLimit(f"{what} with a format width of 7 digits or more")


class _BoundedNamespace(Namespace):
    """``namespace()`` whose attributes are size-checked (the one way a template keeps state across a loop)."""

    def __setitem__(self, name, value):
        super().__setitem__(name, _check_size(value, f"namespace attribute {name!r}"))


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox with size checks on operators, calls and filters."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.filters = {name: _bounded_filter(name, f) for name, f in self.filters.items()}
        self.globals["namespace"] = _BoundedNamespace

    def call_binop(self, context, operator, left, right):
        if operator == "**" and isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 64:
            raise TemplateLimit(f"{left} ** {right} is too large")
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if _size(seq) and isinstance(n, int) and _size(seq) * max(n, 0) > MAX_CHARS:
                    raise TemplateLimit(f"repeating {_size(seq)} items {n} times passes the limit of {MAX_CHARS}")
        if operator == "%" and isinstance(left, str):
            _check_args((left,), {}, "'%' formatting")
        if operator == "+" and _size(left) + _size(right) > MAX_CHARS:
            raise TemplateLimit(f"joining {_size(left)} and {_size(right)} items passes the limit of {MAX_CHARS}")
        return super().call_binop(context, operator, left, right)

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 - jinja's signature
        _check_args(args, kwargs, f"calling {getattr(__obj, '__name__', 'a function')}")
        return _check_size(super().call(__context, __obj, *args, **kwargs), "a call")

    def wrap_str_format(self, value):
        wrapped = super().wrap_str_format(value)
        if wrapped is not None:
            _check_args((value.__self__,), {}, "str.format")  # '{:>999999999}'.format(1)
        return wrapped


def _bounded_filter(name, f):
    @functools.wraps(f)  # keeps jinja's pass_context/pass_environment marks
    def bounded(*args, **kwargs):
        _check_args(args[1:] if args else args, kwargs, f"the filter {name!r}")
        return _check_size(f(*args, **kwargs), f"the filter {name!r}")

    return bounded


class _Interrupt(BaseException):
    """Raised asynchronously in a rendering thread that ran past its time (a BaseException: nothing in the
    template's Python frames catches it)."""


def render_bounded(template, context, timeout=None):
    """``template.render(**context)``, streamed and cut at MAX_CHARS characters, stopped after ``timeout``
    seconds (TIMEOUT by default); TemplateLimit when a bound is passed."""
    timeout = TIMEOUT if timeout is None else timeout
    tid, lock, state = threading.get_ident(), threading.Lock(), {"running": True, "fired": False}

    def fire():
        with lock:
            if state["running"]:
                state["fired"] = True
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(tid), ctypes.py_object(_Interrupt))

    timer = threading.Timer(timeout, fire)
    timer.daemon = True
    out, size = [], 0
    try:
        try:
            timer.start()
            for piece in template.generate(**context):
                size += len(piece)
                if size > MAX_CHARS:
                    raise TemplateLimit(f"the output passes the limit of {MAX_CHARS} characters")
                out.append(piece)
        finally:
            with lock:
                state["running"] = False
            timer.cancel()
    except _Interrupt:
        pass
    while state["fired"]:  # an interrupt sent but not raised yet must not surface later in the caller
        try:
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(tid), None)
            break
        except _Interrupt:
            continue
    if state["fired"]:
        raise TemplateLimit(f"rendering took more than {timeout} s")
    return "".join(out)
