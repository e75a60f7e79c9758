"""End to end in a real headless browser: uvicorn + the page + Chromium driven by Selenium.

Needs Debian's `chromium` and `chromium-driver` (`make test` installs them where it can, as
root); without them the test skips and says so.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import uvicorn

from gencurate.config import load_params
from gencurate.rate import votes as V
from gencurate.rate.app import create_app

REPO_ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync")
METHODS = ["full", "random", "coreset", "typicality"]
WAIT_S = 20


@pytest.fixture(scope="session")
def browser_paths() -> tuple[Path, Path]:
    """(chromium, chromedriver) when both are installed."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed (Debian packages chromium and "
                    "chromium-driver; `make test` installs them when run as root)")
    return CHROMIUM, CHROMEDRIVER


def demo_samples() -> dict:
    """Fake models: disjoint slices of the bundled Fashion-MNIST demo, so the screenshot shows real-looking images."""
    images = np.load(REPO_ROOT / load_params(REPO_ROOT / "params.yaml").paths.demo)["images"][:, :, :, None]
    return {(m, s): images[(2 * i + s) * 20:(2 * i + s + 1) * 20] for i, m in enumerate(METHODS) for s in (0, 1)}


@pytest.fixture()
def server(tmp_path):
    """The app on a free loopback port, served by uvicorn in a background thread."""
    app = create_app(samples=demo_samples(), votes_csv=tmp_path / "votes.csv", default_rater="tester", pair_seed=0)
    requests: Counter[str] = Counter()

    @app.middleware("http")
    async def count_requests(request, call_next):
        requests[request.url.path] += 1
        return await call_next(request)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT_S
    while not srv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}", tmp_path / "votes.csv", requests
    srv.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture()
def driver(browser_paths, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, chromedriver = browser_paths
    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,900"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit driver path: Selenium Manager is never asked to download anything.
    drv = webdriver.Chrome(service=Service(executable_path=str(chromedriver)), options=options)
    yield drv
    drv.quit()


def test_rating_in_a_real_browser(server, driver, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    url, votes_csv, requests = server
    wait = WebDriverWait(driver, WAIT_S)
    driver.get(url + "/")
    pair = driver.find_element(By.ID, "pair")
    wait.until(lambda d: pair.get_attribute("data-shown") == "1")
    wait.until(lambda d: requests["/api/pair"] == 2)  # the next pair is prefetched before any answer

    rater = driver.find_element(By.ID, "rater")
    assert rater.get_attribute("value") == "tester"  # the server's default rater
    rater.clear()
    rater.send_keys("dana", Keys.ARROW_LEFT, Keys.ARROW_DOWN, Keys.ENTER)  # arrows inside the field do not vote
    assert pair.get_attribute("data-shown") == "1"

    body = driver.find_element(By.TAG_NAME, "body")
    actions = [  # (how, answer): clicks and keys
        (lambda: driver.find_element(By.ID, "left-btn").click(), "left"),
        (lambda: body.send_keys(Keys.ARROW_RIGHT), "right"),
        (lambda: body.send_keys(Keys.ARROW_DOWN), "unsure"),
        (lambda: driver.find_element(By.ID, "unsure-btn").click(), "unsure"),
        (lambda: body.send_keys(Keys.ARROW_LEFT), "left"),
    ]
    shown_refs = []
    for k, (act, _) in enumerate(actions, start=1):
        shown_refs.append((driver.find_element(By.ID, "left-img").get_attribute("data-ref"),
                           driver.find_element(By.ID, "right-img").get_attribute("data-ref")))
        act()
        wait.until(lambda d, k=k: pair.get_attribute("data-shown") == str(k + 1))
    wait.until(lambda d: d.find_element(By.ID, "count").text == "5")

    # The pixels are really enlarged: 28-pixel samples arrive as 252-pixel PNGs, drawn pixelated.
    left_img = driver.find_element(By.ID, "left-img")
    assert driver.execute_script("return arguments[0].naturalWidth", left_img) == 252
    assert left_img.value_of_css_property("image-rendering") in ("pixelated", "crisp-edges")

    votes = V.read_votes(votes_csv)
    assert len(votes) == 5
    assert votes[V.ANSWER].tolist() == [a for _, a in actions]
    assert set(votes[V.RATER]) == {"dana"}
    recorded = [(f"{r.left_method}/{r.left_seed}/{r.left_index}", f"{r.right_method}/{r.right_seed}/{r.right_index}")
                for r in votes.itertuples()]
    assert recorded == shown_refs
    assert all(r.left_method != r.right_method for r in votes.itertuples())
    severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, severe

    # The page fits the window; the README's reports/human/screenshot.png is such a capture
    # (kept out of the repository here: a test never rewrites tracked files, which compare depends on).
    assert driver.execute_script("return document.documentElement.scrollHeight <= window.innerHeight")  # no scrolling
    screenshot = tmp_path / "screenshot.png"
    assert driver.save_screenshot(str(screenshot))
    assert screenshot.stat().st_size > 10_000
