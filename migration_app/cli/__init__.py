"""The `migration-app` console script: Faust's own CLI group plus our commands, one module each.

``main`` parses nothing itself: it dispatches the standalone dev servers, then hands over to
Faust's CLI after importing the command modules (``COMMANDS``; defining a command registers it).
Each command module only parses its options, calls the work (``verify/command.py``,
``rollback/command.py``, ``resync/command.py``, ``verify/preflight.py``,
``web/state_client.py``, the publisher, the dev stack) and prints; ``base.py`` holds what they
share.

The worker and Faust's built-ins (`worker`, `agents`, `tables`, ...) load the app from
``migration_app.main`` only when they run, so `--help`, `--version` and `<command> --help` work
with an empty environment. `sandbox` and `registry` are standalone dev servers (argparse, no
settings) dispatched before Faust's CLI; they live in the ``devstack`` package.

The commands: ``dev`` (the embedded stack and a worker), ``dev_services`` (`sandbox`,
`registry`: the devstack servers), ``enqueue``, ``status``, ``preflight``, ``verify``,
``rollback``, ``resync``, ``pending``, ``idmap``; ``base``: what they share.
"""

from __future__ import annotations

import importlib
import os
import sys
from importlib import metadata

from migration_app.settings import SettingsError

WORKER_APP = "migration_app.main"
STANDALONE_SERVERS = {
    "sandbox": "devstack.sandbox.__main__",
    "registry": "devstack.registry_server.__main__",
}
DEV_COMMANDS = {"dev", "devstack"}
#: The modules that define our commands, one each (importing one registers its command);
#: `devstack` lives in dev_services.py: no file of the wheel may be named after the dev services.
COMMANDS = (
    "dev",
    "dev_services",
    "enqueue",
    "idmap",
    "pending",
    "preflight",
    "resync",
    "rollback",
    "status",
    "verify",
)
HELP = """Migrate CRM customers from the legacy Salesforce org (V1) to the new one (V2).

Faust's CLI with the worker app at migration_app.main: `migration-app worker -l info` runs a
worker; `enqueue`, `status` and `preflight` read MIGRATION_* settings when they run; `dev`,
`devstack`, `sandbox` and `registry` need the dev services (`make dev`)."""


def version() -> str:
    try:
        ours = metadata.version("migration-app")
    except metadata.PackageNotFoundError:  # running from a checkout without an install
        ours = "unknown"
    return f"migration-app {ours} (faust-streaming {metadata.version('faust-streaming')})"


def _command(argv: list[str]) -> str | None:
    return next((arg for arg in argv if not arg.startswith("-")), None)


def _standalone(name: str, argv: list[str]) -> int:
    from migration_app.cli.base import DEVSTACK_MISSING

    try:
        module = importlib.import_module(STANDALONE_SERVERS[name])
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] == "devstack":
            print(f"migration-app {name}: {DEVSTACK_MISSING}", file=sys.stderr)
            return 2
        raise
    return int(module.main(argv[argv.index(name) + 1 :]) or 0)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv in (["--version"], ["-V"]):
        print(version())
        return 0
    command = _command(argv)
    if command in STANDALONE_SERVERS:
        return _standalone(command, argv)
    if command in DEV_COMMANDS:
        os.environ.setdefault("MIGRATION_DEV_MODE", "true")

    from faust.cli.faust import cli

    for name in COMMANDS:
        importlib.import_module(f"migration_app.cli.{name}")  # defining a command registers it

    cli.help = HELP

    sys.argv = [sys.argv[0], *argv]
    try:
        # --app defaults to the worker module; Faust imports it only for commands that need it.
        cli.main(args=argv, prog_name="migration-app", default_map={"app": WORKER_APP})
    except SettingsError as exc:
        print(f"migration-app: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:
        if isinstance(exc.code, str):  # a command's refusal: SystemExit("enqueue: ...")
            print(exc.code, file=sys.stderr)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
