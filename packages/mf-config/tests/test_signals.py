"""SIGTERM and SIGHUP clean up like Ctrl-C in every mf CLI (their click group is mf_config.cli_support.group)."""

import signal
import subprocess
import sys
import time

import pytest

from mf_config.faults import leftovers

SCRIPT = """
import signal, sys, time
from mf_config.cli_support import group

# Ctrl-C as in a terminal: a job started in the background by a non-interactive shell (CI) inherits SIGINT ignored
signal.signal(signal.SIGINT, signal.default_int_handler)
from mf_config.fileio import atomic_dir

@group("0", "mf-test")
def main():
    pass

@main.command()
def write():
    with atomic_dir(sys.argv[-1]) as tmp:
        (tmp / "half").write_text("x")
        print("writing", flush=True)
        time.sleep(60)

main(["write"])
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_removes_the_temporaries(tmp_path, sig):
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline() == "writing\n"
    assert leftovers(out)  # its temporary folder and lock
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    expected = 1 if sig == signal.SIGINT else 128 + sig  # click reports Ctrl-C as "Aborted!", exit 1
    assert proc.returncode == expected, err
    assert not out.exists() and not leftovers(out)
    if sig != signal.SIGINT:
        assert err == f"Terminated by {signal.Signals(sig).name} (temporary files removed)\n"


def test_handlers_are_restored_after_main():
    from mf_config.cli import main

    before = signal.getsignal(signal.SIGTERM)
    main(["--version"], standalone_mode=False)
    time.sleep(0)
    assert signal.getsignal(signal.SIGTERM) is before
