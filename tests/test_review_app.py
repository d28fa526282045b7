"""The review application's pages and guards, through FastAPI's test client (no browser, no socket)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from review_helpers import HOSTILE_NAME, review_folder, sha256_of
from service_helpers import wait_for
from watcher.results.corrections import read_corrections
from watcher.review.app import TOKEN_HEADER, create_app
from watcher.settings import ReviewSettings

TOKEN = "s3cret-token"
LOCAL = "http://127.0.0.1:8765"


@pytest.fixture
def folder(tmp_path: Path, mnist_small: dict[str, np.ndarray]) -> tuple[Path, Path]:
    return review_folder(tmp_path, mnist_small["x_test"], mnist_small["y_test"], count=6)


def client_for(settings: ReviewSettings, base_url: str = LOCAL) -> TestClient:
    return TestClient(create_app(settings, token=TOKEN), base_url=base_url)


@pytest.fixture
def local(folder: tuple[Path, Path]) -> Iterator[TestClient]:
    inbox, results = folder
    with client_for(ReviewSettings(results=results, inbox=inbox)) as client:
        _wait_loaded(client)
        yield client


def _wait_loaded(client: TestClient) -> None:
    wait_for(lambda: client.get("/api/loading").json()["done"], timeout=10, what="the results read")


def post_correction(client: TestClient, name: str, sha256: str, label: str, **headers: str) -> int:
    body = {"filename": name, "page": None, "sha256": sha256, "label": label}
    return client.post("/api/corrections", json=body, headers=headers).status_code


def test_queue_lists_the_doubtful_rows_and_escapes_names(local: TestClient, folder: tuple[Path, Path]) -> None:
    page = local.get("/").text
    assert page.count('class="row') == 7
    assert "&lt;img src=x onerror=alert(1)&gt;.png" in page and HOSTILE_NAME not in page
    inbox, _ = folder
    name, sha = "form-001.png", sha256_of(inbox / "form-001.png")
    original = local.get("/image", params={"name": name, "sha256": sha, "kind": "original"})
    seen = local.get("/image", params={"name": name, "sha256": sha, "kind": "input"})
    assert original.headers["content-type"] == seen.headers["content-type"] == "image/png"
    assert original.content[:8] == seen.content[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "name", ["../../etc/passwd", "/etc/passwd", "../results/predictions.csv", "form-999.png", "form-001.png"]
)
def test_only_files_recorded_in_the_results_are_served(local: TestClient, name: str) -> None:
    # form-001.png is recorded, but not with this content hash: not served either.
    assert local.get("/image", params={"name": name, "sha256": "0" * 64}).status_code == 404


def test_a_recorded_name_climbing_out_of_the_folders_is_not_served(tmp_path: Path) -> None:
    secret = tmp_path / "secret.png"
    Image.fromarray(np.zeros((40, 40), np.uint8)).save(secret)  # readable: only the folder rule keeps it out
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    results = tmp_path / "results.csv"
    results.write_text(
        "filename,digit,confidence,status,processed_at,detail,sha256,page\r\n"
        f"../secret.png,1,0.5000,uncertain,2026-12-01T00:00:00Z,,{sha256_of(secret)},\r\n"
    )
    with client_for(ReviewSettings(results=results, inbox=inbox)) as client:
        _wait_loaded(client)
        assert client.get("/image", params={"name": "../secret.png", "sha256": sha256_of(secret)}).status_code == 404


def test_writes_need_the_token_and_go_to_the_corrections_file(local: TestClient, folder: tuple[Path, Path]) -> None:
    inbox, results = folder
    sha = sha256_of(inbox / "form-002.png")
    assert post_correction(local, "form-002.png", sha, "4") == 403
    assert post_correction(local, "form-002.png", sha, "4", **{TOKEN_HEADER: "wrong"}) == 403
    form = local.post("/api/corrections", data={"filename": "form-002.png", "label": "4"})  # a cross-site form
    assert form.status_code == 403
    assert not (results.parent / "corrections.csv").exists()
    assert post_correction(local, "form-002.png", sha, "4", **{TOKEN_HEADER: TOKEN}) == 200
    assert post_correction(local, "form-002.png", sha, "44", **{TOKEN_HEADER: TOKEN}) == 400
    assert post_correction(local, "../etc/passwd", sha, "4", **{TOKEN_HEADER: TOKEN}) == 404
    [correction] = read_corrections(results.parent / "corrections.csv")
    assert (correction.filename, correction.label, correction.sha256) == ("form-002.png", "4", sha)
    assert correction.predicted is not None  # taken from the results row, never from the page


def test_undo_takes_back_the_last_correction(local: TestClient, folder: tuple[Path, Path]) -> None:
    inbox, results = folder
    for name, label in (("form-000.png", "1"), ("form-003.png", "not_a_digit")):
        assert post_correction(local, name, sha256_of(inbox / name), label, **{TOKEN_HEADER: TOKEN}) == 200
    assert local.post("/api/undo", headers={TOKEN_HEADER: TOKEN}).json()["filename"] == "form-003.png"
    assert [c.filename for c in read_corrections(results.parent / "corrections.csv")] == ["form-000.png"]
    assert local.get("/").text.count('class="row') == 6  # the corrected row left the queue
    assert "form-000.png" in local.get("/", params={"reviewed": "true"}).text


def test_another_host_name_is_refused_on_loopback(folder: tuple[Path, Path]) -> None:
    inbox, results = folder
    with client_for(ReviewSettings(results=results, inbox=inbox), base_url="http://evil.example:8765") as client:
        assert client.get("/").status_code == 403  # DNS rebinding: a page of evil.example reaching our port


def test_off_loopback_every_request_needs_the_token(folder: tuple[Path, Path]) -> None:
    inbox, results = folder
    settings = ReviewSettings(results=results, inbox=inbox, host="0.0.0.0")
    with client_for(settings, base_url="http://192.0.2.7:8765") as client:
        assert client.get("/").status_code == 401
        assert client.get("/api/loading").status_code == 401
        assert client.get("/", params={"token": "wrong"}).status_code == 401
        entered = client.get("/", params={"token": TOKEN}, follow_redirects=False)
        assert entered.status_code == 303 and "token" not in entered.headers["location"]
        _wait_loaded(client)  # the cookie now carries the token
        assert client.get("/").status_code == 200


def test_file_page_shows_every_row_of_a_changed_file(local: TestClient, folder: tuple[Path, Path]) -> None:
    _, results = folder
    with results.open("a", newline="") as file:
        csv.writer(file, lineterminator="\r\n").writerow(
            ["form-004.png", "8", "0.9900", "ok", "2026-12-02T10:00:00.000Z", "", "f" * 64, ""]
        )
    page = local.get("/file", params={"name": "form-004.png"}).text
    assert page.count("<tr><td>2026-12-0") == 2
    assert local.get("/file", params={"name": "nothing.png"}).status_code == 404


def test_a_document_page_is_shown_by_its_page(tmp_path: Path, mnist_small: dict[str, np.ndarray]) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    pages = [Image.fromarray(255 - mnist_small["x_test"][i]).resize((84, 84)) for i in (0, 1)]
    pages[1] = Image.new("L", (300, 100), 255)  # page 2: a wide blank page, no digit on it
    pages[0].save(inbox / "form.tif", save_all=True, append_images=pages[1:])
    sha = sha256_of(inbox / "form.tif")
    results = tmp_path / "results.csv"
    results.write_text(
        "filename,digit,confidence,status,processed_at,detail,sha256,page\r\n"
        f"form.tif,7,0.6000,uncertain,2026-12-01T00:00:00Z,,{sha},1\r\n"
        f"form.tif,,,no_digit,2026-12-01T00:00:00Z,no ink,{sha},2\r\n"
    )
    with client_for(ReviewSettings(results=results, inbox=inbox)) as client:
        _wait_loaded(client)
        sizes = {}
        for page in (1, 2):
            shown = client.get("/image", params={"name": "form.tif", "sha256": sha, "page": page})
            assert shown.status_code == 200
            sizes[page] = Image.open(io.BytesIO(shown.content)).size
        assert sizes == {1: (84, 84), 2: (150, 50)}  # each page itself, reduced by a whole factor to <= 200 px
        seen = client.get("/image", params={"name": "form.tif", "sha256": sha, "page": 1, "kind": "input"})
        assert Image.open(io.BytesIO(seen.content)).size == (112, 112)  # 28x28, four times larger
        assert client.get("/image", params={"name": "form.tif", "sha256": sha, "page": 3}).status_code == 404
