"""The console in a real browser: headless Chromium from Debian's packages, driven by Selenium
through Debian's chromedriver (no browser download), against a real worker on the dev stack.

Without a browser the tests are skipped with how to get one. A failing test leaves a screenshot
of the page it was on in its own output directory (``tmp_path``), and says where.

Fixtures and hooks only; the tokens, the browser lookup and the audit query helper are in
support.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.dev import worker_process
from devstack.probes import free_port
from devstack.process import ChildProcess
from devstack.stack import DevStack
from tests.integration.console.support import GET_A_BROWSER, OPERATOR, READ_TOKEN, browser_paths
from tests.support.workers import DEBUG_TOKEN, FAST_GROUP_ENV


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the item, so the browser fixture knows the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="module")
def chrome() -> Iterator[Any]:
    paths = browser_paths()
    if paths is None:
        pytest.skip(GET_A_BROWSER)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = paths[0]
    for arg in (
        "--headless=new",
        "--no-sandbox",  # containers run as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(paths[1]), options=options)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(10)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def browser(chrome: Any, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """The module's browser with no cookies; a screenshot of its page if the test fails."""
    chrome.delete_all_cookies()
    chrome.set_window_size(1280, 1000)
    yield chrome
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        shot = tmp_path / f"{request.node.name}.png"
        try:
            chrome.save_screenshot(str(shot))
            (tmp_path / f"{request.node.name}.html").write_text(chrome.page_source)
            print(f"\nscreenshot of {chrome.current_url}: {shot}")
        except Exception as exc:  # the browser itself may be what broke
            print(f"\nno screenshot: {exc!r}")


@pytest.fixture(scope="module")
def console_worker(
    devstack: DevStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ChildProcess]:
    """A worker as deployed: not in dev mode, console closed, an operator and a read token."""
    log_dir = tmp_path_factory.mktemp("console-worker")
    env = {
        **devstack.env(),
        **FAST_GROUP_ENV,
        "MIGRATION_DEV_MODE": "false",  # the dev stack's env names every credential itself
        "MIGRATION_BATCH_WITHIN": "0.2",
        "MIGRATION_MONITOR_ENABLED": "false",
        "MIGRATION_DATA_DIR": str(log_dir / "data"),
        "MIGRATION_DEBUG_TOKEN": DEBUG_TOKEN,
        "MIGRATION_CONSOLE_PUBLIC": "false",
        "MIGRATION_OPERATOR_TOKEN": f"{OPERATOR[0]}:{OPERATOR[1]}",
        "MIGRATION_CONSOLE_READ_TOKEN": READ_TOKEN,
    }
    worker = worker_process(env, web_port=free_port(), log_dir=log_dir, name="console-worker")
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()
