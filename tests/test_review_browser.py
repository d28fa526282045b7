"""The review page in a real browser: Debian's Chromium, headless, driven by Selenium through chromedriver,
against `digitwatch review` run as users run it."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from requirements import require_or_skip
from review_helpers import HOSTILE_NAME, ReviewProcess, review_folder
from service_helpers import wait_for
from watcher.results.corrections import Correction, CorrectionsError, read_corrections
from watcher.results.reader import read_results
from watcher.review.spot import spot_checked

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
ROWS = 100  # the measure: a person reviews 100 uncertain rows with the keyboard alone


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    """A headless Chromium per test: a shared one would leave its page's renderer running between tests."""
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        require_or_skip("browser", f"no {CHROMIUM} or {CHROMEDRIVER} (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(argument)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def review(tmp_path: Path, mnist_small: dict[str, np.ndarray], digitwatch_exe: str) -> Iterator[ReviewProcess]:
    inbox, results = review_folder(tmp_path / "office", mnist_small["x_test"], mnist_small["y_test"], count=ROWS)
    args = ("--results", results, "--inbox", inbox, "--reviewer", "ann")
    with ReviewProcess(digitwatch_exe, tmp_path / "review.log", *args) as process:
        process.corrections = results.parent / "corrections.csv"  # type: ignore[attr-defined]
        yield process
        assert process.terminate()[0] == 0


def open_queue(driver: webdriver.Chrome, url: str) -> None:
    driver.get(url)
    wait_for(lambda: bool(driver.find_elements(By.CSS_SELECTOR, "tr.row.selected")), timeout=20, what="the queue")


def press(driver: webdriver.Chrome, *keys: str) -> None:
    ActionChains(driver).send_keys(*keys).perform()


def corrections_when(path: Path, count: int) -> list[Correction]:
    def written() -> bool:
        try:
            return len(read_corrections(path)) == count
        except CorrectionsError:  # caught between the bytes of an append: look again
            return False

    wait_for(written, timeout=30, what=f"{count} corrections")
    return read_corrections(path)


@pytest.mark.slow
def test_three_rows_corrected_with_the_keyboard_then_one_undone(
    browser: webdriver.Chrome, review: ReviewProcess, mnist_small: dict[str, np.ndarray]
) -> None:
    open_queue(browser, review.url)
    # The file called <img src=x onerror=alert(1)>.png shows as that text: no image, no script.
    assert HOSTILE_NAME in [cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "td.name a")]
    assert browser.find_elements(By.CSS_SELECTOR, 'img[src="x"]') == []
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018 (reading it is what raises when there is no alert)
    left = int(browser.find_element(By.ID, "left").text)
    true_label = int(mnist_small["y_test"][1])
    # Row 0: the model is right (Enter); row 1: type the right digit; row 2: not a digit.
    press(browser, Keys.ENTER, str(true_label), "x")
    corrections = corrections_when(review.corrections, 3)  # type: ignore[attr-defined]
    assert [(c.filename, c.label, c.reviewer) for c in corrections] == [
        ("form-000.png", str(mnist_small["y_test"][0]), "ann"),
        ("form-001.png", str(true_label), "ann"),
        ("form-002.png", "not_a_digit", "ann"),
    ]
    assert corrections[1].predicted == (true_label + 1) % 10  # what the model said, from the results
    assert int(browser.find_element(By.ID, "left").text) == left - 3
    press(browser, "j", "u")  # move on, then undo: the last correction goes, and its row is selected again
    corrections_when(review.corrections, 2)  # type: ignore[attr-defined]
    selected = browser.find_element(By.CSS_SELECTOR, "tr.row.selected")
    assert selected.get_attribute("data-filename") == "form-002.png"
    assert int(browser.find_element(By.ID, "left").text) == left - 2
    press(browser, "7")  # the undone row gets its new answer
    assert corrections_when(review.corrections, 3)[-1].label == "7"  # type: ignore[attr-defined]
    if screenshots := os.environ.get("DIGITWATCH_SCREENSHOTS"):  # the picture of the page in docs/review.md
        browser.execute_script("window.scrollTo(0, 0)")
        browser.save_screenshot(str(Path(screenshots) / "review.png"))


@pytest.mark.slow
def test_a_hundred_rows_reviewed_with_the_keyboard_alone(
    browser: webdriver.Chrome, review: ReviewProcess, mnist_small: dict[str, np.ndarray]
) -> None:
    open_queue(browser, review.url)
    labels = mnist_small["y_test"][:ROWS]
    # Even rows: the model is right, Enter; odd rows: it is wrong, type the digit.
    keys = [Keys.ENTER if index % 2 == 0 else str(labels[index]) for index in range(ROWS)]
    started = time.perf_counter()
    press(browser, *keys)
    keys_taken = time.perf_counter() - started
    corrections = corrections_when(review.corrections, ROWS)  # type: ignore[attr-defined]
    seconds = time.perf_counter() - started
    assert [c.label for c in corrections] == [str(label) for label in labels]
    assert [c.filename for c in corrections] == [f"form-{index:03d}.png" for index in range(ROWS)]
    assert int(browser.find_element(By.ID, "left").text) == 1  # only the blank page with the hostile name
    print(f"\n{ROWS} rows by keyboard: keys taken in {keys_taken:.2f} s, last row durable after {seconds:.2f} s")


@pytest.mark.slow
def test_a_spot_check_is_marked_and_confirmed_with_enter(
    browser: webdriver.Chrome, tmp_path: Path, mnist_small: dict[str, np.ndarray], digitwatch_exe: str
) -> None:
    inbox, results = review_folder(tmp_path / "office", mnist_small["x_test"], mnist_small["y_test"], count=4, sure=20)
    drawn = {r.filename: r for r in read_results(results) if spot_checked(r, below=0.9, percent=50)}
    assert drawn, "half of 20 sure rows: 2**-20 odds that none is drawn"
    args = ("--results", results, "--inbox", inbox, "--reviewer", "ann", "--spot-check", "50")
    with ReviewProcess(digitwatch_exe, tmp_path / "review.log", *args) as review:
        open_queue(browser, review.url)
        spots = browser.find_elements(By.CSS_SELECTOR, "tr.row.spot")
        assert {row.get_attribute("data-filename") for row in spots} == set(drawn)
        badges = [row.find_element(By.CSS_SELECTOR, ".badge.spot") for row in spots]
        assert all(badge.is_displayed() and badge.text == "spot check" for badge in badges)
        assert browser.find_elements(By.CSS_SELECTOR, "tr.row:not(.spot) .badge") == []
        row, record = spots[0], drawn[spots[0].get_attribute("data-filename") or ""]
        row.find_element(By.CSS_SELECTOR, "td.digit").click()  # select it, as a person would
        assert "selected" in (row.get_attribute("class") or "")
        press(browser, Keys.ENTER)  # the model is right
        [correction] = corrections_when(results.parent / "corrections.csv", 1)
        assert (correction.filename, correction.label, correction.predicted) == (
            record.filename,
            str(record.digit),
            record.digit,
        )
        browser.find_element(By.LINK_TEXT, record.filename).click()
        wait_for(lambda: "← queue" in browser.page_source, timeout=20, what="the file's page")
        assert browser.find_element(By.CSS_SELECTOR, "td.status .badge.spot").text == "spot check"
        assert review.terminate()[0] == 0
    # The report counts the confirmation as a spot check the model passed.
    reported = subprocess.run(
        [digitwatch_exe, "report", "--results", str(results)], capture_output=True, text=True, timeout=120
    )
    passed = "people checked 1 of 25 readings; spot checks: 0 of 1 sure ok rows wrong, 0.00%"
    assert passed in reported.stderr, reported.stderr
