"""Shared fixtures: a small MNIST slice, a tiny real Keras model, digit images on disk."""

from __future__ import annotations

import compileall
import fcntl
import json
import os
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from requirements import require_or_skip
from watcher.model.classifier import default_model_path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Tests that import TensorFlow in the test process (Keras models, training, the converter) run on one
# worker (`--dist loadgroup`), which starts with them: importing TensorFlow takes ~8 s of CPU, once per
# process, and the other workers then never pay it (tiny_models below). They are also slow
# (pytest_itemcollected): the fast tier, `-m "not slow"`, never imports TensorFlow.
TENSORFLOW = pytest.mark.xdist_group("tensorflow")

DATA_DIR = Path(__file__).parent / "data"
SMALL_MNIST = DATA_DIR / "mnist_small.npz"
FULL_MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist.npz"


@pytest.fixture(scope="session")
def mnist_small() -> dict[str, np.ndarray]:
    """1,000 training and 1,000 test digits (uint8) with labels."""
    with np.load(SMALL_MNIST) as archive:
        return {key: archive[key] for key in archive.files}


@pytest.fixture(scope="session")
def full_mnist_path() -> Path:
    """The full MNIST file (../shared/data/mnist.npz beside the repository): the `mnist` part of requirements.py."""
    if not FULL_MNIST.is_file():
        require_or_skip("mnist", f"no file at {FULL_MNIST}")
    return FULL_MNIST


def pytest_configure(config: pytest.Config) -> None:
    """Byte-compile the package once per run, in the controlling process, before any worker starts.

    An editable install has no byte-code, and where PYTHONDONTWRITEBYTECODE is set (as on our CI
    machines) Python never writes it: each of the ~100 console-script starts in a run compiled the
    package again, 0.25 s of CPU each. Python reads byte-code that exists even under that variable;
    a wheel install has it from pip.
    """
    if not hasattr(config, "workerinput"):  # the controller, or a run without workers
        root = Path(__file__).resolve().parents[1]
        for package in ("watcher", "train"):
            compileall.compile_dir(root / package, quiet=1, workers=1)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: two test workers per core. Most tests wait (on a service, a file, a browser, a JVM)
    rather than compute: with one worker per core the cores were idle a quarter of the fast tier's
    time and half of the full suite's."""
    return 2 * len(os.sched_getaffinity(0))


def pytest_itemcollected(item: pytest.Item) -> None:
    """A test that imports TensorFlow is slow: the import alone costs a worker ~8 s of CPU. Marked here,
    before `-m "not slow"` deselects, so that the fast tier never imports it."""
    if any("tensorflow" in (*mark.args, *mark.kwargs.values()) for mark in item.iter_markers("xdist_group")):
        item.add_marker(pytest.mark.slow)


@pytest.hookimpl(trylast=True)  # after pytest-xdist's own, which tags the tests of an xdist_group
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Start the slow tests first: they then overlap the many short ones, instead of leaving one worker
    busy at the end (longest jobs first). Keep each xdist_group together."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
    if getattr(config.option, "loadgroup", False):  # an xdist worker under --dist loadgroup
        for item in items:
            _tag_group(item)


def _tag_group(item: pytest.Item) -> None:
    """Give a test of an xdist_group the node id `...@group` by which --dist loadgroup schedules it.

    pytest-xdist 3.8 writes that id to `item._nodeid`, which pytest 9.2 no longer reads: every group
    was silently spread over the workers (pytest-dev/pytest-xdist#1386). Where xdist's own write took,
    or where pytest keeps its node id elsewhere again, this does nothing: the grouping only saves time.
    """
    names = {str(mark.args[0] if mark.args else mark.kwargs.get("name")) for mark in item.iter_markers("xdist_group")}
    suffix = "@" + "_".join(sorted(names))
    if not names or item.nodeid.endswith(suffix):
        return
    try:
        from _pytest.nodeid import NodeId  # pytest 9.2's structured node ids
    except ImportError:
        return
    if isinstance(getattr(item, "_id", None), NodeId):
        item._id = NodeId.parse(item.nodeid + suffix)


@contextmanager
def built_once(tmp_path_factory, testrun_uid: str, name: str) -> Iterator[tuple[Path, bool]]:
    """A folder shared by this run's test workers, and whether this worker must build what goes in it.

    Test workers (pytest-xdist) are separate processes: the first to arrive
    builds under an exclusive lock, the others wait and reuse it. The folder
    carries the run's id, so nothing leaks from one run into the next.
    """
    base = tmp_path_factory.getbasetemp()
    # A worker's base is popen-gwN inside the run's folder; without workers the base is the run's folder.
    # Either way the shared folder lies inside the run's folder, which pytest cleans up with it.
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / f"shared-{testrun_uid}"
    shared.mkdir(exist_ok=True)
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        folder = shared / name
        done = folder / ".done"
        yield folder, not done.exists()
        folder.mkdir(exist_ok=True)
        done.touch()


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory, testrun_uid, mnist_small) -> Path:
    """A folder holding the tiny model twice, built together once per run: keras/ alone, served/ with its
    LiteRT export.

    Building needs TensorFlow in the worker that builds: only tests marked TENSORFLOW use it, and they all
    run on one worker (`--dist loadgroup`).
    """
    with built_once(tmp_path_factory, testrun_uid, "tiny_models") as (folder, build):
        if build:
            _train_tiny_model(folder / "keras", mnist_small)
            _export_tiny_model(folder / "keras", folder / "served")
    return folder


@pytest.fixture(scope="session")
def tiny_model_path(tiny_models) -> Path:
    """A real but tiny Keras model (one dense layer on flattened digits), trained for seconds, once per run.

    Good for plumbing: it loads, predicts and is mostly right; it is not the shipped model. It has no
    .tflite beside it, so it runs through Keras: mark tests that use it with TENSORFLOW.
    """
    return tiny_models / "keras" / "tiny.keras"


@pytest.fixture(scope="session")
def tiny_export_path(tiny_models) -> Path:
    """The tiny model with the LiteRT export `train.export` wrote beside it: for tests of the export."""
    return tiny_models / "served" / "tiny.keras"


@pytest.fixture(scope="session")
def served_model_path(tmp_path_factory) -> Path:
    """A copy of the shipped model (.keras, .tflite and metadata) in a folder of its own, as `digitwatch
    train` leaves a model: given with `--model`, a service or classify starts without importing TensorFlow.

    A copy, not the package's own files: a test may rewrite the metadata beside it. Making it needs no
    TensorFlow, so the tests that serve a model stay in the fast tier (the tiny model is built with Keras).
    """
    shipped, folder = default_model_path(), tmp_path_factory.mktemp("served")
    for suffix in (".keras", ".tflite", ".meta.json"):
        shutil.copy2(shipped.with_name(shipped.stem + suffix), folder / f"{shipped.stem}{suffix}")
    return folder / shipped.name


def _train_tiny_model(folder: Path, mnist_small: dict[str, np.ndarray]) -> None:
    import keras

    from train.data import normalise_digits

    keras.utils.set_random_seed(0)
    x = normalise_digits(mnist_small["x_train"])
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(x, mnist_small["y_train"], epochs=8, batch_size=64, verbose=0)
    folder.mkdir(parents=True, exist_ok=True)
    model.save(folder / "tiny.keras")
    meta = {"output": "logits", "temperature": 1.0, "uncertain_below": 0.3, "normalisation_version": 1}
    (folder / "tiny.meta.json").write_text(json.dumps(meta))


def _export_tiny_model(source: Path, folder: Path) -> None:
    from train.export import export_litert

    folder.mkdir(parents=True, exist_ok=True)
    for name in ("tiny.keras", "tiny.meta.json"):
        shutil.copy2(source / name, folder / name)
    export_litert(folder / "tiny.keras")


def read_digit(path: Path) -> np.ndarray:
    """The 28x28 digit of a one-page image file as the service reads it (`prepare_file`); raises its error."""
    from watcher.reading.imaging import prepare_file

    (row,) = prepare_file(path)
    if row.error is not None:
        raise row.error
    assert row.digit is not None
    return row.digit


def save_digit_png(array: np.ndarray, path: Path, *, invert: bool = True) -> Path:
    """Write an MNIST digit as a PNG, dark ink on white paper by default, as a scan looks."""
    pixels = 255 - array if invert else array
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels.astype(np.uint8), mode="L").save(path)
    return path


@pytest.fixture
def digit_files(tmp_path, mnist_small):
    """Factory: write the first n test digits as PNGs into a folder; returns [(path, label)]."""

    def make(n: int, folder: Path | None = None) -> list[tuple[Path, int]]:
        folder = folder or tmp_path / "digits"
        return [
            (save_digit_png(mnist_small["x_test"][i], folder / f"digit_{i:04d}.png"), int(mnist_small["y_test"][i]))
            for i in range(n)
        ]

    return make


@pytest.fixture(scope="session")
def digitwatch_exe() -> str:
    """The installed console script, as a user runs it."""
    candidate = Path(sys.executable).parent / "digitwatch"
    found = str(candidate) if candidate.exists() else shutil.which("digitwatch")
    if not found:
        pytest.fail("the digitwatch console script is not installed; run: pip install -e '.[test]'")
    return found


# multiprocessing's forkserver and resource tracker serve the whole test process once started;
# they are ours to share, not leaks. Their children (decode workers) are counted.
SHARED_HELPERS = ("multiprocessing.forkserver import main", "multiprocessing.resource_tracker import main")
LEAK_WAIT = 5.0  # seconds a thread or process may take to finish after its test


@pytest.fixture(autouse=True)
def nothing_left_running():
    """Fail a test that leaves a thread (daemon threads too), a process or a socket behind."""
    threads_before = set(threading.enumerate())
    processes_before = _descendants_of_this_process()
    sockets_before = _open_sockets()
    yield
    deadline = time.monotonic() + LEAK_WAIT
    pause = threading.Event()
    while True:
        threads = [t for t in threading.enumerate() if t not in threads_before and t.is_alive()]
        processes = _descendants_of_this_process() - processes_before
        sockets = _open_sockets() - sockets_before
        if not (threads or processes or sockets) or time.monotonic() > deadline:
            break
        pause.wait(0.05)
    assert not threads, f"threads left running: {threads}"
    assert not processes, f"processes left running: {[_command(pid) for pid in processes]}"
    assert not sockets, f"sockets left open: {sockets}"


def _open_sockets() -> set[str]:
    """This process's open sockets ("socket:[inode]"), where /proc says (Linux)."""
    found = set()
    for entry in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(entry)
        except OSError:
            continue  # the descriptor that listed the folder, closed meanwhile
        if target.startswith("socket:"):
            found.add(target)
    return found


def _descendants_of_this_process() -> set[int]:
    from service_helpers import alive, descendants

    me = os.getpid()
    return {
        pid
        for pid in descendants(me)
        if alive(pid) and not (_parent(pid) == me and any(h in _command(pid) for h in SHARED_HELPERS))
    }


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return f"(pid {pid}, gone)"


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])
    except OSError:
        return -1
