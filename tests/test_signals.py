"""Stopping on SIGTERM and SIGINT through `watcher.signals`: the handler takes no lock, the Spark driver
stops its query on either signal (also after pyspark has put in its own SIGINT handler), and the review
page exits 0 on either. The service's own stop is tested in test_stopping.py.

Each signal goes to a child process: a handler that is missing kills it, and one that deadlocks hangs it,
and either fails here instead of taking the test worker down.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from service_helpers import wait_for

CHILD_TIMEOUT = 60  # seconds: importing the Spark driver's modules takes a few on two busy cores

# A stop signal that lands while the main thread holds the stop event's own lock, as `Event.set` and
# `Event.wait` hold it: a handler that sets the event waits for that lock for ever.
LOCKED = """
import signal
from watcher.signals import SignalStop, stopping_on_signals

stop = SignalStop()
with stopping_on_signals(stop):
    with stop.event._cond:
        signal.raise_signal(signal.SIGTERM)
    print("caught", signal.Signals(stop.caught.number).name, stop.is_set())
print("restored", signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)
"""

# `run_on_spark` with a session and a streaming query that stand in for Spark's: the signal handling is the
# driver's own. argv[1]: "poll" says "polling" on each look at the query and waits for a signal from outside;
# "locked" sends itself SIGTERM while holding the stop event's lock, as LOCKED does.
SPARK_DRIVER = """
import os, signal, sys, threading, time
from watcher.settings import SparkSettings
from watcher.spark import stream

mode = sys.argv[1]
event = threading.Event()

class Query:
    isActive = True
    recentProgress = []

    def awaitTermination(self, seconds):
        if mode == "locked":
            with event._cond:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.2)  # the handler runs meanwhile, the lock held
        else:
            print("polling", flush=True)
            time.sleep(seconds)

    def stop(self):
        self.isActive = False
        print("query stopped", flush=True)

    def exception(self):
        return None

class Session:
    def stop(self):
        print("session stopped", flush=True)

def start_session(master):
    signal.signal(signal.SIGINT, signal.default_int_handler)  # as pyspark's context does as it starts
    return Session()

stream.check_spark = lambda: None
stream._check_paths = lambda settings: None
stream.Classifier = lambda model: None
stream.start_session = start_session
stream._start_query = lambda spark, settings: Query()
summary = stream.run_on_spark(SparkSettings(source="in", out="out", watch=True), stop=event, progress=print)
print("stopped" if summary.stopped else "finished", flush=True)
"""


def test_a_stop_signal_is_noted_without_taking_the_lock_the_main_thread_holds():
    done = subprocess.run([sys.executable, "-c", LOCKED], capture_output=True, text=True, timeout=CHILD_TIMEOUT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["caught SIGTERM True", "restored True"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_spark_driver_stops_its_query_on_a_signal(tmp_path: Path, sig: int):
    pytest.importorskip("pyspark")
    out = tmp_path / "driver.log"
    with out.open("w") as log:
        child = subprocess.Popen([sys.executable, "-c", SPARK_DRIVER, "poll"], stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: "polling" in out.read_text() or child.poll() is not None, timeout=60, what="polling")
            child.send_signal(sig)  # SIGINT after the stand-in for pyspark put in its own handler
            code = child.wait(timeout=CHILD_TIMEOUT)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    text = out.read_text()
    assert code == 0, text
    assert text.rstrip().split("\n")[-3:] == ["query stopped", "session stopped", "stopped"], text


def test_the_spark_driver_stops_when_a_signal_lands_while_the_stop_event_is_locked():
    pytest.importorskip("pyspark")
    done = subprocess.run(
        [sys.executable, "-c", SPARK_DRIVER, "locked"], capture_output=True, text=True, timeout=CHILD_TIMEOUT
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["query", "stopped", "session", "stopped", "stopped"], done.stdout


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_review_page_exits_0_on_a_signal(tmp_path: Path, mnist_small, digitwatch_exe: str, sig: int):
    pytest.importorskip("uvicorn")
    from review_helpers import ReviewProcess, review_folder

    inbox, results = review_folder(tmp_path, mnist_small["x_test"], mnist_small["y_test"], count=2)
    with ReviewProcess(digitwatch_exe, tmp_path / "review.log", "--results", results, "--inbox", inbox) as review:
        code, _ = review.terminate(sig=sig)
        assert code == 0, review.log()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_review_page_exits_0_on_a_signal_sent_the_moment_it_prints_its_address(
    tmp_path: Path, mnist_small, digitwatch_exe: str, sig: int
):
    """A user who presses Ctrl+C as the address appears: the signal lands before uvicorn has put in its own
    handlers. It once killed the page (-15) or was noted and then ignored, leaving it serving."""
    pytest.importorskip("uvicorn")
    from review_helpers import review_folder

    inbox, results = review_folder(tmp_path, mnist_small["x_test"], mnist_small["y_test"], count=2)
    args = (digitwatch_exe, "review", "--port", "0", "--results", results, "--inbox", inbox)
    page = subprocess.Popen(list(map(str, args)), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert page.stdout is not None
        printed = next((line for line in iter(page.stdout.readline, "") if "Review page:" in line), None)
        page.send_signal(sig)
        code = page.wait(timeout=10)
    finally:
        if page.poll() is None:
            page.kill()
            page.wait()
        page.stdout.close()
    assert printed and code == 0, code
