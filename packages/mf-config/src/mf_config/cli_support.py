"""What every mf CLI shares: a click group that turns a user's mistake into one line and exit 2."""

import click

from mf_config.cli_options import spell_both_ways
from mf_config.errors import MFError


class UserError(click.ClickException):
    """Printed by click as ``Error: <message>`` on stderr; exit code 2."""

    exit_code = 2


class MFGroup(click.Group):
    """A click group whose commands report MFError and OSError as one line on stderr, exit 2; every option of
    its commands takes both spellings, ``--snake_case`` and ``--kebab-case``."""

    def add_command(self, cmd, name=None):
        super().add_command(spell_both_ways(cmd), name)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except MFError as e:
            raise UserError(str(e)) from None
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as e:
            raise UserError(f"{e.filename}: {e.strerror}") from None


def group(version, prog_name, **kwargs):
    """``@group(__version__, "mf-x")``: the top-level click group of an mf package."""

    def decorate(f):
        f = click.version_option(version, prog_name=prog_name)(f)
        f.__doc__ = (f.__doc__ or "").rstrip() + "\n\nEvery --snake_case option also answers to --kebab-case."
        return click.group(prog_name, cls=MFGroup, context_settings={"help_option_names": ["-h", "--help"]},
                           **kwargs)(f)

    return decorate
