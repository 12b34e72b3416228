"""The console's browser tests: a real `wallet serve`, and Debian's Chromium driven headless by
Selenium through Debian's chromedriver.

Both binaries are named explicitly, so Selenium Manager never downloads a browser or a driver
(nothing can be fetched here). They come with `make install-test` (which `make test` runs), so
a machine without them fails these tests rather than skipping them: a skip would pass unnoticed.

Every page the browser arrives at is checked: no API key in its source or in a cookie. The status
of each document response (redirects included) is read from Chromium's performance log, which
WebDriver alone does not give.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

from service.config import Settings
from service.keys import create_key
from tests.support import ALL_SCOPES, ROOT, Server, bearer, server_starter

LAPTOP = (1280, 900)
PHONE = (390, 844)  # CSS pixels of a common phone, in portrait
NAVIGATION_TIMEOUT = 15.0


@dataclass(frozen=True)
class Operator:
    name: str
    key: str


@dataclass(frozen=True)
class Operators:
    admin: Operator  # every scope
    reader: Operator  # wallet:read only


@pytest.fixture(scope="module")
def operators(settings: Settings) -> Operators:
    """Two keys, made before the server starts, so that every worker knows them from its first
    request (a key made later reaches each worker within moments, on a NOTIFY)."""
    run = uuid.uuid4().hex[:8]

    def make(role: str, scopes: list[str]) -> Operator:
        name = f"console-{role}-{run}"
        return Operator(name, create_key(settings.admin_database_url, name, scopes).key)

    return Operators(admin=make("admin", ALL_SCOPES), reader=make("reader", ["wallet:read"]))


@pytest.fixture(scope="module")
def console_server(
    operators: Operators, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """One `wallet serve` for the module's tests (two workers, as in production)."""
    with server_starter(tmp_path_factory.mktemp("console-server")) as start:
        yield start()


@pytest.fixture
def rest(console_server: Server, operators: Operators) -> Iterator[httpx.Client]:
    """The REST API of the same server, with the every-scope key: the tests make their players'
    data through it, and check the console's figures against it."""
    with httpx.Client(
        base_url=console_server.url, headers=bearer(operators.admin.key), trust_env=False
    ) as client:
        yield client


def _required_binary(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} not found: the console's browser tests need Debian's {package} package"
            " (make install-test, i.e. scripts/stack.sh install browser, installs it)",
            pytrace=False,
        )
    return path


def _chromium() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = _required_binary("chromium", "chromium")
    for argument in (
        "--headless=new",
        "--no-sandbox",  # the tests run as root, where Chromium's sandbox cannot start
        "--disable-dev-shm-usage",  # /dev/shm is small in containers
        f"--window-size={LAPTOP[0]},{LAPTOP[1]}",
    ):
        options.add_argument(argument)
    # the Network events, from which the status of every document response is read
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    service = Service(executable_path=_required_binary("chromedriver", "chromium-driver"))
    return webdriver.Chrome(options=options, service=service)


def _screenshot_dir(tmp_path: Path) -> Path:
    """CONSOLE_SCREENSHOTS (make console-screenshots: docs/console), else the test's tmp_path:
    the screenshots are taken either way, so that taking them is tested too."""
    configured = os.environ.get("CONSOLE_SCREENSHOTS")
    directory = ROOT / configured if configured else tmp_path / "screenshots"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@dataclass
class Console:
    """The browser at the console: navigation that waits for the page to arrive, the statuses
    that brought it, and the checks every page gets."""

    driver: webdriver.Chrome
    base_url: str
    screenshots: Path
    secrets: list[str]  # what no page or cookie may contain: the API keys
    statuses: list[tuple[str, int]] = field(default_factory=list)  # of the last navigation
    visited: list[str] = field(default_factory=list)

    # --- navigation ---------------------------------------------------------------------------
    def url(self, path: str) -> str:
        return self.base_url + path

    @property
    def path(self) -> str:
        """The current URL without the server's origin (path and query)."""
        current: str = self.driver.current_url
        assert current.startswith(self.base_url), current
        return current.removeprefix(self.base_url)

    def open(self, path: str) -> None:
        self.driver.get(self.url(path))
        self._arrived()

    def follow(self, element: WebElement) -> None:
        """Clicks a link or a submit button, and waits until the next page has replaced this one
        (a click returns before the page it started has come)."""
        page = self.driver.find_element(By.TAG_NAME, "html")
        element.click()
        WebDriverWait(self.driver, NAVIGATION_TIMEOUT).until(expected_conditions.staleness_of(page))
        self._arrived()

    def back(self, expected_path: str) -> None:
        """The browser's Back button, to `expected_path` (from the page cache or the server)."""
        self.driver.back()
        WebDriverWait(self.driver, NAVIGATION_TIMEOUT).until(
            lambda driver: driver.current_url == self.url(expected_path)
        )
        self._arrived()

    def wait_for_page(self) -> None:
        """After a navigation started some other way (a key pressed): the page's checks."""
        self._arrived()

    def _arrived(self) -> None:
        WebDriverWait(self.driver, NAVIGATION_TIMEOUT).until(
            lambda driver: driver.execute_script("return document.readyState") == "complete"
        )
        self.statuses = self._document_statuses()
        self.visited.append(self.path)
        source = self.driver.page_source
        cookies = json.dumps(self.driver.get_cookies())
        for secret in self.secrets:
            assert secret not in source, f"an API key in the source of {self.path}"
            assert secret not in cookies, f"an API key in a cookie at {self.path}"

    def _document_statuses(self) -> list[tuple[str, int]]:
        """(path, status) of each document response since the last call, redirects included;
        empty when the page came from the back-forward cache."""
        statuses: list[tuple[str, int]] = []
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            params = message["params"]
            if params.get("type") != "Document":
                continue
            if message["method"] == "Network.requestWillBeSent" and "redirectResponse" in params:
                response = params["redirectResponse"]
            elif message["method"] == "Network.responseReceived":
                response = params["response"]
            else:
                continue
            if response["url"].startswith(self.base_url):  # not the new window's data:,
                statuses.append((response["url"].removeprefix(self.base_url), response["status"]))
        return statuses

    # --- reading the page ---------------------------------------------------------------------
    def find(self, css: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str) -> list[WebElement]:
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def absent(self, css: str) -> bool:
        try:
            self.driver.find_element(By.CSS_SELECTOR, css)
        except NoSuchElementException:
            return True
        return False

    def button(self, text: str, within: str = "body") -> WebElement:
        """The one button (or submit input) labelled `text` inside `within`."""
        candidates = self.find(within).find_elements(By.CSS_SELECTOR, "button, input[type=submit]")
        matching = [
            element
            for element in candidates
            if (element.text or element.get_attribute("value") or "").strip() == text
        ]
        assert len(matching) == 1, f"{len(matching)} buttons {text!r} in {within} at {self.path}"
        return matching[0]

    def link(self, text: str, within: str = "body") -> WebElement:
        """The one link whose text is `text` inside `within`."""
        matching = [
            element
            for element in self.find(within).find_elements(By.TAG_NAME, "a")
            if element.text.strip() == text
        ]
        assert len(matching) == 1, f"{len(matching)} links {text!r} in {within} at {self.path}"
        return matching[0]

    def links(self, within: str) -> list[str]:
        return [
            element.text.strip() for element in self.find(within).find_elements(By.TAG_NAME, "a")
        ]

    def label_of(self, input_id: str) -> str:
        return str(self.find(f"label[for={input_id}]").text.strip())

    def type_into(self, css: str, text: str) -> None:
        element = self.find(css)
        element.clear()
        element.send_keys(text)

    # --- screenshots --------------------------------------------------------------------------
    def screenshot(self, name: str) -> Path:
        """The whole page (not only the window) at laptop size, as `name`.png."""
        return self._capture(name, LAPTOP, mobile=False)

    def phone_screenshot(self, name: str) -> Path:
        """The whole page as a phone shows it (its width, touch, the page's viewport meta)."""
        return self._capture(name, PHONE, mobile=True)

    def _capture(self, name: str, screen: tuple[int, int], mobile: bool) -> Path:
        # a screen as tall as the page, so that the shot holds all of it; then the window's own
        # size again (Chromium's captureBeyondViewport left the next click on a stale node)
        def emulate(height: int) -> None:
            metrics = {"width": screen[0], "height": height, "deviceScaleFactor": 1}
            self.driver.execute_cdp_cmd(
                "Emulation.setDeviceMetricsOverride", {**metrics, "mobile": mobile}
            )

        emulate(screen[1])
        try:
            layout = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
            emulate(max(screen[1], int(layout["cssContentSize"]["height"])))
            shot: dict[str, Any] = self.driver.execute_cdp_cmd(
                "Page.captureScreenshot", {"format": "png"}
            )
        finally:
            self.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        path = self.screenshots / f"{name}.png"
        path.write_bytes(base64.b64decode(shot["data"]))
        assert path.read_bytes().startswith(b"\x89PNG"), path
        return path


@pytest.fixture
def console(console_server: Server, operators: Operators, tmp_path: Path) -> Iterator[Console]:
    """A fresh headless Chromium (no cookies, no session) at the console's server."""
    driver = _chromium()
    try:
        yield Console(
            driver=driver,
            base_url=console_server.url,
            screenshots=_screenshot_dir(tmp_path),
            secrets=[operators.admin.key, operators.reader.key],
        )
    finally:
        driver.quit()
