"""Run an embedded PostgreSQL (pgserver) until SIGTERM, then stop it.

pgserver starts postgres through pg_ctl as a daemon, which would outlive a crashed parent. Running
it inside this small runner, which the devstack starts with PR_SET_PDEATHSIG, ties postgres's life
to ours: any exit of the runner (SIGTERM, SIGINT, parent death) stops the server.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="postgres_runner")
    parser.add_argument("--data-dir", required=True)
    args = parser.parse_args(argv)

    import pgserver  # slow import: only here

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    server = pgserver.get_server(args.data_dir, cleanup_mode="stop")
    try:
        print(f"POSTGRES READY {server.get_uri()}", flush=True)
        stop.wait()
    finally:
        server.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
