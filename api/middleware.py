"""Pure ASGI middleware (cheaper than BaseHTTPMiddleware on the hot path).

- :class:`ObservabilityMiddleware` (outermost): security headers on every response, Prometheus request
  counts and latency by route *template*, and one access-log line per request that never contains the
  query string or body (questions are personal data; uvicorn's own access log is turned off). Static
  assets served without error (the ~40 scripts, styles and fonts of a Gradio page, the docs' assets) are
  logged at DEBUG, so the log at INFO shows one line per page or API call.
- :class:`CatchAllMiddleware` (outermost of all): an unexpected exception becomes a JSON 500.
- :class:`BodyLimitMiddleware` (inside CORS, so its refusals still carry CORS headers): refuses bodies over
  ``max_body_bytes`` with 413 before the app reads them, and JSON bodies that are not UTF-8 with 400.
"""

from __future__ import annotations

import logging
import re
import time
import traceback
import uuid
from collections.abc import Iterable

from starlette.datastructures import MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import metrics

access_log = logging.getLogger("clinicqa.access")
logger = logging.getLogger("clinicqa.api")

API_PREFIXES = ("/v1/", "/healthz", "/readyz", "/metrics", "/openapi.json")
# Static assets: any path with an assets/static/svelte folder (Gradio's /ui/assets/…, /staff/static/…,
# /docs-assets/…), Gradio's theme.css and favicon, and files of the usual static types.
STATIC_ASSET = re.compile(
    r"/(?:assets|static|svelte|docs-assets)/|/theme\.css$|/favicon\.ico$"
    r"|\.(?:js|mjs|css|map|woff2?|ttf|otf|png|jpe?g|gif|svg|ico|webp)$"
)


def access_log_level(path: str, status: int) -> int:
    """DEBUG for a static asset served without error (and for a missing favicon, which browsers ask for on
    every page), INFO for everything else."""
    quiet = (status < 400 and STATIC_ASSET.search(path)) or path.endswith("/favicon.ico")
    return logging.DEBUG if quiet else logging.INFO


def security_headers(frame_origins: Iterable[str]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(headers for API responses, headers for pages such as the UI and the docs).

    The UI may be embedded by the clinic's website: pages get ``frame-ancestors 'self' <origins>`` from
    the CORS origins setting (and X-Frame-Options only when no other origin may frame them, since that
    header cannot list origins). JSON responses may not be framed at all.
    """
    origins = [o for o in frame_origins if o]
    common = [
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("cross-origin-opener-policy", "same-origin"),
    ]
    api = [
        *common,
        ("content-security-policy", "default-src 'none'; frame-ancestors 'none'"),
        ("x-frame-options", "DENY"),
    ]
    pages = [*common, ("content-security-policy", "frame-ancestors " + " ".join(["'self'", *origins]))]
    if not origins:
        pages.append(("x-frame-options", "SAMEORIGIN"))
    return api, pages


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp, *, frame_origins: Iterable[str] = ()) -> None:
        self.app = app
        self.api_headers, self.page_headers = security_headers(frame_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        is_api = path.startswith(API_PREFIXES)
        extra = self.api_headers if is_api else self.page_headers
        https = scope.get("scheme") == "https"
        status = 500
        start = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                for key, value in extra:
                    if key not in headers:
                        headers.append(key, value)
                if path.startswith("/v1/") and "cache-control" not in headers:
                    headers.append("cache-control", "no-store")
                if https:
                    headers.append("strict-transport-security", "max-age=31536000")
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - start
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            metrics.HTTP_REQUESTS.labels(method, template, str(status)).inc()
            metrics.HTTP_LATENCY.labels(method, template).observe(elapsed)
            level = access_log_level(path, status)
            if access_log.isEnabledFor(level):
                client = scope.get("client")
                access_log.log(
                    level, '%s "%s %s" %d %.1fms', client[0] if client else "-", method,
                    # a mounted app's routes (the UI's) are logged under the mount's path
                    scope.get("root_path", "") + template if route is not None else path[:80], status,
                    elapsed * 1000,
                )


def error_response(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        too_large = error_response(
            413, f"The request body is larger than {limit} bytes; questions are limited to a few hundred "
                 "characters."
        )
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await error_response(400, "Invalid Content-Length header.")(scope, receive, send)
                return
            if size > limit:
                await too_large(scope, receive, send)
                return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > limit:
                await too_large(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        content_type = headers.get(b"content-type", b"").decode("latin-1").lower()
        if body and "json" in content_type:
            try:
                bytes(body).decode("utf-8")
            except UnicodeDecodeError:
                await error_response(400, "The request body is not valid UTF-8. Send JSON encoded as UTF-8.")(
                    scope, receive, send)
                return

        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class CatchAllMiddleware:
    """Turns an unexpected exception into a JSON 500 without a traceback in the response, and logs the
    traceback's frames and the exception type only (a message could quote a question)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            error_id = uuid.uuid4().hex[:12]
            frames = "".join(traceback.format_tb(exc.__traceback__))
            logger.error("unhandled %s (error id %s) on %s %s\n%s", type(exc).__name__, error_id,
                         scope.get("method"), getattr(scope.get("route"), "path", "?"), frames)
            if started:
                raise
            response = JSONResponse(
                {"detail": f"Internal error (id {error_id}). Please try again; if it persists, tell the "
                           "clinic's IT contact this id."}, status_code=500)
            await response(scope, receive, send)
