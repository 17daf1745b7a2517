"""Plain pages served beside the Gradio apps: the root redirect, a view of each corpus page (where the
chat's source links point when a page has no web address of its own) and the embed demo host page."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from qa.domain import Page
from ui.render import PAGES_PATH, esc, page_body_html, page_html

if TYPE_CHECKING:
    from api.service import Service

PATIENT_PATH = "/ui"
STAFF_PATH = "/staff"
EMBED_DEMO_PATH = "/embed-demo"


# The procedure page the embed demo stands in for: the clinic's own page (the others are sample text).
DEMO_PROCEDURE = "iliopsoas-injection"


def embed_snippet(base_url: str, clinic_name: str, procedure: str | None = None) -> str:
    """What the clinic pastes into its website: an iframe of the patient chat. On a procedure page, the
    page's procedure goes in the address (``/ui/?procedure=...``): the chat answers about it first."""
    query = f"?procedure={quote(procedure)}" if procedure else ""
    return (
        f'<iframe src="{esc(base_url.rstrip("/"))}{PATIENT_PATH}/{esc(query)}" title="Ask {esc(clinic_name)}: '
        'questions about your procedure"\n'
        '        style="width:100%;max-width:480px;height:760px;border:1px solid #d1d5db;border-radius:8px"\n'
        '        loading="lazy"></iframe>'
    )


def embed_demo_html(base_url: str, clinic_name: str, page: Page | None = None) -> str:
    """A stand-in for the clinic's website: the procedure ``page`` (when given) with the chat beside it,
    embedded with that page's procedure, and the snippets to paste."""
    procedure = page.procedure if page is not None else None
    snippet = embed_snippet(base_url, clinic_name, procedure)
    plain = embed_snippet(base_url, clinic_name)
    article = ""
    if page is not None:
        article = (f'<article class="demo-page"><h2>{esc(page.title)}</h2>{page_body_html(page, top_level=3)}'
                   "</article>")
    on_page = ("<p>On a procedure page, put the page's procedure in the address, so the chat answers about it "
               "first (patients can change or clear it in the chat):</p>"
               f"<pre><code>{esc(snippet)}</code></pre>" if procedure else "")
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(clinic_name)} — website with the assistant</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:0;color:#1f2937;background:#f3f4f6}"
        "header{background:#0f766e;color:#fff;padding:1rem}main{display:flex;flex-wrap:wrap;gap:1.5rem;"
        "padding:1rem;max-width:72rem;margin:auto}section{flex:1 1 20rem}aside{flex:1 1 22rem}"
        "pre{white-space:pre-wrap;background:#fff;border:1px solid #d1d5db;padding:.6rem;font-size:.85rem}"
        ".demo-page{background:#fff;border:1px solid #d1d5db;border-radius:8px;padding:.2rem 1rem;"
        "line-height:1.5}</style></head><body>"
        f"<header><h1 style=\"margin:0;font-size:1.4rem\">{esc(clinic_name)}</h1>"
        "<p style=\"margin:.2rem 0 0 0\">A demo page standing in for the clinic's website.</p></header><main>"
        f"<section>{article}<h2>Questions about your procedure?</h2><p>The assistant answers from the clinic's "
        "own pages, quoting them word for word, and tells you when it does not know.</p>"
        "<h2>Add it to your website</h2><p>Paste this where the chat should appear, and list your website "
        "in <code>CLINICQA_CORS_ORIGINS</code> so the browser lets it be embedded:</p>"
        f"<pre><code>{esc(plain)}</code></pre>{on_page}</section>"
        f"<aside>{snippet}</aside></main></body></html>"
    )


def site_router(service: Service) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/")
    async def root() -> RedirectResponse:
        return RedirectResponse(f"{PATIENT_PATH}/", status_code=307)

    @router.get(EMBED_DEMO_PATH)
    async def embed_demo(request: Request) -> HTMLResponse:
        base = str(request.base_url)
        engine = service.serving
        page = (next((p for p in engine.pages if p.procedure == DEMO_PROCEDURE), None)
                if engine is not None else None)
        return HTMLResponse(embed_demo_html(base, service.settings.clinic_name, page))

    @router.get(PAGES_PATH + "/{doc_id}")
    async def page(doc_id: str) -> HTMLResponse:
        engine = service.engine
        found = engine.page(doc_id)
        if found is None:
            raise StarletteHTTPException(404, "No such page in the serving index.")
        info = next((d for d in engine.documents() if d.doc_id == doc_id), None)
        return HTMLResponse(page_html(found, info, service.settings.clinic_name))

    return router


# Gradio's routes that store what a visitor sends: uploads, recordings, streamed inputs.
UPLOAD_ROUTES = ("/gradio_api/upload", "/gradio_api/process_recording", "/gradio_api/stream/")


class NoUploads:
    """Refuses file uploads to the Gradio app mounted at ``prefix`` (the public patient chat needs none):
    Gradio's upload, recording and input-stream routes and any multipart body there get a JSON 403 before
    Gradio reads a byte, so nothing lands in its upload folder. Everything else passes through."""

    def __init__(self, app: ASGIApp, *, prefix: str) -> None:
        self.app = app
        self.prefix = prefix
        self.routes = tuple(prefix + route for route in UPLOAD_ROUTES)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._is_upload(scope):
            await JSONResponse({"detail": "The patient chat takes no file uploads; type your question instead."},
                               status_code=403)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _is_upload(self, scope: Scope) -> bool:
        path: str = scope.get("path", "")
        if not path.startswith(self.prefix + "/"):
            return False
        if path.startswith(self.routes):
            return True
        content_type = dict(scope.get("headers") or []).get(b"content-type", b"")
        return content_type.lower().startswith(b"multipart/")
