"""Shared machinery for the functional tests.

Environment variables:
  STAGING_SERVER    host[:port] (or a full http:// / https:// URL) of a deployed
                    site to test instead of Django's live test server.
  FT_BROWSER        "chromium" (default) or "firefox".
  CHROMEDRIVER      chromedriver path (default /usr/bin/chromedriver).
  CHROMIUM_BINARY   Chromium path (default /usr/bin/chromium).
  GECKODRIVER       geckodriver path (default: found on PATH).
  FIREFOX_BINARY    Firefox path (default: geckodriver's own choice).
  FT_INSECURE_CERTS set to accept a self-signed certificate on a staging site.

A driver path is always given to Selenium, so Selenium Manager never runs
and never tries to download a driver or a browser.
"""

import os
import shutil
import time
import uuid
from functools import wraps

from django.contrib.staticfiles.testing import StaticLiveServerTestCase
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

MAX_WAIT = 10  # seconds
POLL = 0.1

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1024,768",
]


def wait(fn):
    """Retry fn until it stops raising AssertionError/WebDriverException, for MAX_WAIT s."""

    @wraps(fn)
    def retrying(*args, **kwargs):
        deadline = time.monotonic() + MAX_WAIT
        while True:
            try:
                return fn(*args, **kwargs)
            except (AssertionError, WebDriverException):
                if time.monotonic() > deadline:
                    raise
                time.sleep(POLL)

    return retrying


def staging_url():
    server = os.environ.get("STAGING_SERVER", "").strip().rstrip("/")
    if not server:
        return None
    if server.startswith(("http://", "https://")):
        return server
    return "http://" + server


def make_browser():
    insecure = bool(os.environ.get("FT_INSECURE_CERTS"))
    if os.environ.get("FT_BROWSER", "chromium").lower() == "firefox":
        driver = os.environ.get("GECKODRIVER") or shutil.which("geckodriver")
        if not driver:
            raise RuntimeError(
                "FT_BROWSER=firefox needs geckodriver on PATH or GECKODRIVER set"
            )
        options = webdriver.FirefoxOptions()
        options.add_argument("-headless")
        options.add_argument("--width=1024")
        options.add_argument("--height=768")
        if os.environ.get("FIREFOX_BINARY"):
            options.binary_location = os.environ["FIREFOX_BINARY"]
        options.accept_insecure_certs = insecure
        return webdriver.Firefox(
            options=options, service=webdriver.FirefoxService(executable_path=driver)
        )

    options = webdriver.ChromeOptions()
    for arg in CHROMIUM_ARGS:
        options.add_argument(arg)
    options.binary_location = os.environ.get("CHROMIUM_BINARY", "/usr/bin/chromium")
    options.accept_insecure_certs = insecure
    service = webdriver.ChromeService(
        executable_path=os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
    )
    return webdriver.Chrome(options=options, service=service)


class FunctionalTest(StaticLiveServerTestCase):
    def setUp(self):
        self.browser = make_browser()
        self.addCleanup(lambda: self.browser.quit())
        self.browser.set_window_size(1024, 768)
        if staging_url():
            # The book's hack: point the tests at the deployed site instead.
            self.live_server_url = staging_url()

    @staticmethod
    def unique(text):
        """Item text no earlier run can have left in a deployed site's database."""
        return f"{text} {uuid.uuid4().hex[:8]}"

    def restart_browser(self):
        """A brand new browser: no cookies, nothing shared with the last visitor."""
        self.browser.quit()
        self.browser = make_browser()
        self.browser.set_window_size(1024, 768)

    def get_item_input_box(self):
        return self.browser.find_element(By.ID, "id_new_item")

    def add_list_item(self, text, expected_row_number):
        self.get_item_input_box().send_keys(text + Keys.ENTER)
        self.wait_for_row_in_list_table(f"{expected_row_number}: {text}")

    @wait
    def wait_for_row_in_list_table(self, row_text):
        table = self.browser.find_element(By.ID, "id_list_table")
        rows = table.find_elements(By.TAG_NAME, "tr")
        self.assertIn(row_text, [row.text for row in rows])

    @wait
    def wait_for(self, fn):
        return fn()

    def get_error_element(self):
        return self.browser.find_element(By.CSS_SELECTOR, ".invalid-feedback")
