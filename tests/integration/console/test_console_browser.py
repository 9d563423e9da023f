"""The operator console as an operator uses it: headless Chromium against a real worker.

The worker runs as deployed (not dev mode, console closed) with an operator token and a read
token. Its customers come from the session's pool, migrated end to end through the real broker,
sandbox orgs and PostgreSQL; the console must agree with the audit database.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest
import requests

from devstack.process import ChildProcess
from migration_app.settings import Settings
from tests.integration.console.support import OPERATOR, READ_TOKEN, sql
from tests.integration.pipeline.customers import CustomerPool
from tests.integration.pipeline.harness import StackHarness
from tests.integration.pipeline.orgs import login
from tests.support.polling import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.timeout(180)]

HTTP_TIMEOUT = 10.0

LATEST_STATUS = """
SELECT status, count(*) FROM (SELECT DISTINCT ON (customer_id) status FROM migration_run
ORDER BY customer_id, attempt DESC) latest GROUP BY status"""

CUSTOMERS_WITH_CODE = """
SELECT DISTINCT l.customer_id FROM (SELECT DISTINCT ON (customer_id) id, customer_id
  FROM migration_run ORDER BY customer_id, attempt DESC) l
JOIN migration_issue i ON i.run_id = l.id WHERE i.code = %s"""


@pytest.fixture(scope="module")
def migrated(console_worker: ChildProcess, customer_pool: CustomerPool, devstack) -> list[str]:  # type: ignore[no-untyped-def]
    """Customers taken from the pool and migrated end to end by the console's worker."""
    ids = customer_pool.take(8)
    harness = StackHarness(
        devstack,
        Settings.from_env(devstack.env()),
        login(devstack.sf1.url, "v1"),
        login(devstack.sf2.url, "v2"),
    )
    try:
        harness.enqueue(ids)
        harness.wait_terminal(console_worker, ids, timeout=90)
    finally:
        harness.close()
    return ids


# --- helpers -----------------------------------------------------------------------------------


def sign_in(browser: Any, base: str, token: str, next_path: str = "/migrations/") -> None:
    """The login form, as a person fills it in."""
    from selenium.webdriver.common.by import By

    browser.get(f"{base}/migrations/login?next={urllib.parse.quote(next_path)}")
    browser.find_element(By.ID, "token").send_keys(token)
    browser.find_element(By.CSS_SELECTOR, "form.login button[type=submit]").click()
    wait_for(lambda: "/migrations/login" not in browser.current_url, timeout=15)


def texts(browser: Any, css: str) -> list[str]:
    from selenium.webdriver.common.by import By

    return [e.text.strip() for e in browser.find_elements(By.CSS_SELECTOR, css)]


def http(method: str, url: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, url, timeout=HTTP_TIMEOUT, allow_redirects=False, **kwargs)


def status_counts_on_page(browser: Any) -> dict[str, int]:
    from selenium.webdriver.common.by import By

    cells = browser.find_elements(By.CSS_SELECTOR, "#status-table td[data-status]")
    return {c.get_attribute("data-status"): int(c.text.replace(",", "")) for c in cells}


# --- tests -------------------------------------------------------------------------------------


def test_overview_counts_equal_the_audit_after_an_e2e_run(
    browser: Any,
    console_worker: ChildProcess,
    migrated: list[str],
    devstack,  # type: ignore[no-untyped-def]
) -> None:
    base = console_worker.url
    browser.get(f"{base}/")  # a browser at / lands on the console
    assert browser.current_url == f"{base}/migrations/"
    assert browser.find_element("css selector", "h1").text == "Customer migrations"

    def agree() -> bool:
        browser.refresh()
        audit = {status: n for status, n in sql(devstack, LATEST_STATUS)}
        page = status_counts_on_page(browser)
        finished = int(
            browser.find_element("css selector", "[data-testid=finished]").text.replace(",", "")
        )
        return page == audit and finished == sum(audit.values()) and bool(audit)

    wait_for(agree, timeout=30, interval=0.5)  # the overview caches for 2 s
    # Scripts and probes still get Faust's answer at /.
    assert http("GET", f"{base}/").json()["status"] == "OK"

    # A phone's width: nothing wider than the screen but the tables' own scroll boxes.
    browser.set_window_size(390, 844)
    browser.get(f"{base}/migrations/")
    width = browser.execute_script(
        "return [document.documentElement.scrollWidth, window.innerWidth]"
    )
    assert width[0] <= width[1], width


def test_filter_by_an_issue_code_shows_exactly_those_customers(
    browser: Any,
    console_worker: ChildProcess,
    migrated: list[str],
    devstack,  # type: ignore[no-untyped-def]
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    codes = sql(
        devstack,
        "SELECT i.code FROM migration_issue i JOIN migration_run r ON r.id = i.run_id "
        "WHERE r.customer_id = ANY(%s) GROUP BY 1 ORDER BY count(*) LIMIT 1",
        (migrated,),
    )
    assert codes, "the migrated customers have no issues: the seed's dirty data changed?"
    code = codes[0][0]
    expected = {row[0] for row in sql(devstack, CUSTOMERS_WITH_CODE, (code,))}

    sign_in(browser, console_worker.url, READ_TOKEN, "/migrations/customers")
    Select(browser.find_element(By.NAME, "code")).select_by_value(code)
    browser.find_element(By.CSS_SELECTOR, "form.filters button[type=submit]").click()
    wait_for(lambda: f"code={code}" in browser.current_url, timeout=15)

    shown: set[str] = set()
    while True:  # every page, server-side paginated
        shown |= set(texts(browser, "#customers tbody tr[data-customer] th a"))
        nexts = browser.find_elements(By.CSS_SELECTOR, ".pager a[rel=next]")
        if not nexts:
            break
        nexts[0].click()
    assert shown == expected
    # Each row links to its customer.
    first = browser.find_element(By.CSS_SELECTOR, "#customers tbody tr[data-customer] th a")
    target = first.text
    first.click()
    wait_for(lambda: browser.current_url.endswith(f"/migrations/customers/{target}"), timeout=15)


def test_customer_page_shows_its_runs_and_v2_ids(
    browser: Any,
    console_worker: ChildProcess,
    migrated: list[str],
    devstack,  # type: ignore[no-untyped-def]
) -> None:
    from selenium.webdriver.common.by import By

    customer_id = migrated[0]
    attempts = sorted(
        row[0]
        for row in sql(
            devstack, "SELECT attempt FROM migration_run WHERE customer_id = %s", (customer_id,)
        )
    )
    status, state = get_state(console_worker, customer_id, READ_TOKEN)
    assert status == 200, state
    v2_account_id = state["v2_account_id"]
    assert v2_account_id

    sign_in(browser, console_worker.url, READ_TOKEN, f"/migrations/customers/{customer_id}")
    assert customer_id in browser.find_element(By.TAG_NAME, "h1").text
    shown = sorted(
        int(e.get_attribute("data-attempt"))
        for e in browser.find_elements(By.CSS_SELECTOR, "article.run")
    )
    assert shown == attempts
    assert v2_account_id in texts(browser, "[data-testid=v2-id]")
    link = browser.find_element(By.CSS_SELECTOR, "[data-testid=v2-id] a").get_attribute("href")
    assert link.endswith(f"/lightning/r/Account/{v2_account_id}/view")
    assert browser.find_element(By.CSS_SELECTOR, "[data-testid=verdict]").text == "Not verified."
    # A read-only token sees the actions, all disabled (only the operator token acts).
    buttons = browser.find_elements(By.CSS_SELECTOR, ".actions button[disabled]")
    assert {b.text for b in buttons} == {"Re-migrate", "Dry run", "Verify", "Rollback"}


def test_customer_page_without_a_token_is_refused_outside_dev_mode(
    browser: Any, console_worker: ChildProcess, migrated: list[str]
) -> None:
    from selenium.webdriver.common.by import By

    customer_id = migrated[1]
    url = f"{console_worker.url}/migrations/customers/{customer_id}"
    browser.get(url)
    assert browser.find_element(By.TAG_NAME, "h1").text == "Sign in"
    assert customer_id not in browser.page_source.replace(urllib.parse.quote(customer_id), "")
    assert http("GET", url).status_code == 401
    assert http("GET", url, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert get_state(console_worker, customer_id, None)[0] == 401  # the state JSON too
    assert get_state(console_worker, customer_id, "wrong")[0] == 401
    listing = http("GET", f"{console_worker.url}/migrations/customers?format=json")
    assert listing.status_code == 401
    # Aggregates and health need no token.
    assert http("GET", f"{console_worker.url}/migrations/overview.json").status_code == 200
    assert http("GET", f"{console_worker.url}/migrations/").status_code == 200


def test_an_action_without_the_token_is_refused_and_with_it_re_migrates(
    browser: Any,
    console_worker: ChildProcess,
    migrated: list[str],
    devstack,  # type: ignore[no-untyped-def]
) -> None:
    from selenium.webdriver.common.by import By

    customer_id = migrated[2]
    action = f"{console_worker.url}/migrations/customers/{customer_id}/actions/remigrate"
    before = get_state(console_worker, customer_id, READ_TOKEN)[1]["attempt"]

    form = {"confirm": "yes", "csrf": "x"}
    assert http("POST", action, data=form).status_code == 401
    read = {"Authorization": f"Bearer {READ_TOKEN}"}
    assert http("POST", action, data=form, headers=read).status_code == 403
    assert get_state(console_worker, customer_id, READ_TOKEN)[1]["attempt"] == before

    sign_in(browser, console_worker.url, OPERATOR[1], f"/migrations/customers/{customer_id}")
    # The session cookie is HttpOnly and SameSite=Strict, and holds no token.
    (cookie,) = browser.get_cookies()
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert OPERATOR[1] not in cookie["value"]
    # A cookie without the form's CSRF token (a forged cross-site post) is refused.
    forged = http("POST", action, data=form, cookies={cookie["name"]: cookie["value"]})
    assert forged.status_code == 403

    browser.find_element(By.LINK_TEXT, "Re-migrate…").click()  # the confirmation step
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith("Re-migrate customer")
    browser.find_element(By.ID, "confirm").click()
    wait_for(lambda: "done=" in browser.current_url, timeout=30)
    assert "Re-migrate: enqueued" in browser.find_element(By.CSS_SELECTOR, ".notice").text

    def re_migrated() -> dict[str, Any] | None:
        status, state = get_state(console_worker, customer_id, READ_TOKEN)
        done = status == 200 and state["attempt"] > before and state["status"] == "COMPLETED"
        return state if done else None

    wait_for(re_migrated, timeout=90, interval=0.5)
    rows = sql(
        devstack,
        "SELECT actor, action, outcome FROM console_action WHERE customer_id = %s",
        (customer_id,),
    )
    assert (OPERATOR[0], "remigrate", "enqueued") in rows
    browser.refresh()
    log = texts(browser, "#action-log tbody td")
    assert OPERATOR[0] in log and "remigrate" in log
    attempts = {
        int(e.get_attribute("data-attempt"))
        for e in browser.find_elements(By.CSS_SELECTOR, "article.run")
    }
    assert before + 1 in attempts


def get_state(worker: ChildProcess, customer_id: str, token: str | None) -> tuple[int, Any]:
    """GET /migrations/{id} (the table-routed state JSON) with or without a bearer token."""
    request = urllib.request.Request(f"{worker.url}/migrations/{customer_id}")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")
