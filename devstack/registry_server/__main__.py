"""Run the dev schema registry until SIGTERM/SIGINT.

Prints ``REGISTRY READY http://host:port`` (flushed) once it listens, so a supervisor can wait for
that line instead of sleeping.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from .server import start_registry


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devstack.registry_server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081, help="0 picks a free port")
    parser.add_argument("--data-file", default=None, help="JSON file that keeps ids across runs")
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    registry = await start_registry(args.host, args.port, args.data_file)
    try:
        print(f"REGISTRY READY {registry.url}", flush=True)
        await stop.wait()
    finally:
        await registry.close()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        asyncio.run(_serve(args))
    except OSError as exc:
        print(f"registry: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
