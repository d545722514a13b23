"""What every mf CLI shares: a click group that turns a user's mistake into one line and exit 2, and that cleans
up on SIGTERM and SIGHUP as on Ctrl-C."""

import contextlib
import errno
import signal
import sys
import threading

import click

from mf_config.cli_options import spell_both_ways
from mf_config.errors import MFError


class UserError(click.ClickException):
    """Printed by click as ``Error: <message>`` on stderr; exit code 2."""

    exit_code = 2


class Terminated(KeyboardInterrupt):
    """Raised in the main thread by SIGTERM or SIGHUP, so that ``finally`` blocks and the writers' clean-up run
    as they do for Ctrl-C (a KeyboardInterrupt, so code that stops on Ctrl-C stops on these too)."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


def _raise_terminated(signum, frame):
    raise Terminated(signum)


@contextlib.contextmanager
def terminate_cleanly(signals=("SIGTERM", "SIGHUP")):
    """While the block runs (in the main thread), these signals raise :class:`Terminated`; the previous handlers
    come back after it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for name in signals:
        sig = getattr(signal, name, None)
        if sig is not None:
            previous[sig] = signal.signal(sig, _raise_terminated)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _os_error(e):
    if e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return f"no space left on the device writing {e.filename or 'the output'}"
    return f"{e.filename}: {e.strerror}" if e.filename else f"{e.strerror or e}"


class MFGroup(click.Group):
    """A click group whose commands report MFError and OSError as one line on stderr, exit 2, and exit
    128 + N after cleaning up on SIGTERM/SIGHUP (as on Ctrl-C); every option of its commands takes both
    spellings, ``--snake_case`` and ``--kebab-case``."""

    def main(self, *args, **kwargs):
        with terminate_cleanly():
            return super().main(*args, **kwargs)

    def add_command(self, cmd, name=None):
        super().add_command(spell_both_ways(cmd), name)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except MFError as e:
            raise UserError(str(e)) from None
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as e:
            raise UserError(f"{e.filename}: {e.strerror}") from None
        except OSError as e:
            if e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EROFS, errno.EIO):
                raise UserError(_os_error(e)) from None
            raise
        except Terminated as e:
            name = signal.Signals(e.signum).name
            click.echo(f"Terminated by {name} (temporary files removed)", err=True)
            sys.stderr.flush()
            ctx.exit(128 + e.signum)


def group(version, prog_name, **kwargs):
    """``@group(__version__, "mf-x")``: the top-level click group of an mf package."""

    def decorate(f):
        f = click.version_option(version, prog_name=prog_name)(f)
        f.__doc__ = (f.__doc__ or "").rstrip() + "\n\nEvery --snake_case option also answers to --kebab-case."
        return click.group(prog_name, cls=MFGroup, context_settings={"help_option_names": ["-h", "--help"]},
                           **kwargs)(f)

    return decorate
