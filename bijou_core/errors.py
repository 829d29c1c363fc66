"""The one error type users see: a single line naming the place and what was expected."""

from __future__ import annotations


class BijouError(Exception):
    """A user-facing error; the CLI prints its message as one line, without a traceback."""


def at(source: str, place: str | int | None, message: str) -> BijouError:
    """Build an error located at ``source`` (a file or a plugin) and ``place`` (a line or a path)."""
    where = source if place in (None, "") else f"{source}:{place}"
    return BijouError(f"{where}: {message}")
