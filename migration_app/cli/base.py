"""What the commands share: Faust commands that need no app, and the settings they run with.

Defining a ``faust.cli.Command`` subclass registers it on Faust's ``cli`` group, so importing a
command module (``migration_app.cli.COMMANDS``) is what adds its command; none of them builds
the worker's app. Commands read their settings when they run (``SettingsCommand``), so
``--help`` works with an empty environment.
"""

from __future__ import annotations

import sys
from typing import Any

import click
from faust.cli import Command

from migration_app.settings import Settings

DEVSTACK_MISSING = (
    "the dev services are not installed in this environment (they never ship in the image): "
    "from a checkout run `make dev`, or `pip install -e ./devstack`"
)


class DevStackMissing(click.ClickException):
    exit_code = 2

    def __init__(self) -> None:
        super().__init__(DEVSTACK_MISSING)


def load_settings() -> Settings:
    """The settings a command runs with (``SettingsError`` names every missing variable)."""
    return Settings.from_env()


class SettingsCommand(Command):
    """An async command that reads the settings before Faust's worker wrapper starts it, so a
    configuration problem is reported as such and not as a crashed service."""

    abstract = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.settings = load_settings()


class SyncCommand(Command):
    """A command that runs in the foreground without an event loop of its own.

    Faust documents that overriding ``__call__`` gives a non-async command; `dev` and `devstack`
    supervise child processes and need no loop.
    """

    abstract = True

    def __call__(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        code = self.run(*(self.args + args), **{**self.kwargs, **kwargs})
        sys.exit(code or 0)
