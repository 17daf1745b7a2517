"""Staff sign-in: a plain, accessible sign-in page and a signed session cookie that Gradio checks.

Why not Gradio's own ``auth=``: its sessions live in one process's memory, so with ``clinicqa serve
--workers N`` a sign-in made on one worker is unknown to the others (requests bounce back to the login
form), and its login page has no document title or main landmark (axe flags it). Instead:

- ``GET /staff-login`` shows a form (name + staff password); ``POST /staff-login`` checks the password
  (``CLINICQA_STAFF_PASSWORD``; the admin token only with ``CLINICQA_STAFF_PASSWORD_FROM_ADMIN_TOKEN=true``;
  constant-time; wrong ones throttled per client, 429 after ``CLINICQA_AUTH_FAILURE_BURST``) and sets an
  HttpOnly, SameSite=Lax cookie ``name|expiry|HMAC`` keyed on that password (``api.auth``) — valid on every
  worker, and void as soon as the password changes;
- the staff Gradio app is mounted with ``auth_dependency=staff_user``: without a valid cookie its page,
  config and every event endpoint answer 401 (and a browser asking for the page is sent to the form).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from api.auth import (
    COOKIE,
    LOGIN_PATH,
    SESSION_SECONDS,
    client_key,
    make_session,
    secret_matches,
    session_user,
    staff_secret,
)
from qa.settings import Settings
from ui.render import esc

__all__ = ["COOKIE", "LOGIN_PATH", "LOGOUT_PATH", "check_credentials", "make_session", "session_user",
           "staff_secret"]

logger = logging.getLogger("clinicqa.ui")

LOGOUT_PATH = "/staff-logout"


def check_credentials(settings: Settings, name: str, password: str) -> bool:
    """Any non-empty name (shown in the page, not trusted) and the staff password, compared in constant
    time. With no password configured, every sign-in is refused."""
    secret = staff_secret(settings)
    if secret is None:
        logger.warning("staff sign-in refused: set CLINICQA_STAFF_PASSWORD (or "
                       "CLINICQA_STAFF_PASSWORD_FROM_ADMIN_TOKEN=true to use the admin token)")
        return False
    return bool((name or "").strip()) and secret_matches(password or "", secret)


def staff_user_dependency(settings: Settings) -> Callable[[Request], str | None]:
    """Gradio's ``auth_dependency``: the signed-in staff name, or None (Gradio then answers 401)."""

    def staff_user(request: Request) -> str | None:
        return session_user(settings, request.cookies.get(COOKIE))

    return staff_user


def login_page(clinic_name: str, *, error: str = "") -> str:
    alert = f'<p class="error" role="alert">{esc(error)}</p>' if error else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Staff sign-in — {esc(clinic_name)}</title>"
        "<style>body{font-family:system-ui,sans-serif;color:#1f2937;background:#f3f4f6;margin:0}"
        "main{max-width:24rem;margin:3rem auto;background:#fff;padding:1.5rem;border-radius:.5rem;"
        "border:1px solid #d1d5db}label{display:block;margin:.8rem 0 .2rem;font-weight:600}"
        "input{width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem;border:1px solid #6b7280;"
        "border-radius:.3rem}button{margin-top:1rem;width:100%;padding:.6rem;font-size:1rem;border:0;"
        "border-radius:.3rem;background:#1d4ed8;color:#fff;cursor:pointer}"
        "button:focus-visible,input:focus-visible{outline:3px solid #1d4ed8;outline-offset:2px}"
        ".error{color:#991b1b;background:#fef2f2;padding:.5rem;border-radius:.3rem}</style></head><body>"
        f"<main><h1 style=\"font-size:1.3rem;margin-top:0\">{esc(clinic_name)} — staff sign-in</h1>"
        "<p>Front desk lookup and the content team's reports.</p>"
        f'{alert}<form method="post" action="{LOGIN_PATH}">'
        '<label for="name">Your name</label>'
        '<input id="name" name="name" autocomplete="username" required maxlength="60">'
        '<label for="password">Staff password</label>'
        '<input id="password" name="password" type="password" autocomplete="current-password" required>'
        '<button type="submit">Sign in</button></form></main></body></html>'
    )


def auth_router(settings: Settings, staff_path: str) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get(LOGIN_PATH)
    async def login_form() -> HTMLResponse:
        return HTMLResponse(login_page(settings.clinic_name))

    @router.post(LOGIN_PATH)
    async def login(request: Request) -> Response:
        throttle = request.app.state.service.auth_throttle
        client = client_key(request)
        wait = throttle.wait(client)
        if wait > 0:  # before looking at the password: no guessing while blocked
            seconds = throttle.retry_after(wait)
            return HTMLResponse(
                login_page(settings.clinic_name, error=f"Too many failed sign-ins from this address. Please "
                                                       f"wait {seconds} seconds and try again."),
                status_code=429, headers={"Retry-After": seconds})
        form = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=10)
        name = (form.get("name") or [""])[0].strip()
        password = (form.get("password") or [""])[0]
        if not check_credentials(settings, name, password):
            throttle.failed(client)
            logger.info("staff sign-in refused")
            return HTMLResponse(login_page(settings.clinic_name, error="Wrong name or password. Try again."),
                                status_code=401)
        response = RedirectResponse(f"{staff_path}/", status_code=303)
        response.set_cookie(COOKIE, make_session(settings, name), max_age=SESSION_SECONDS, httponly=True,
                            samesite="lax", secure=request.url.scheme == "https", path="/")
        return response

    @router.get(LOGOUT_PATH)
    async def logout() -> RedirectResponse:
        response = RedirectResponse(LOGIN_PATH, status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    return router


class LoginRedirect:
    """Sends a browser that asks for the staff page without a valid session to the sign-in form (Gradio
    itself would answer a bare 401). Everything else passes through untouched."""

    def __init__(self, app: ASGIApp, *, settings: Settings, staff_path: str) -> None:
        self.app = app
        self.settings = settings
        self.pages = {staff_path, staff_path + "/"}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("method") in ("GET", "HEAD") and scope.get("path") in self.pages:
            request = Request(scope)
            if session_user(self.settings, request.cookies.get(COOKIE)) is None:
                await RedirectResponse(LOGIN_PATH, status_code=303)(scope, receive, send)
                return
        await self.app(scope, receive, send)
