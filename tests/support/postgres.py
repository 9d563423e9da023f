"""A PostgreSQL a test may stop and start: a private pgserver, never the session's (the
``stoppable_postgres`` fixture, tests/integration/conftest.py)."""

from __future__ import annotations

from pathlib import Path


class StoppablePostgres:
    """A private pgserver in a temporary directory (never the shared one), stopped at exit."""

    def __init__(self, data_dir: Path) -> None:
        import pgserver  # slow import: only when needed

        self.server = pgserver.get_server(data_dir, cleanup_mode="stop")
        self.uri = self.server.get_uri()

    def stop(self) -> None:
        """Fast shutdown (clients are disconnected), waiting until it is down."""
        from pgserver._commands import pg_ctl

        pg_ctl(
            ["-w", "-m", "fast", "stop"],
            pgdata=self.server.pgdata,
            user=self.server.system_user,
            timeout=30,
        )

    def start(self) -> None:
        """Start again on the same data directory and socket, so the URI stays valid."""
        self.server.ensure_postgres_running()

    def close(self) -> None:
        self.server.cleanup()
