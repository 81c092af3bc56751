"""The one place where errors meet the user: one line on stderr and exit code 1.

A mistake of the user's (a missing or unreadable path, a file that is not what it should be, a bad
value) reaches the command as a ``ValueError`` or an ``OSError`` from the libraries, or as a
:class:`CliError` from the command itself. :class:`RelnetGroup`, the root command group, turns
any of them into ``error: <message>`` on stderr and exit code 1; ``relnet --debug ...`` re-raises
instead, with the traceback. Usage errors (an unknown option, a value that does not parse) stay
Click's, exit code 2. Ctrl-C is one line and exit code 130.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import typer
from typer.core import TyperGroup


class CliError(Exception):
    """A problem the command itself found in its input; the message names the file or value."""


USER_ERRORS: tuple[type[Exception], ...] = (CliError, ValueError, OSError)


def one_line(err: BaseException) -> str:
    """The error's message on one line, ``OSError``'s as ``PATH: reason`` (no ``[Errno N]``)."""
    if isinstance(err, OSError) and err.strerror and err.filename is not None:
        paths = [os.fsdecode(err.filename)]
        if err.filename2 is not None:
            paths.append(os.fsdecode(err.filename2))
        text = f"{' -> '.join(paths)}: {err.strerror}"
    else:
        text = str(err) or type(err).__name__
    return " ".join(text.split())


def report(err: BaseException) -> None:
    """Print ``error: <message>`` on stderr."""
    typer.echo(f"error: {one_line(err)}", err=True)


class RelnetGroup(TyperGroup):
    """The root group: user errors become one line and exit code 1 unless ``--debug`` was given."""

    def invoke(self, ctx: Any) -> Any:  # a click Context (typer >= 0.25 vendors its own click)
        try:
            return super().invoke(ctx)
        except BrokenPipeError:  # `relnet ... | head`: the reader left; nothing to say
            _silence_stdout()
            raise typer.Exit(code=141) from None
        except USER_ERRORS as err:
            if ctx.params.get("debug"):
                raise
            report(err)
            raise typer.Exit(code=1) from None
        except KeyboardInterrupt:
            if ctx.params.get("debug"):
                raise
            typer.echo("error: interrupted", err=True)
            raise typer.Exit(code=130) from None


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
