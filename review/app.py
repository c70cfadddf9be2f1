"""The review page's routes: queue, card, table and page views, document, images, and the actions on them.

Every route makes as few store calls as it can (the queue and a card one each: an operator works through
hundreds of cards, and each must come at once). Reads are GET; every change is a POST behind R2's gates
(Host, sign-in, CSRF). htmx requests get the fragment they swap in; the same URLs without htmx get the whole
page, so a reload or a bookmark shows what the operator saw. A refusal from the store (stale version, a value
the cell cannot hold) is answered with its own status and message, and the card the operator was on stays.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import uvicorn
from fastapi import Depends, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.templating import Jinja2Templates

from review.security import CSRF_FIELD, CSRF_HEADER, csrf_token, current_operator, install_security, require_csrf
from review.settings import ReviewSettings
from store import (
    Card,
    CellView,
    Conflict,
    InvalidValue,
    Item,
    NotFound,
    Outcome,
    Store,
    StoreError,
    TableView,
    accept_table,
    approve,
    audit,
    card,
    confirm,
    correct,
    crop,
    identity,
    items,
    mark_source_inconsistent,
    open_store,
    page_image,
    queue,
    reopen,
    settle_item,
    table_view,
    undo,
)

HERE = Path(__file__).resolve().parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"

_SHA = re.compile(r"[0-9a-f]{64}")
_IMAGE_ID = re.compile(r"[0-9]{1,18}")
_MAX_CROP_SIDE = 20000  # record pixels; a page at 600 dpi is under 7000: anything beyond is not a cell
# Where an action on the document, a table or a page may send the operator back to: our own views only.
_BACK = re.compile(r"/doc/[0-9a-f]{64}(/table/[0-9]{1,6}|/page/[0-9]{1,6})?")
# Messages a redirect may ask a view to show; a code in the query, never text from it.
NOTICES: Mapping[str, str] = {
    "accepted": "Every open suggestion of this table was accepted.",
    "approved": "The document is approved.",
    "reopened": "The document is open again.",
    "marked": "The constraint is marked source-inconsistent: the printed report itself does not add up.",
    "unmarked": "The constraint is no longer marked source-inconsistent.",
    "settled": "The item is settled.",
    "identity": "The report's agency or year is corrected.",
}
STATE_NAMES: Mapping[str, str] = {
    "read": "read",
    "repaired": "repaired",
    "review": "needs review",
    "corrected": "corrected",
}
# What htmx may swap: the fragment of a refusal (409 stale, 422 bad value) goes into the message box, any other
# error swaps nothing (review.js reloads on a lost sign-in). Inline styles and eval stay off for the CSP.
HTMX_CONFIG = (
    '{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false,"selfRequestsOnly":true,'
    '"historyCacheSize":0,"refreshOnHistoryMiss":true,"defaultFocusScroll":false,'
    '"responseHandling":[{"code":"204","swap":false},{"code":"[23]..","swap":true},'
    '{"code":"409","swap":true,"error":false},{"code":"422","swap":true,"error":false},'
    '{"code":"[45]..","swap":false,"error":true},{"code":"...","swap":false}]}'
)


# ---------------------------------------------------------------- URLs and template helpers


def _part(text: str) -> str:
    """One path segment: item ids hold ':' (kept, it is legal in a path) and may hold anything else."""
    return quote(text, safe=":")


def doc_url(sha: str) -> str:
    return f"/doc/{sha}"


def item_url(sha: str, item_id: str) -> str:
    return f"/doc/{sha}/item/{_part(item_id)}"


def next_url(c: Card) -> str | None:
    """Where Tab / next goes from a card: its document's next open item, else the next document's first."""
    if c.next_item is not None:
        return item_url(c.sha256, c.next_item)
    if c.next_document is not None:
        return f"/doc/{c.next_document}/first"
    return None


def item_href(item: Item) -> str:
    """Where an item opens: a cell's or field's card; a document-level problem's table or page view."""
    if item.kind != "document":
        return item_url(item.sha256, item.id)
    if item.table is not None:
        return f"/doc/{item.sha256}/table/{item.table}"
    if item.page is not None:
        return f"/doc/{item.sha256}/page/{item.page}"
    return doc_url(item.sha256)


def crop_url(image_id: int, bbox: tuple[int, int, int, int]) -> str:
    x0, y0, x1, y1 = bbox
    return f"/image/{image_id}/crop?x0={x0}&y0={y0}&x1={x1}&y1={y1}"


def _when(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.isoformat(sep=" ", timespec="seconds")


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.0f}%"


def _templates() -> Jinja2Templates:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        doc_url=doc_url,
        item_url=item_url,
        item_href=item_href,
        next_url=next_url,
        crop_url=crop_url,
        state_names=STATE_NAMES,
        htmx_config=HTMX_CONFIG,
        csrf_field=CSRF_FIELD,
        csrf_header=CSRF_HEADER,
    )
    env.filters.update(when=_when, percent=_percent)
    return Jinja2Templates(env=env)


@dataclass(frozen=True)
class Rect:
    cell: CellView
    x: float
    y: float
    w: float
    h: float


@dataclass(frozen=True)
class Frame:
    """The table view's drawing: the page image's size and each cell's box in its pixels."""

    width: int
    height: int
    rects: list[Rect]


def grid_frame(view: TableView) -> Frame:
    """Cells are boxed in record pixels; the image is `image_scale` times that, so the boxes are scaled to it.
    Without an image the grid is drawn alone, in record pixels."""
    scale = view.image_scale if view.image_scale else 1.0
    rects = [Rect(c, round(c.bbox[0] * scale, 1), round(c.bbox[1] * scale, 1),
                  round((c.bbox[2] - c.bbox[0]) * scale, 1), round((c.bbox[3] - c.bbox[1]) * scale, 1))
             for c in view.cells]
    if view.image_size is not None and view.image_id is not None:
        width, height = view.image_size
    else:
        width = max((int(r.x + r.w) for r in rects), default=1) + 10
        height = max((int(r.y + r.h) for r in rects), default=1) + 10
    return Frame(width, height, rects)


def _is_htmx(request: Request) -> bool:
    """A fragment is wanted: an htmx swap, but not htmx restoring history (that needs the whole page)."""
    return request.headers.get("hx-request") == "true" and request.headers.get("hx-history-restore-request") != "true"


def _item_key(item_id: str) -> str | None:
    """The field key of a field item ("f:<key>"): the saved card's constraints are the ones it is part of."""
    return item_id[2:] if item_id.startswith("f:") else None


def _relevant(outcome: Outcome, item_id: str) -> list[Any]:
    """The re-checked constraints to show after a save: the item's own first, then any other that fails."""
    key = _item_key(item_id)
    own = [c for c in outcome.constraints if key is not None and key in c.keys]
    rest = [c for c in outcome.constraints if c not in own and c.status == "fails"]
    return own + rest if own or rest else list(outcome.constraints)


def _check_sha(sha: str) -> str:
    if not _SHA.fullmatch(sha):
        raise NotFound(f"document {sha[:80]!r}: not a sha256 (64 lower-case hex digits)")
    return sha


def _image_id(text: str) -> int:
    """Images are named by their store id only: anything but digits (a path, '..') is not an image."""
    if not _IMAGE_ID.fullmatch(text):
        raise NotFound(f"image {text[:80]!r}: not an image id")
    return int(text)


def _back(target: str, sha: str) -> str:
    return target if _BACK.fullmatch(target) else doc_url(sha)


def _redirect(url: str, notice: str | None = None) -> RedirectResponse:
    return RedirectResponse(f"{url}?done={notice}" if notice else url, status_code=303)


# ---------------------------------------------------------------- the app


def create_app(settings: ReviewSettings) -> FastAPI:
    """The review app over an existing store (created by ingest; a store not at head is refused)."""
    store = open_store(settings.db_url, settings.images_dir, create=False)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        store.close()

    app = FastAPI(title="reportscan review", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    pages = _templates()
    install_security(app, settings, store)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    _install_errors(app, pages)
    _install_views(app, store, pages)
    _install_actions(app, store, pages)
    _install_images(app, store)
    return app


def serve(settings: ReviewSettings) -> None:
    """Run the app until interrupted; bound where the settings say (127.0.0.1 unless told otherwise)."""
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, server_header=False,
                proxy_headers=False, log_level="info")


def _render(pages: Jinja2Templates, request: Request, name: str, context: dict[str, Any], *, status: int = 200,
            headers: Mapping[str, str] | None = None) -> HTMLResponse:
    base = {"operator": _operator_or_none(request), "csrf": csrf_token(request),
            "notice": NOTICES.get(request.query_params.get("done", "")), "message": None}
    response = pages.TemplateResponse(request, name, {**base, **context}, status_code=status,
                                      headers={"Cache-Control": "no-store", "Vary": "HX-Request", **(headers or {})})
    return response


def _operator_or_none(request: Request) -> str | None:
    try:
        return current_operator(request)
    except StarletteHTTPException:
        return None


def _install_errors(app: FastAPI, pages: Jinja2Templates) -> None:
    """A store refusal as a page (or, under htmx, into the message box, the card left where it was)."""

    def refusal(request: Request, exc: Exception) -> Response:
        status = 404 if isinstance(exc, NotFound) else 422 if isinstance(exc, InvalidValue) else 409
        message = str(exc)
        params = request.path_params
        on_card = {"sha", "item_id"} <= params.keys() and _SHA.fullmatch(str(params["sha"]))
        reload = item_url(params["sha"], params["item_id"]) if on_card else None
        if _is_htmx(request):
            return _render(pages, request, "_message.html", {"message": message, "reload": reload}, status=status,
                           headers={"HX-Retarget": "#message", "HX-Reswap": "innerHTML"})
        return _render(pages, request, "error.html", {"message": message, "status": status}, status=status)

    def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code < 400 or "text/html" not in request.headers.get("accept", ""):
            return Response(str(exc.detail), status_code=exc.status_code, headers=exc.headers,
                            media_type="text/plain")
        return _render(pages, request, "error.html", {"message": str(exc.detail), "status": exc.status_code},
                       status=exc.status_code, headers=exc.headers)

    app.add_exception_handler(StoreError, refusal)
    app.add_exception_handler(StarletteHTTPException, http_error)  # type: ignore[arg-type]


def _install_views(app: FastAPI, store: Store, pages: Jinja2Templates) -> None:
    @app.get("/", response_class=HTMLResponse)
    def queue_page(request: Request, agency: str = "", year: str = "", reason: str = "",
                   operator: str = Depends(current_operator)) -> Response:
        picked_year = int(year) if year.isdigit() and len(year) == 4 else None
        q = queue(store, agency=agency or None, year=picked_year, reason=reason or None)
        filters = {"agency": agency, "year": year if picked_year is not None else "", "reason": reason}
        return _render(pages, request, "queue.html", {"queue": q, "filters": filters})

    @app.get("/doc/{sha}", response_class=HTMLResponse)
    def document_page(request: Request, sha: str, operator: str = Depends(current_operator)) -> Response:
        _check_sha(sha)
        document = next((d for d in queue(store).documents if d.sha256 == sha), None)
        if document is None:
            raise NotFound(f"document {sha}: not in the store")
        its = items(store, sha)
        tables = sorted({i.table for i in its if i.table is not None})
        return _render(pages, request, "document.html",
                       {"doc": document, "items": its, "tables": tables, "audit": audit(store, sha),
                        "identity": identity(store, sha)})

    @app.get("/doc/{sha}/items", response_class=HTMLResponse)
    def document_items(request: Request, sha: str, operator: str = Depends(current_operator)) -> Response:
        """The queue's unfolded list of a document's items (fetched only when the operator opens it)."""
        _check_sha(sha)
        return _render(pages, request, "_items.html", {"items": items(store, sha), "sha": sha})

    @app.get("/doc/{sha}/item/{item_id}", response_class=HTMLResponse)
    def card_page(request: Request, sha: str, item_id: str, operator: str = Depends(current_operator)) -> Response:
        _check_sha(sha)
        return _card_response(pages, request, card(store, sha, item_id))

    @app.get("/doc/{sha}/first", response_class=HTMLResponse)
    def first_card(request: Request, sha: str, operator: str = Depends(current_operator)) -> Response:
        """The next document's first open card, where a card's "next" crosses into it."""
        _check_sha(sha)
        found = first_open_card(store, sha)
        if found is None:
            return _redirect(doc_url(sha))
        return _card_response(pages, request, found)

    @app.get("/doc/{sha}/table/{n}", response_class=HTMLResponse)
    def table_page(request: Request, sha: str, n: int, operator: str = Depends(current_operator)) -> Response:
        _check_sha(sha)
        view = table_view(store, sha, n)
        problems = [i for i in items(store, sha) if i.kind == "document" and i.table == n]
        return _render(pages, request, "table.html",
                       {"view": view, "problems": problems, "sha": sha, "frame": grid_frame(view)})

    @app.get("/doc/{sha}/page/{p}", response_class=HTMLResponse)
    def page_page(request: Request, sha: str, p: int, operator: str = Depends(current_operator)) -> Response:
        """A page's document-level problems (orientation, grid), with its image when a table on it kept one."""
        _check_sha(sha)
        its = [i for i in items(store, sha) if i.page == p]
        tables = sorted({i.table for i in its if i.table is not None})
        view = table_view(store, sha, tables[0]) if tables else None
        return _render(pages, request, "page.html",
                       {"sha": sha, "page": p, "items": its, "tables": tables, "view": view})


def first_open_card(store: Store, sha: str) -> Card | None:
    first = next((i for i in items(store, sha) if not i.settled), None)
    return None if first is None else card(store, sha, first.id)


def _card_response(pages: Jinja2Templates, request: Request, c: Card, *, outcome: Outcome | None = None,
                   saved: str | None = None, action: str | None = None, saved_doc: str | None = None,
                   status: int = 200, message: str | None = None) -> HTMLResponse:
    """A card, whole or as the fragment htmx swaps in; after an action, with what the action left behind."""
    checked = _relevant(outcome, saved) if outcome is not None and saved is not None else []
    context = {"card": c, "outcome": outcome, "saved": saved, "action": action, "checked": checked,
               "message": message, "moved_on": saved_doc is not None and saved_doc != c.sha256}
    if _is_htmx(request):
        return _render(pages, request, "_card_swap.html", context, status=status,
                       headers={"HX-Push-Url": item_url(c.sha256, c.item.id)})
    return _render(pages, request, "card.html", context, status=status)


def _install_actions(app: FastAPI, store: Store, pages: Jinja2Templates) -> None:
    def after(request: Request, sha: str, item_id: str, outcome: Outcome, action: str) -> Response:
        """What follows a settled card: the next open item (its document's, then the next document's), with the
        saved item's re-checked constraints above it; or the end of the queue."""
        following = None
        if outcome.next_item is not None:
            following = card(store, sha, outcome.next_item)
        elif outcome.next_document is not None:
            following = first_open_card(store, outcome.next_document)
        if following is not None:
            return _card_response(pages, request, following, outcome=outcome, saved=item_id, action=action,
                                  saved_doc=sha)
        context = {"outcome": outcome, "checked": _relevant(outcome, item_id), "sha": sha, "saved": item_id,
                   "action": action, "moved_on": False}
        if _is_htmx(request):
            return _render(pages, request, "_done.html", context, headers={"HX-Push-Url": doc_url(sha)})
        return _render(pages, request, "done.html", context)

    def stay(request: Request, sha: str, item_id: str, exc: StoreError) -> Response:
        """A refused save without htmx: the same card again (fresh from the store) with the reason above it."""
        status = 422 if isinstance(exc, InvalidValue) else 409
        return _card_response(pages, request, card(store, sha, item_id), status=status, message=str(exc))

    guarded = [Depends(require_csrf)]

    @app.post("/doc/{sha}/item/{item_id}/save", dependencies=guarded)
    def save(request: Request, sha: str, item_id: str, version: int = Form(...), value: str = Form(""),
             blank: str = Form(""), operator: str = Depends(current_operator)) -> Response:
        """Enter on a card: an empty input accepts the suggestion (or confirms the reading); text is a correction."""
        _check_sha(sha)
        try:
            if blank:
                outcome, action = correct(store, sha, item_id, "", operator, version), "corrected"
            elif value.strip():
                outcome, action = correct(store, sha, item_id, value.strip(), operator, version), "corrected"
            else:
                outcome, action = confirm(store, sha, item_id, operator, version), "confirmed"
        except (Conflict, InvalidValue) as exc:
            if _is_htmx(request):
                raise
            return stay(request, sha, item_id, exc)
        return after(request, sha, item_id, outcome, action)

    @app.post("/doc/{sha}/item/{item_id}/confirm", dependencies=guarded)
    def confirm_item(request: Request, sha: str, item_id: str, version: int = Form(...),
                     operator: str = Depends(current_operator)) -> Response:
        _check_sha(sha)
        try:
            outcome = confirm(store, sha, item_id, operator, version)
        except Conflict as exc:
            if _is_htmx(request):
                raise
            return stay(request, sha, item_id, exc)
        return after(request, sha, item_id, outcome, "confirmed")

    @app.post("/doc/{sha}/item/{item_id}/undo", dependencies=guarded)
    def undo_item(request: Request, sha: str, item_id: str, operator: str = Depends(current_operator)) -> Response:
        """Undo stays on the card: the operator sees the value back in force and its constraints re-checked."""
        _check_sha(sha)
        outcome = undo(store, sha, item_id, operator)
        return _card_response(pages, request, card(store, sha, item_id), outcome=outcome, saved=item_id,
                              action="undone")

    @app.post("/doc/{sha}/item/{item_id}/settle", dependencies=guarded)
    def settle(request: Request, sha: str, item_id: str, back: str = Form(""),
               operator: str = Depends(current_operator)) -> Response:
        _check_sha(sha)
        outcome = settle_item(store, sha, item_id, operator)
        if _is_htmx(request) or not back:
            return after(request, sha, item_id, outcome, "settled")
        return _redirect(_back(back, sha), "settled")

    @app.post("/doc/{sha}/table/{n}/accept", dependencies=guarded)
    def accept(sha: str, n: int, operator: str = Depends(current_operator)) -> Response:
        _check_sha(sha)
        accept_table(store, sha, n, operator)
        return _redirect(f"/doc/{sha}/table/{n}", "accepted")

    @app.post("/doc/{sha}/constraint/{index}/inconsistent", dependencies=guarded)
    def inconsistent(sha: str, index: int, on: str = Form("1"), back: str = Form(""),
                     operator: str = Depends(current_operator)) -> Response:
        _check_sha(sha)
        mark = on == "1"
        mark_source_inconsistent(store, sha, index, operator, on=mark)
        return _redirect(_back(back, sha), "marked" if mark else "unmarked")

    @app.post("/doc/{sha}/identity/{part}", dependencies=guarded)
    def correct_identity(sha: str, part: str, version: int = Form(...), value: str = Form(""),
                         operator: str = Depends(current_operator)) -> Response:
        """The report's agency or year, corrected on the document page (a bad year or a stale version is
        refused by the store and shown as its message)."""
        _check_sha(sha)
        if part not in ("agency", "year"):
            raise NotFound(f"no identity part {part!r}: agency or year")
        correct(store, sha, f"identity:{part}", value.strip(), operator, version)
        return _redirect(doc_url(sha), "identity")

    @app.post("/doc/{sha}/approve", dependencies=guarded)
    def approve_doc(sha: str, operator: str = Depends(current_operator)) -> Response:
        _check_sha(sha)
        approve(store, sha, operator)
        return _redirect(doc_url(sha), "approved")

    @app.post("/doc/{sha}/reopen", dependencies=guarded)
    def reopen_doc(sha: str, operator: str = Depends(current_operator)) -> Response:
        _check_sha(sha)
        reopen(store, sha, operator)
        return _redirect(doc_url(sha), "reopened")


def _install_images(app: FastAPI, store: Store) -> None:
    cache = {"Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff"}

    @app.get("/image/{image_id}")
    def image(image_id: str, operator: str = Depends(current_operator)) -> Response:
        data, media_type = page_image(store, _image_id(image_id))
        return Response(data, media_type=media_type, headers=cache)

    @app.get("/image/{image_id}/crop")
    def image_crop(image_id: str, x0: int = Query(ge=0, le=_MAX_CROP_SIDE), y0: int = Query(ge=0, le=_MAX_CROP_SIDE),
                   x1: int = Query(ge=1, le=_MAX_CROP_SIDE), y1: int = Query(ge=1, le=_MAX_CROP_SIDE),
                   operator: str = Depends(current_operator)) -> Response:
        ident = _image_id(image_id)
        if x1 <= x0 or y1 <= y0:
            raise InvalidValue(f"crop ({x0}, {y0}, {x1}, {y1}): an empty box")
        return Response(crop(store, ident, (x0, y0, x1, y1)), media_type="image/png", headers=cache)
