"""A real ``batchrock serve`` (development mode, and one with a credentials file of two accounts)
and a real headless Chromium driven by Playwright, for the web console's tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import ServerProcess

CHROMIUM = Path("/usr/bin/chromium")
# Everything a headless Chromium would reach out for on its own, off: the tests run without a network.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ECHO_CATALOG = str(Path(__file__).resolve().parents[1] / "support" / "echo_catalog.toml")

ACCOUNT_A, ACCOUNT_B = "111111111111", "222222222222"
KEY_A, SECRET_A = "AKIDCONSOLEA", "console-secret-of-a"
KEY_B, SECRET_B = "AKIDCONSOLEB", "console-secret-of-b"
ROLE_A = f"arn:aws:iam::{ACCOUNT_A}:role/batch"
ROLE_B = f"arn:aws:iam::{ACCOUNT_B}:role/batch"


def account(account_id: str, key: str, secret: str, role: str, team: str) -> str:
    return (f'[[accounts]]\nid = "{account_id}"\n'
            f'  [[accounts.keys]]\n  access_key_id = "{key}"\n  secret_access_key = "{secret}"\n'
            f'  [[accounts.roles]]\n  arn = "{role}"\n  read = ["s3://inputs/{team}/"]\n  write = ["s3://outputs/{team}/"]\n')


CREDENTIALS = (account(ACCOUNT_A, KEY_A, SECRET_A, ROLE_A, "team-a") + "\n"
               + account(ACCOUNT_B, KEY_B, SECRET_B, ROLE_B, "team-b"))


def start(root: Path, *flags: str) -> ServerProcess:
    return ServerProcess(root / "data", extra_args=("--catalog", ECHO_CATALOG, "--lease-seconds", "2", *flags)).start()


@pytest.fixture(scope="package")  # ended with the console tests, as every fixture here
def dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Development mode: no credentials file, so the console is the default account."""
    server = start(tmp_path_factory.mktemp("console-dev"))
    yield server
    server.stop()


@pytest.fixture(scope="package")
def secure_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("console-secure")
    (root / "credentials.toml").write_text(CREDENTIALS)
    server = start(root, "--credentials-file", str(root / "credentials.toml"))
    yield server
    server.stop()


@pytest.fixture(scope="package")  # ended with the console tests: playwright's loop must not outlive them
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"the console's browser tests drive Debian's Chromium, and {CHROMIUM} is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies) per test; a script error on any page fails the test's teardown."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    script_errors: list[str] = []
    tab.on("pageerror", lambda error: script_errors.append(str(error)))
    yield tab
    context.close()
    assert not script_errors, f"the console's scripts raised: {script_errors}"
