"""The ``bijou`` command line: thin click groups over the library."""

from __future__ import annotations

import signal
import sys
import threading

import click

from .. import __version__
from ..errors import BijouError
from . import device_training, devices, models_cmd, plugin_cmd, plugins_cmd
from .base import base
from .bench_cmd import bench
from .eval_cmd import eval_group
from .export_cmd import export
from .run_cmd import run
from .serve_cmd import serve


class BijouGroup(click.Group):
    """A group that shows a ``BijouError`` as one line (``Error: ...``) instead of a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except BijouError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=BijouGroup)
@click.version_option(__version__, prog_name="bijou")
def main() -> None:
    """bijou: spoken commands to validated device calls, with a small on-device model."""
    main_thread = threading.current_thread() is threading.main_thread()
    if main_thread and signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, _exit_on_signal):
        # SIGTERM ends bijou as Ctrl-C does: clean-up runs and half-written temporary files go
        # (a program that runs bijou's CLI in-process and handles SIGTERM itself keeps its handler).
        signal.signal(signal.SIGTERM, _exit_on_signal)


def _exit_on_signal(signum: int, _frame: object) -> None:
    sys.exit(128 + signum)


main.add_command(devices.devices)
main.add_command(plugins_cmd.plugins)
main.add_command(plugin_cmd.plugin)
main.add_command(models_cmd.models)
main.add_command(base)
main.add_command(eval_group)
main.add_command(export)
main.add_command(run)
main.add_command(serve)
main.add_command(bench)

__all__ = ["main", "device_training"]
