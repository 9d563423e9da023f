"""Local emulator of the Salesforce REST API (two orgs: v1 legacy, v2 new); see docs/orgs.md."""

from .config import SandboxConfig
from .runner import RunningSandbox, SandboxThread, start_sandbox
from .server import build_app

__all__ = ["RunningSandbox", "SandboxConfig", "SandboxThread", "build_app", "main", "start_sandbox"]


def main(argv: list[str] | None = None) -> int:
    """CLI entry point (`migration-app sandbox` can delegate here)."""
    from .__main__ import main as _main

    return _main(argv)
