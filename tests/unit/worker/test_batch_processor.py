"""BatchProcessor with in-memory fakes (processor_fakes.py): ordering of side effects, retries of
registry/audit/Salesforce outages, duplicates, the DLQ, the API floor and per-customer exclusivity
across concurrent batches. No Kafka, no network, no timed sleeps: backoff delays are
patched to zero and outages are waited on through events the fakes set.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator

import pytest

from migration_app.contracts.customer_status import CustomerStatus
from migration_app.ops import metrics
from migration_app.salesforce.errors import (
    SalesforceAuthError,
    SalesforcePermanentError,
    SalesforceTransientError,
)
from migration_app.worker import processor as processor_module
from migration_app.worker.processor import MAX_BATCH_ATTEMPTS
from tests.unit.worker.processor_fakes import (
    ACC1,
    ACC2,
    ACC3,
    Countdown,
    ProcessorHarness,
    completed_state,
    customer_event,
    poison_event,
)

# a regression that makes a batch wait forever fails here, not at the suite's 300 s timeout
pytestmark = pytest.mark.timeout(10)

TERMINAL = {s.value for s in (CustomerStatus.COMPLETED, CustomerStatus.FAILED)}


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> list[tuple[float, float]]:
    """Every retry loop in the processor waits 0 s (one loop iteration) between attempts."""
    calls: list[tuple[float, float]] = []

    def zero_delays(base: float = 0.5, cap: float = 10.0) -> Iterator[float]:
        calls.append((base, cap))
        return itertools.repeat(0.0)

    monkeypatch.setattr(processor_module, "backoff_delays", zero_delays)
    return calls


@pytest.fixture
def h() -> ProcessorHarness:
    return ProcessorHarness()


def metric(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(f"migration_app_{name}_total", labels) or 0.0


async def reached(countdown: Countdown, n: int, task: asyncio.Task) -> None:
    """Wait until ``countdown`` reaches ``n`` while ``task`` (a batch) is still running; fail,
    instead of hanging, if the batch ends first (e.g. it skipped the retry being waited for)."""
    waiter = asyncio.ensure_future(countdown.reached(n))
    done, _ = await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
    if waiter not in done:
        waiter.cancel()
        task.result()  # re-raise the batch's error, if any
        pytest.fail(f"the batch finished after {countdown.count} of the {n} expected calls")


async def settle() -> None:
    """Let every runnable task run until it blocks (no timed sleep: loop iterations only)."""
    for _ in range(50):
        await asyncio.sleep(0)


def terminal_order(h: ProcessorHarness, customer_id: str) -> list[str]:
    """Kinds of side effects for one customer from the migration's end onwards."""
    kinds = []
    for kind, _, status in h.side_effects(customer_id):
        if kind == "table" and status not in TERMINAL:
            continue
        kinds.append(kind)
    return kinds


# 1. order of side effects ---------------------------------------------------------------------
async def test_audit_commit_then_result_then_terminal_table_write_for_every_customer(
    h: ProcessorHarness,
) -> None:
    h.pipeline.outcomes[ACC2] = (CustomerStatus.FAILED, "Account 001...: INVALID_FIELD")

    await h.handle(customer_event(ACC1, offset=1), customer_event(ACC2, offset=2))

    for cid, status in ((ACC1, "COMPLETED"), (ACC2, "FAILED")):
        assert h.side_effects(cid) == [
            ("table", cid, "IN_PROGRESS"),
            ("audit", cid, status),
            ("result", cid, status),
            ("table", cid, status),
        ]
    assert terminal_order(h, ACC1) == ["audit", "result", "table"]


async def test_no_terminal_table_write_or_result_before_the_batchs_audit_commit(
    h: ProcessorHarness,
) -> None:
    await h.handle(*(customer_event(c, offset=i) for i, c in enumerate((ACC1, ACC2, ACC3))))

    kinds = [
        e[0] for e in h.log if e[0] in ("audit", "result") or (e[0] == "table" and e[2] in TERMINAL)
    ]
    last_audit = max(i for i, k in enumerate(kinds) if k == "audit")
    first_effect = min(i for i, k in enumerate(kinds) if k != "audit")
    assert last_audit < first_effect, kinds
    assert ("migrate", ACC1, ACC2, ACC3) in h.log  # one pipeline call for the batch
    assert h.log.index(("migrate-done", ACC1, ACC2, ACC3)) < h.log.index(
        ("audit", ACC1, "COMPLETED")
    )


async def test_the_result_event_and_audit_run_agree_with_the_table(h: ProcessorHarness) -> None:
    await h.handle(customer_event(ACC1, offset=7, correlation_id="corr-7"))

    state = h.table.state(ACC1)
    run = h.audit.runs[ACC1]
    result = h.results.results()[ACC1]
    assert state.status == run.status == result["status"] == "COMPLETED"
    assert state.attempt == run.attempt == result["attempt"] == 1
    assert state.correlation_id == run.correlation_id == result["correlation_id"] == "corr-7"
    assert state.v2_account_id == result["v2_account_id"] == "V2-" + ACC1
    assert state.counts == run.counts == result["counts"] == {"Account": 1}
    assert run.worker == "test-worker"
    assert h.results.sent[0]["key"] == ACC1.encode()


async def test_each_table_write_has_the_customers_own_event_current(h: ProcessorHarness) -> None:
    """A batch spans partitions: each changelog write must go with its customer's own event."""
    e1 = customer_event(ACC1, partition=0, offset=10)
    e2 = customer_event(ACC2, partition=3, offset=20)

    await h.handle(e1, e2)

    assert [(cid, current) for cid, _, current in h.table.writes] == [
        (ACC1, e1),
        (ACC2, e2),
        (ACC1, e1),
        (ACC2, e2),
    ]


async def test_two_events_for_one_customer_in_a_batch_migrate_it_once(h: ProcessorHarness) -> None:
    first = customer_event(ACC1, offset=1, correlation_id="first")
    last = customer_event(ACC1, offset=2, correlation_id="last")

    await h.handle(first, last)

    assert [[r.customer_id for r in call] for call in h.pipeline.calls] == [[ACC1]]
    assert h.pipeline.calls[0][0].correlation_id == "last"
    assert {id(current) for _, _, current in h.table.writes} == {id(last)}
    assert len(h.results.sent) == 1


# 2. registry outage while decoding ------------------------------------------------------------
async def test_registry_outage_during_decode_waits_and_retries_then_migrates(
    h: ProcessorHarness, no_backoff: list[tuple[float, float]]
) -> None:
    retries_before = metric("retries", kind="registry")
    dlq_before = metric("dlq_messages", reason="bad_magic")
    h.codec.down = True

    task = asyncio.create_task(h.handle(customer_event(ACC1)))
    await reached(h.codec.failures, 5, task)

    # still waiting: nothing skipped, dead-lettered, started or migrated
    assert not task.done()
    assert h.pipeline.calls == [] and h.dlq.sent == [] and h.table == {} and h.results.sent == []

    h.codec.down = False
    await task

    assert h.table.state(ACC1).status == "COMPLETED"
    assert [e[0] for e in h.side_effects(ACC1)] == ["table", "audit", "result", "table"]
    failures = h.codec.failures.count
    assert failures >= 5
    assert h.codec.decode_attempts == failures + 1
    assert metric("retries", kind="registry") - retries_before == failures
    assert metric("dlq_messages", reason="bad_magic") == dlq_before
    assert (0.5, 10.0) in no_backoff  # the decode loop uses capped backoff


# 3. audit database outage ---------------------------------------------------------------------
async def test_audit_outage_waits_and_retries_with_nothing_terminal_or_published(
    h: ProcessorHarness,
) -> None:
    retries_before = metric("retries", kind="database")
    h.audit.down = True

    task = asyncio.create_task(h.handle(customer_event(ACC1), customer_event(ACC2, offset=1)))
    await reached(h.audit.failures, 5, task)

    assert not task.done()
    assert len(h.pipeline.calls) == 1  # the migration ran; only its audit is pending
    assert {cid: s.status for cid, s in ((c, h.table.state(c)) for c in (ACC1, ACC2))} == {
        ACC1: "IN_PROGRESS",
        ACC2: "IN_PROGRESS",
    }
    assert h.results.sent == []
    assert h.audit.commits == []

    h.audit.down = False
    await task

    failures = h.audit.failures.count
    assert metric("retries", kind="database") - retries_before == failures
    assert len(h.audit.commits) == 1
    assert len(h.pipeline.calls) == 1  # the audit is retried, not the migration
    for cid in (ACC1, ACC2):
        assert terminal_order(h, cid) == ["audit", "result", "table"]
    last_outage = max(i for i, e in enumerate(h.log) if e == ("audit-unavailable",))
    first_terminal = min(
        i for i, e in enumerate(h.log) if e[0] == "result" or (e[0] == "table" and e[2] in TERMINAL)
    )
    assert last_outage < first_terminal


# 4. permanent Salesforce failure --------------------------------------------------------------
async def test_permanent_salesforce_error_fails_every_customer_of_the_batch(
    h: ProcessorHarness,
) -> None:
    retries_before = metric("retries", kind="batch")
    error = "HTTP 400: MALFORMED_QUERY"
    h.pipeline.raises = [SalesforcePermanentError(error, status=400)]

    await h.handle(customer_event(ACC1), customer_event(ACC2, offset=1))

    assert len(h.pipeline.calls) == 1  # not retried
    assert metric("retries", kind="batch") == retries_before
    results = h.results.results()
    for cid in (ACC1, ACC2):
        run = h.audit.runs[cid]
        state = h.table.state(cid)
        assert (run.status, run.error) == ("FAILED", error)
        assert (state.status, state.last_error) == ("FAILED", error)
        assert results[cid]["status"] == "FAILED"
        assert terminal_order(h, cid) == ["audit", "result", "table"]


async def test_permanent_salesforce_error_text_is_in_the_result_event(h: ProcessorHarness) -> None:
    h.pipeline.raises = [SalesforcePermanentError("HTTP 400: MALFORMED_QUERY", status=400)]

    await h.handle(customer_event(ACC1))

    errors = h.results.results()[ACC1]["errors"]
    assert any("MALFORMED_QUERY" in (e["message"] + e["code"]) for e in errors)


async def test_refused_credentials_pause_the_batch_instead_of_failing_its_customers(
    h: ProcessorHarness, no_backoff: list[tuple[float, float]]
) -> None:
    """A revoked or expired login is the org's configuration, not the customers' fault: the
    batch waits and logs in again (no FAILED customer to re-enqueue by hand afterwards)."""
    before = metric("retries", kind="auth")
    refused = SalesforceAuthError("sf2: login failed (jwt): invalid_grant: user hasn't approved")
    h.pipeline.raises = [refused, refused, refused, None]

    await h.handle(customer_event(ACC1), customer_event(ACC2, offset=1))

    assert len(h.pipeline.calls) == 4  # more than MAX_BATCH_ATTEMPTS: it waits, it does not give up
    assert metric("retries", kind="auth") - before == 3
    assert (5.0, 60.0) in no_backoff
    for cid in (ACC1, ACC2):
        assert h.side_effects(cid) == [
            ("table", cid, "IN_PROGRESS"),
            ("audit", cid, "COMPLETED"),
            ("result", cid, "COMPLETED"),
            ("table", cid, "COMPLETED"),
        ]


# 5. transient failures: batch retries and their exhaustion -----------------------------------
async def test_transient_failures_are_retried_then_the_batch_is_failed(
    h: ProcessorHarness, no_backoff: list[tuple[float, float]]
) -> None:
    retries_before = metric("retries", kind="batch")
    h.pipeline.raises = [SalesforceTransientError("HTTP 503")] * (MAX_BATCH_ATTEMPTS + 5)

    await h.handle(customer_event(ACC1), customer_event(ACC2, offset=1))

    assert len(h.pipeline.calls) == MAX_BATCH_ATTEMPTS
    assert metric("retries", kind="batch") - retries_before == MAX_BATCH_ATTEMPTS - 1
    expected = f"transient failure after {MAX_BATCH_ATTEMPTS} attempts: HTTP 503"
    results = h.results.results()
    for cid in (ACC1, ACC2):
        assert h.audit.runs[cid].status == "FAILED"
        assert h.audit.runs[cid].error == expected
        assert h.table.state(cid).status == "FAILED"
        assert h.table.state(cid).last_error == expected
        assert h.table.state(cid).attempt == 1  # batch retries are one attempt of the customer
        assert results[cid]["status"] == "FAILED"
        assert terminal_order(h, cid) == ["audit", "result", "table"]
    assert (1.0, 15.0) in no_backoff


async def test_a_transient_failure_then_success_completes_the_batch(h: ProcessorHarness) -> None:
    h.pipeline.raises = [SalesforceTransientError("HTTP 503"), None]

    await h.handle(customer_event(ACC1))

    assert len(h.pipeline.calls) == 2
    assert h.table.state(ACC1).status == "COMPLETED"
    assert h.audit.runs[ACC1].error is None
    assert len(h.results.sent) == 1


# 6. duplicates --------------------------------------------------------------------------------
_completed = completed_state


async def test_duplicate_event_for_a_completed_customer_changes_nothing_and_is_counted(
    h: ProcessorHarness,
) -> None:
    before = metrics.REGISTRY.get_sample_value("migration_app_duplicate_events_total") or 0.0
    completed = _completed(ACC1)
    dict.__setitem__(h.table, ACC1.encode(), completed)

    await h.handle(customer_event(ACC1))
    await h.handle(customer_event(ACC1, offset=1))

    assert h.table.state(ACC1) is completed  # not even rewritten
    assert h.table.writes == []
    assert h.pipeline.calls == []
    assert h.audit.commits == []
    assert h.results.sent == []
    after = metrics.REGISTRY.get_sample_value("migration_app_duplicate_events_total")
    assert after - before == 2


async def test_a_batch_of_only_duplicates_prepares_to_nothing(h: ProcessorHarness) -> None:
    """Nothing to claim or run: InFlightBatches acks it without waiting for a slot."""
    for cid in (ACC1, ACC2):
        dict.__setitem__(h.table, cid.encode(), _completed(cid))

    batch = await h.processor.prepare([customer_event(ACC1), customer_event(ACC2, offset=1)])

    assert batch is None


async def test_a_duplicate_of_a_customer_in_flight_waits_for_its_batch_then_is_skipped(
    h: ProcessorHarness,
) -> None:
    """Its earlier batch may still fail it: the duplicate is decided after that batch ends."""
    h.pipeline.gate = asyncio.Event()
    first = asyncio.create_task(h.handle(customer_event(ACC1)))
    await settle()
    second_batch = await h.processor.prepare([customer_event(ACC1, offset=1)])
    assert second_batch is not None  # not decided while ACC1 is in flight
    h.pipeline.gate.set()
    await first
    await h.processor.claim(second_batch)
    await h.processor.run(second_batch)

    assert len(h.pipeline.calls) == 1
    assert h.table.state(ACC1).attempt == 1


async def test_the_terminal_state_waits_for_the_brokers_ack_of_the_result(
    h: ProcessorHarness,
) -> None:
    """A kill -9 before the ack leaves no terminal state: the event replays and the next attempt
    publishes its own result (never COMPLETED on disk without a result)."""
    ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    h.results.acks.append(ack)
    batch = asyncio.create_task(h.handle(customer_event(ACC1)))
    await settle()

    assert [e[0] for e in h.side_effects(ACC1)] == ["table", "audit", "result"]
    assert h.table.state(ACC1).status == "IN_PROGRESS"
    ack.set_result(None)
    await batch
    assert h.table.state(ACC1).status == "COMPLETED"


async def test_a_result_the_producer_gives_up_on_is_sent_again(h: ProcessorHarness) -> None:
    failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    failed.set_exception(ConnectionError("request timed out"))
    h.results.acks.append(failed)

    await h.handle(customer_event(ACC1))

    assert [r["status"] for r in h.results.results().values()] == ["COMPLETED"]
    assert len(h.results.sent) == 2
    assert h.table.state(ACC1).status == "COMPLETED"


async def test_forced_event_migrates_a_completed_customer_again(h: ProcessorHarness) -> None:
    dict.__setitem__(h.table, ACC1.encode(), _completed(ACC1))

    await h.handle(customer_event(ACC1, force=True, correlation_id="corr-new"))

    assert [r.customer_id for r in h.pipeline.calls[0]] == [ACC1]
    state = h.table.state(ACC1)
    assert (state.status, state.attempt, state.correlation_id) == ("COMPLETED", 2, "corr-new")
    assert state.skipped_duplicates == 0
    assert h.results.results()[ACC1]["attempt"] == 2


async def test_force_on_any_event_of_the_batch_is_kept_for_the_customer(
    h: ProcessorHarness,
) -> None:
    dict.__setitem__(h.table, ACC1.encode(), _completed(ACC1))

    await h.handle(customer_event(ACC1, offset=1, force=True), customer_event(ACC1, offset=2))

    assert len(h.pipeline.calls) == 1
    assert h.table.state(ACC1).attempt == 2


async def test_failed_customer_is_migrated_again_without_force(h: ProcessorHarness) -> None:
    h.pipeline.outcomes[ACC1] = (CustomerStatus.FAILED, "boom")
    await h.handle(customer_event(ACC1))
    h.pipeline.outcomes.clear()

    await h.handle(customer_event(ACC1, offset=1))

    assert len(h.pipeline.calls) == 2
    state = h.table.state(ACC1)
    assert (state.status, state.attempt, state.last_error) == ("COMPLETED", 2, None)


# 7. poison messages ---------------------------------------------------------------------------
async def test_poison_message_goes_to_the_dlq_once_with_headers(h: ProcessorHarness) -> None:
    dlq_before = metric("dlq_messages", reason="bad_magic")
    bad = poison_event(
        b"\x07garbage", partition=2, offset=41, key=b"k1", headers=[("trace", b"t-1")]
    )

    await h.handle(customer_event(ACC1, offset=40), bad, customer_event(ACC2, offset=42))

    assert len(h.dlq.sent) == 1
    sent = h.dlq.sent[0]
    assert (sent["key"], sent["value"]) == (b"k1", b"\x07garbage")
    headers = dict(sent["headers"])
    assert headers["trace"] == b"t-1"  # the original headers are kept
    assert headers["x-error-class"] == b"PoisonMessage"
    assert headers["x-error-reason"] == b"bad_magic"
    assert headers["x-source-topic"] == b"customer"
    assert headers["x-source-partition"] == b"2"
    assert headers["x-source-offset"] == b"41"
    assert metric("dlq_messages", reason="bad_magic") - dlq_before == 1
    assert h.codec.decode_attempts == 3  # poison is not retried
    # the good events of the batch are migrated as usual
    assert [r.customer_id for r in h.pipeline.calls[0]] == [ACC1, ACC2]
    assert set(h.results.results()) == {ACC1, ACC2}


async def test_dict_headers_are_kept_and_each_bad_message_is_dead_lettered_once(
    h: ProcessorHarness,
) -> None:
    bad1 = poison_event(None, offset=1, headers={"trace": b"t-1"})
    bad2 = poison_event(b"", offset=2)

    await h.handle(bad1, bad2)

    assert [dict(s["headers"])["x-source-offset"] for s in h.dlq.sent] == [b"1", b"2"]
    assert dict(h.dlq.sent[0]["headers"])["trace"] == b"t-1"
    assert h.pipeline.calls == [] and h.table == {} and h.audit.commits == []


# 8. API floor ---------------------------------------------------------------------------------
async def test_new_work_pauses_under_the_api_floor_and_resumes_above_it(
    h: ProcessorHarness, no_backoff: list[tuple[float, float]]
) -> None:
    h.sf2.api_remaining = 999  # floor is 1000

    task = asyncio.create_task(h.handle(customer_event(ACC1)))
    await reached(h.sf2.limits_calls, 3, task)

    assert not task.done()
    assert h.pipeline.calls == []
    assert h.table.state(ACC1).status == "IN_PROGRESS"  # state kept while paused
    assert h.results.sent == []

    h.sf2.api_remaining = 1000
    await task

    polls = h.sf2.limits_calls.count
    assert polls >= 3
    assert [e[0] for e in h.log if e[0] in ("limits", "migrate")] == ["limits"] * polls + [
        "migrate"
    ]
    assert h.table.state(ACC1).status == "COMPLETED"
    assert (5.0, 60.0) in no_backoff


async def test_failed_limits_checks_keep_the_pause(h: ProcessorHarness) -> None:
    h.sf2.api_remaining = 0
    h.sf2.limits_errors = [SalesforceTransientError("HTTP 503"), SalesforcePermanentError("401")]

    task = asyncio.create_task(h.handle(customer_event(ACC1)))
    await reached(h.sf2.limits_calls, 4, task)

    assert not task.done() and h.pipeline.calls == []

    h.sf2.api_remaining = 50_000
    await task
    assert h.table.state(ACC1).status == "COMPLETED"


async def test_unknown_or_ample_allocation_does_not_pause(h: ProcessorHarness) -> None:
    h.sf2.api_remaining = None
    await h.handle(customer_event(ACC1))
    h.sf2.api_remaining = 1000
    await h.handle(customer_event(ACC2))

    assert h.sf2.limits_calls.count == 0
    assert len(h.pipeline.calls) == 2


# 9. one customer never migrated by two batches at once ----------------------------------------
async def test_concurrent_batches_with_the_same_customer_never_migrate_it_at_once(
    h: ProcessorHarness,
) -> None:
    h.pipeline.gate = asyncio.Event()
    first = asyncio.create_task(h.handle(customer_event(ACC1, offset=1), customer_event(ACC2)))
    await reached(h.pipeline.entered, 1, first)

    second = asyncio.create_task(h.handle(customer_event(ACC1, offset=2, force=True)))
    await settle()

    # the second batch is held before it touches the customer
    assert h.pipeline.entered.count == 1
    assert not second.done()
    assert [w[1].correlation_id for w in h.table.writes] == [f"corr-{ACC1}-1", f"corr-{ACC2}-0"]

    h.pipeline.gate.set()
    await asyncio.gather(first, second)

    assert h.pipeline.overlaps == []
    assert [[r.customer_id for r in call] for call in h.pipeline.calls] == [[ACC1, ACC2], [ACC1]]
    # the second migration starts only after the first one's result is out
    first_result = h.log.index(("result", ACC1, "COMPLETED"))
    second_start = [i for i, e in enumerate(h.log) if e[0] == "migrate"][1]
    assert first_result < second_start
    assert h.table.state(ACC1).attempt == 2


async def test_concurrent_batches_with_different_customers_run_at_once(h: ProcessorHarness) -> None:
    """Control for the test above: `settle` is enough for a second batch to reach the pipeline."""
    h.pipeline.gate = asyncio.Event()
    first = asyncio.create_task(h.handle(customer_event(ACC1)))
    await reached(h.pipeline.entered, 1, first)

    second = asyncio.create_task(h.handle(customer_event(ACC2)))
    await settle()

    assert h.pipeline.entered.count == 2

    h.pipeline.gate.set()
    await asyncio.gather(first, second)
    assert {h.table.state(c).status for c in (ACC1, ACC2)} == {"COMPLETED"}


async def test_a_batch_that_raises_releases_its_customers(h: ProcessorHarness) -> None:
    h.pipeline.raises = [RuntimeError("bug in the pipeline")]

    with pytest.raises(RuntimeError, match="bug in the pipeline"):
        await h.handle(customer_event(ACC1))

    # not audited, not finished, not published: the batch is not acked and will be replayed
    assert h.audit.commits == [] and h.results.sent == []
    assert h.table.state(ACC1).status == "IN_PROGRESS"

    await asyncio.wait_for(h.handle(customer_event(ACC1, offset=1)), timeout=5)
    assert h.table.state(ACC1).status == "COMPLETED"


async def test_the_completing_event_replayed_restates_once_for_the_changelog(
    h: ProcessorHarness,
) -> None:
    """A kill after RocksDB stored COMPLETED but before the changelog had it replays that very
    event: it is written once more (for standbys and the next owner), once per customer."""
    completed = _completed(ACC1)  # correlation id "corr-old"
    dict.__setitem__(h.table, ACC1.encode(), completed)

    await h.handle(customer_event(ACC1, correlation_id="corr-old", partition=2))
    await h.handle(customer_event(ACC1, correlation_id="corr-old", offset=1, partition=2))
    await h.handle(customer_event(ACC1, correlation_id="corr-other", offset=2, partition=2))

    assert [(cid, state) for cid, state, _ in h.table.writes] == [(ACC1, completed)]
    assert h.table.writes[0][2].message.partition == 2
    assert h.pipeline.calls == [] and h.results.sent == []
    assert h.processor.counts.by_status() == {}  # the same state again: counts unchanged


async def test_every_replayed_event_is_counted_and_known_completions_need_no_table_read(
    h: ProcessorHarness,
) -> None:
    before = metrics.REGISTRY.get_sample_value("migration_app_duplicate_events_total") or 0.0
    await h.handle(customer_event(ACC1))  # migrated here: remembered as COMPLETED
    reads = h.table.reads

    await h.handle(*(customer_event(ACC1, offset=i, correlation_id="c") for i in range(1, 4)))
    await h.handle(customer_event(ACC1, offset=4, correlation_id="c"))

    after = metrics.REGISTRY.get_sample_value("migration_app_duplicate_events_total")
    assert after - before == 4  # three collapsed into one request, then one more
    assert h.table.reads == reads  # decided from what the processor remembers
    assert len(h.pipeline.calls) == 1


async def test_a_revocation_forgets_what_the_processor_remembers(h: ProcessorHarness) -> None:
    await h.handle(customer_event(ACC1))
    h.processor.forget_partitions()  # another worker may own ACC1 now
    reads = h.table.reads
    await h.handle(customer_event(ACC1, offset=1, correlation_id="c"))
    assert h.table.reads == reads + 1
