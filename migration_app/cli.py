"""The `migration-app` console script.

Faust's own CLI (`app.main()`) runs everything that needs the app: `worker`, our `@app.command`s
(`dev`, `devstack`, `enqueue`, `status`, `preflight`) and Faust's built-ins. The standalone dev
servers (`sandbox`, `registry`) are dispatched before the app is imported: they need no settings.
"""

from __future__ import annotations

import importlib
import os
import sys

STANDALONE_SERVERS = {
    "sandbox": "migration_app.devstack.sandbox.__main__",
    "registry": "migration_app.devstack.registry_server.__main__",
}
DEV_COMMANDS = {"dev", "devstack"}


def _command(argv: list[str]) -> str | None:
    return next((arg for arg in argv if not arg.startswith("-")), None)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = _command(argv)
    if command in STANDALONE_SERVERS:
        module = importlib.import_module(STANDALONE_SERVERS[command])
        rest = argv[argv.index(command) + 1 :]
        return int(module.main(rest) or 0)
    if command in DEV_COMMANDS:
        os.environ.setdefault("MIGRATION_DEV_MODE", "true")

    from migration_app.settings import SettingsError

    try:
        from migration_app.app import app
    except SettingsError as exc:
        print(f"migration-app: {exc}", file=sys.stderr)
        return 2
    sys.argv = [sys.argv[0], *argv]
    app.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
