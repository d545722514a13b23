"""Reliability tests' budget and helpers, for every package's fuzzing and fault-injection tests.

``budget`` (a fixture): how many fuzz cases and random kills a test runs: small in CI (seconds), large with
``pytest --long`` or ``MF_LONG=1``. ``fuzz_settings(budget)``: hypothesis settings with that fixed, derandomised
budget; ``hang_guard(s)``: a per-case timeout. ``tally(kind, n)`` counts fuzz cases, injected faults, kills and
races; the totals are printed at the end of the run (the root README's RELIABILITY section quotes them).
The pytest hooks here are registered by the mf pytest plugin (:mod:`mf_config.pytest_plugin`), which a suite
loads through its conftest.py.
"""

import collections
import contextlib
import dataclasses
import os
import signal

import pytest

TALLY = collections.Counter()


def pytest_addoption(parser):
    parser.addoption("--long", action="store_true", default=False,
                     help="mf reliability tests with large budgets (fuzz cases, random kills)")


@dataclasses.dataclass(frozen=True)
class Budget:
    """Fuzz cases per property, random kills per writer, and the per-case timeout (seconds) that marks a hang."""

    fuzz: int
    kills: int
    timeout: float
    long: bool


@pytest.fixture(scope="session")
def budget(request):
    """The reliability budget: CI's (seconds) or, with ``--long`` / ``MF_LONG=1``, a large one."""
    long = bool(request.config.getoption("--long")) or os.environ.get("MF_LONG") == "1"
    return Budget(fuzz=3000, kills=40, timeout=30.0, long=True) if long else \
        Budget(fuzz=120, kills=3, timeout=20.0, long=False)


def fuzz_settings(budget, **kwargs):
    """hypothesis settings for a fuzz test: ``budget.fuzz`` examples, derandomised (CI sees the same cases every
    run; ``--long`` explores), no deadline (hangs are caught by :func:`hang_guard`, not by timing)."""
    from hypothesis import HealthCheck, settings

    return settings(max_examples=budget.fuzz, deadline=None, derandomize=not budget.long, database=None,
                    suppress_health_check=list(HealthCheck), **kwargs)


class Hang(Exception):
    """A fuzz case ran past its time limit."""


@contextlib.contextmanager
def hang_guard(seconds):
    """Raise :class:`Hang` in the block after ``seconds`` (SIGALRM; main thread)."""

    def fire(signum, frame):
        raise Hang(f"a case ran for more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def tally(kind, n=1):
    """Count reliability cases: ``fuzz`` cases, injected ``faults``, ``kills`` (random signals), ``races``."""
    TALLY[kind] += n


def pytest_terminal_summary(terminalreporter):
    if TALLY:
        terminalreporter.write_line("mf reliability: " + ", ".join(f"{n} {k}" for k, n in sorted(TALLY.items())))
