"""Top functions of a collapsed CPU profile, as shares of its samples and CPU per 1,000 customers.

Reads the collapsed text ``/debug/pprof/profile`` returns (``#`` header lines are skipped).
*self* is the share of samples whose leaf is the function (where the CPU is spent); *total* is
the share of samples with the function anywhere on the stack (what it costs with its callees).
With ``--cpu-ms-per-1000`` (the benchmark's ``worker_cpu_s_per_1000_customers`` x 1000) each
share is also given as CPU ms per 1,000 customers.

Run: .venv/bin/python -m benchmarks.profile_top results/x-profile.txt [--cpu-ms-per-1000 1050]
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_LINE = re.compile(r"^(.*) (\d+)$")


def read_collapsed(text: str) -> Counter[tuple[str, ...]]:
    stacks: Counter[tuple[str, ...]] = Counter()
    for line in text.splitlines():
        if line.startswith("#") or not (m := _LINE.match(line)):
            continue
        stacks[tuple(m[1].split(";"))] += int(m[2])
    return stacks


def top(stacks: Counter[tuple[str, ...]], n: int) -> tuple[list, list, list, int]:
    """(self, total, by thread) as (name, samples) lists, heaviest first, and the sample total."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    for stack, count in stacks.items():
        threads[stack[0]] += count
        own[stack[-1]] += count
        for name in set(stack[1:]):
            total[name] += count
    return own.most_common(n), total.most_common(n), threads.most_common(n), sum(stacks.values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--cpu-ms-per-1000", type=float, default=None)
    args = parser.parse_args()
    own, total, threads, samples = top(read_collapsed(args.path.read_text()), args.top)

    def row(name: str, count: int) -> str:
        share = count / samples if samples else 0.0
        ms = f"{share * args.cpu_ms_per_1000:8.0f} ms" if args.cpu_ms_per_1000 else ""
        return f"{100 * share:6.1f}% {ms}  {name}"

    for title, rows in (("threads", threads), ("self (leaf)", own), ("total (inclusive)", total)):
        print(f"-- {title}: {samples} samples")
        for name, count in rows:
            print(row(name, count))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
