"""The review application: the queue page, a page per file, the pictures, and the writes that correct.

Guards, because a page that writes files must not be steered by other sites:
- every write carries the token in a header, which only the page itself
  (served with the token in it) can send; another site's form or script
  cannot add the header without a CORS permission this app never gives;
- bound to loopback, the Host header must name loopback (no DNS rebinding);
  bound to any other address, every request needs the token too (`?token=`
  once, then a cookie);
- only files named in the results are served, looked for in the image
  folders and never outside them, and only while their content is still
  the one their row was read from;
- Jinja2 escapes every value, so a file called `<img src=x onerror=...>`
  shows as text.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader
from pydantic import BaseModel

from watcher.protocol import NOT_A_DIGIT, Status
from watcher.results.corrections import Appended, Correction, CorrectionsError, CorrectionsFile, find_file
from watcher.results.store import ResultsError
from watcher.review.pictures import Picture, PictureError, file_data, model_input_png, thumbnail_png
from watcher.review.queue import REVIEWABLE, QueueFilter, ReviewQueue
from watcher.review.spot import Why, spot_checked
from watcher.settings import ReviewSettings

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
TOKEN_HEADER = "X-Digitwatch-Token"
TOKEN_COOKIE = "digitwatch_token"
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
SHOWN = 500  # rows on one page of the queue; the count says how many are left in all
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self'; style-src 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",  # keys typed into a framed page would write corrections
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the token may be in the address
}


class CorrectionIn(BaseModel):
    """A correction as the page posts it; the predicted digit is taken from the results, not from here."""

    filename: str
    page: int | None = None
    sha256: str
    label: str


@dataclass
class ReviewState:
    """What the running application holds: settings, token, queue, and this server's appends for undo."""

    settings: ReviewSettings
    token: str
    queue: ReviewQueue
    writer: CorrectionsFile
    appended: list[tuple[Appended, Correction]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def create_app(settings: ReviewSettings, *, token: str | None = None) -> FastAPI:
    """The review application for these settings; the token guards writes (and reads off loopback)."""
    corrections = settings.corrections_file()
    state = ReviewState(
        settings=settings,
        token=token or settings.token or secrets.token_urlsafe(24),
        queue=ReviewQueue(settings.results, corrections),
        writer=CorrectionsFile(corrections),
    )
    app = FastAPI(
        title="digitwatch review", docs_url=None, redoc_url=None, openapi_url=None, lifespan=_loading_in_background
    )
    app.state.review = state
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.middleware("http")(_guard)
    _add_pages(app)
    _add_api(app)
    return app


class _Stopped(Exception):
    """The server stops while the results are still being read."""


@asynccontextmanager
async def _loading_in_background(app: FastAPI) -> AsyncIterator[None]:
    """Read the results in a thread while the server already answers (the page shows progress)."""
    state: ReviewState = app.state.review
    stopping = threading.Event()
    loader = threading.Thread(target=_load, args=(state, stopping), name="review-loader")
    loader.start()
    try:
        yield
    finally:
        stopping.set()
        loader.join()


def _load(state: ReviewState, stopping: threading.Event) -> None:
    reported = [0.0]

    def progress(bytes_read: int, bytes_total: int) -> None:
        state.queue.loading.bytes_read, state.queue.loading.bytes_total = bytes_read, bytes_total
        if stopping.is_set():
            raise _Stopped
        if bytes_read >= bytes_total or bytes_read - reported[0] >= 0.1 * bytes_total:
            reported[0] = bytes_read
            log.info("reading the results: %d of %d KB", bytes_read // 1024, bytes_total // 1024)

    try:
        state.queue.refresh(progress)
    except (ResultsError, CorrectionsError) as exc:
        state.queue.loading.error = f"{exc}. Stop the review page and start it with the right --results."
        log.error("%s", state.queue.loading.error)
    except _Stopped:
        pass


TEMPLATES = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True)


def _state(request: Request) -> ReviewState:
    state: ReviewState = request.app.state.review
    return state


State = Annotated[ReviewState, Depends(_state)]


async def _guard(request: Request, call_next: Any) -> Response:
    """Refuse requests from elsewhere (see the module's docstring), then add the security headers."""
    state = _state(request)
    settings = state.settings
    loopback = settings.host in LOOPBACK
    host = (request.headers.get("host") or "").rsplit(":", 1)[0].strip("[]")
    if loopback and host not in LOOPBACK:
        return _refusal(403, "this page answers only at 127.0.0.1 or localhost")
    if request.method != "GET" and not secrets.compare_digest(request.headers.get(TOKEN_HEADER, ""), state.token):
        return _refusal(403, f"a write needs the {TOKEN_HEADER} header the review page sends")
    if not loopback and request.method == "GET":
        given = request.query_params.get("token")
        if given is not None and secrets.compare_digest(given, state.token):
            response: Response = RedirectResponse(request.url.remove_query_params("token"), status_code=303)
            response.set_cookie(TOKEN_COOKIE, state.token, httponly=True, samesite="strict")
            return _secured(response)
        if not secrets.compare_digest(request.cookies.get(TOKEN_COOKIE, ""), state.token):
            return _refusal(401, "open the address with ?token=... that `digitwatch review` printed")
    return _secured(await call_next(request))


def _refusal(code: int, why: str) -> Response:
    return _secured(JSONResponse({"error": why}, status_code=code))


def _secured(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


def _page(template: str, **values: Any) -> HTMLResponse:
    return HTMLResponse(TEMPLATES.get_template(template).render(**values))


def _add_pages(app: FastAPI) -> None:
    @app.get("/", response_class=HTMLResponse)
    def queue_page(
        state: State,
        status: Annotated[list[Status] | None, Query()] = None,
        below: float | None = None,
        since: str = "",
        until: str = "",
        digit: Annotated[int | None, Query(ge=0, le=9)] = None,
        reviewed: bool = False,
    ) -> HTMLResponse:
        """The rows that need a person, with thumbnails, the model's digit and confidence."""
        if not state.queue.loading.done:
            return _page("loading.html", loading=state.queue.loading)
        try:
            state.queue.refresh()
        except (ResultsError, CorrectionsError) as exc:
            state.queue.loading.error = str(exc)
            return _page("loading.html", loading=state.queue.loading)
        wanted = QueueFilter(
            statuses=frozenset(status or REVIEWABLE),
            below=state.settings.below if below is None else below,
            since=since,
            until=until,
            digit=digit,
            reviewed=reviewed,
            error_days=state.settings.error_days,
            spot_check=state.settings.spot_check,
        )
        items = state.queue.items(wanted)
        return _page(
            "queue.html",
            items=items[:SHOWN],
            left=sum(item.correction is None for item in items),
            total=len(items),
            shown=SHOWN,
            wanted=wanted,
            statuses=REVIEWABLE,
            spot_check=Why.SPOT_CHECK,
            token=state.token,
            results=state.settings.results,
        )

    @app.get("/file", response_class=HTMLResponse)
    def file_page(state: State, name: str) -> HTMLResponse:
        """One file's history: every row written for it, and every correction."""
        state.queue.refresh()
        records, corrections = state.queue.history(name)
        if not records:
            raise HTTPException(404, "no row in the results names this file")
        settings = state.settings
        drawn = {r for r in records if spot_checked(r, below=settings.below, percent=settings.spot_check)}
        return _page("file.html", name=name, records=records, corrections=corrections, drawn=drawn)

    @app.get("/image")
    def image(
        state: State, name: str, sha256: str, page: int | None = None, kind: Picture = Picture.ORIGINAL
    ) -> Response:
        """A file's thumbnail (kind=original) or the model's 28x28 input (kind=input); 404 unless recorded."""
        if state.queue.reading(name, page, sha256) is None:
            raise HTTPException(404, "no such row in the results")
        path = find_file(name, state.settings.image_folders())
        if path is None:
            raise HTTPException(404, "the file is no longer in the image folders")
        try:
            data = file_data(path, sha256)
            png = thumbnail_png(data, page) if kind == Picture.ORIGINAL else model_input_png(data, page)
        except PictureError as exc:
            raise HTTPException(404, str(exc)) from exc
        return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})


def _add_api(app: FastAPI) -> None:
    @app.get("/api/loading")
    def loading(state: State) -> dict[str, Any]:
        """How far the first reading of the results file has come."""
        return vars(state.queue.loading)

    @app.post("/api/corrections")
    def correct(state: State, given: CorrectionIn) -> dict[str, Any]:
        """Append a correction of a recorded row to the corrections file."""
        record = state.queue.reading(given.filename, given.page, given.sha256)
        if record is None:
            raise HTTPException(404, "no such row in the results")
        try:
            correction = Correction(
                filename=record.filename,
                label=given.label,
                page=record.page,
                sha256=record.sha256,
                predicted=record.digit,
                reviewer=state.settings.reviewer,
            )
            with state.lock:
                state.appended.append((state.writer.append(correction), correction))
        except CorrectionsError as exc:
            raise HTTPException(400, str(exc)) from exc
        return {"label": correction.label, "not_a_digit": correction.label == NOT_A_DIGIT}

    @app.post("/api/undo")
    def undo(state: State) -> dict[str, Any]:
        """Take back this page's last correction, while nothing was written after it."""
        with state.lock:
            if not state.appended:
                raise HTTPException(409, "nothing to undo")
            appended, correction = state.appended[-1]
            if not state.writer.undo(appended):
                state.appended.clear()
                raise HTTPException(409, "the corrections file was written by someone else since; not undone")
            state.appended.pop()
        return {"filename": correction.filename, "page": correction.page, "sha256": correction.sha256}
