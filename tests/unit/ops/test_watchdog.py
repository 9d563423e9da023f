"""The leak detector's rules, fed with synthetic samples."""

from __future__ import annotations

import logging

import pytest

from migration_app.ops.debug.tasks import Frame
from migration_app.ops.debug.watchdog import LeakDetector, Sample, Watchdog, steady_growth

LEAK = (
    Frame("aiohttp.client_proto.ResponseHandler.read", "client_proto.py", 10),
    Frame("app.checks.registry_check", "checks.py", 5),
)
STEADY = (Frame("faust.agents.agent.Agent._execute", "agent.py", 1),)
CHURN = (Frame("aiohttp.web_protocol.RequestHandler.start", "web_protocol.py", 7),)


def sample(i: int, leak: int, churn: int = 0, fds: int = 20) -> Sample:
    groups = {STEADY: 10, LEAK: leak, CHURN: churn}
    groups = {k: v for k, v in groups.items() if v}
    return Sample(float(i), sum(groups.values()), 12, fds, 100_000_000, groups)


def test_steady_growth_rules() -> None:
    assert steady_growth([0, 2, 4, 6, 8, 10], 5)
    assert steady_growth([0, 3, 2, 6, 5, 10], 5)  # dips tolerated, ends at the max
    assert not steady_growth([0, 0, 0, 0, 0, 10], 5)  # one jump is not steady
    assert not steady_growth([0, 2, 4, 6, 12, 10], 5)  # did not end at its max
    assert not steady_growth([0, 1, 2, 3, 4, 4], 5)  # below threshold


def test_growing_group_is_named_after_a_full_window() -> None:
    detector = LeakDetector(window=5, windows=1)
    verdicts = [detector.feed(sample(i, leak=3 * i, churn=i % 3)) for i in range(5)]
    assert [v.suspect for v in verdicts] == [False, False, False, False, True]
    verdict = verdicts[-1]
    assert [g.name for g in verdict.grew] == ["tasks"]
    assert [(g.stack, g.first, g.last) for g in verdict.groups] == [(LEAK, 0, 12)]
    doc = verdict.asdict()
    assert doc["grew"]["tasks"] == {"from": 10, "to": 23}
    assert doc["stacks"][0]["top"] == "aiohttp.client_proto.ResponseHandler.read"
    assert "+12 (0 -> 12) aiohttp.client_proto.ResponseHandler.read <- app.checks" in (
        verdict.describe()
    )


def test_churn_and_plateau_are_not_leaks() -> None:
    detector = LeakDetector(window=5, windows=1)
    for i in range(20):
        verdict = detector.feed(sample(i, leak=40, churn=(i * 7) % 11))
    assert not verdict.suspect


def test_fd_growth_without_task_growth_is_reported() -> None:
    detector = LeakDetector(window=4, windows=1)
    for i in range(4):
        verdict = detector.feed(sample(i, leak=1, fds=20 + 4 * i))
    assert verdict.suspect
    assert [(g.name, g.first, g.last) for g in verdict.grew] == [("open_fds", 20, 32)]
    assert verdict.groups == ()


def test_window_must_hold_two_samples() -> None:
    with pytest.raises(ValueError):
        LeakDetector(window=1)


def test_watchdog_warns_once_and_clears(caplog: pytest.LogCaptureFixture) -> None:
    samples = iter(
        [sample(i, leak=3 * i) for i in range(6)] + [sample(6 + i, 15) for i in range(6)]
    )
    changes: list[bool] = []
    dog = Watchdog(
        LeakDetector(window=4, windows=1),
        interval=1,
        sample=lambda: next(samples),
        on_change=changes.append,
    )
    with caplog.at_level(logging.INFO, logger="migration_app.ops.debug.watchdog"):
        for _ in range(12):
            dog.step()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "aiohttp.client_proto.ResponseHandler.read" in warnings[0].getMessage()
    assert changes == [True, False]
    assert dog.suspect() is None


def test_a_warm_up_that_plateaus_is_not_a_leak_but_growth_over_two_windows_is() -> None:
    """Default: growth must persist over two consecutive windows. A first wave fills bounded
    pools (threads, fds, batch tasks) for about one window, then they stay."""
    warm_up = [sample(i, leak=0, fds=20 + 4 * min(i, 4)) for i in range(12)]
    detector = LeakDetector(window=5)
    assert not any(detector.feed(s).suspect for s in warm_up)
    # a leak keeps growing: suspected once two windows (9 samples, shared boundary) show it
    detector = LeakDetector(window=5)
    verdicts = [detector.feed(sample(i, leak=3 * i)) for i in range(9)]
    assert [v.suspect for v in verdicts] == [False] * 8 + [True]
    assert [(g.name, g.first, g.last) for g in verdicts[-1].grew] == [("tasks", 10, 34)]
    # and one window of the same growth alone is not enough
    detector = LeakDetector(window=5)
    ramp = [sample(i, leak=3 * min(i, 4)) for i in range(9)]
    assert not any(detector.feed(s).suspect for s in ramp)
