"""A Confluent-compatible schema registry for dev and tests (production: Confluent's own).

``python -m devstack.registry_server --port 8081 [--data-file store.json]``
"""

from .server import RunningRegistry, build_app, start_registry

__all__ = ["RunningRegistry", "build_app", "main", "start_registry"]


def main(argv: list[str] | None = None) -> int:
    """CLI entry point (imported lazily so ``import`` stays cheap)."""
    from .__main__ import main as _main

    return _main(argv)
