"""Who may do what over HTTP (README: "Security model").

- Public: the patient view of ``POST /v1/ask``, search, feedback, documents, the notice, ops endpoints, the
  patient chat at ``/ui/``.
- The staff session (a signed cookie set by ``/staff-login``, see ui/auth.py) or the admin token: staff
  detail on ``POST /v1/ask`` (``"audience": "staff"``: alternatives and the retrieved passages' scores).
- The admin token (``Authorization: Bearer``): ``/v1/admin/*`` and the UI's reindex button.

The session cookie is ``name|expiry|HMAC`` keyed on the staff password: valid on every worker, void as soon
as the password changes. Wrong passwords and tokens are throttled per client (:class:`FailureThrottle`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from api import metrics
from qa.settings import Settings

if TYPE_CHECKING:
    from api.service import Service

COOKIE = "clinicqa_staff"
LOGIN_PATH = "/staff-login"
SESSION_SECONDS = 12 * 3600  # one working day
MAX_NAME = 60

admin_bearer = HTTPBearer(auto_error=False, scheme_name="AdminToken",
                          description="The admin token (CLINICQA_ADMIN_TOKEN): `Authorization: Bearer <token>`.")
staff_cookie = APIKeyCookie(name=COOKIE, auto_error=False, scheme_name="StaffSession",
                            description=f"The staff session cookie, set by signing in at {LOGIN_PATH}.")


def client_key(request: Request) -> str:
    """The client's address (the forwarded one behind a proxy that uvicorn trusts)."""
    return request.client.host if request.client else "unknown"


def secret_matches(given: str, expected: str) -> bool:
    """Constant-time comparison of a typed secret with the configured one (any characters)."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8"))


def admin_secret(settings: Settings) -> str | None:
    token = settings.admin_token
    return token.get_secret_value() if token is not None and token.get_secret_value() else None


def staff_secret(settings: Settings) -> str | None:
    """The staff password: CLINICQA_STAFF_PASSWORD, or the admin token when an operator chose that with
    CLINICQA_STAFF_PASSWORD_FROM_ADMIN_TOKEN=true; None (sign-in refused) otherwise."""
    own = settings.staff_password
    if own is not None and own.get_secret_value():
        return own.get_secret_value()
    return admin_secret(settings) if settings.staff_password_from_admin_token else None


def _key(secret: str) -> bytes:
    return hashlib.sha256(b"clinicqa staff session\x00" + secret.encode("utf-8")).digest()


def _mac(key: bytes, payload: str) -> str:
    return hmac.new(key, payload.encode("utf-8"), hashlib.sha256).hexdigest()


def make_session(settings: Settings, name: str, *, now: float | None = None) -> str:
    secret = staff_secret(settings)
    if secret is None:
        raise ValueError("no staff password is configured")
    user = base64.urlsafe_b64encode(name.strip()[:MAX_NAME].encode("utf-8")).decode("ascii")
    payload = f"{user}|{int((now or time.time()) + SESSION_SECONDS)}"
    return f"{payload}|{_mac(_key(secret), payload)}"


def session_user(settings: Settings, token: str | None, *, now: float | None = None) -> str | None:
    """The signed-in name in a session cookie, or None when it is missing, malformed (any characters),
    forged, expired or was made with another password."""
    secret = staff_secret(settings)
    if not token or secret is None or not token.isascii():
        return None
    parts = token.split("|")
    if len(parts) != 3:
        return None
    user, expiry, mac = parts
    if not hmac.compare_digest(mac.encode("ascii"), _mac(_key(secret), f"{user}|{expiry}").encode("ascii")):
        return None
    try:
        if int(expiry) < (now or time.time()):
            return None
        return base64.urlsafe_b64decode(user.encode("ascii")).decode("utf-8")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None


# --- FastAPI dependencies -------------------------------------------------------------------------------

def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def check_throttle(request: Request) -> None:
    """429 while this client has used up its wrong attempts (before any secret is compared)."""
    throttle = _service(request).auth_throttle
    wait = throttle.wait(client_key(request))
    if wait > 0:
        metrics.RATE_LIMITED.labels("auth").inc()
        raise StarletteHTTPException(
            429, f"Too many wrong passwords or admin tokens from this address: wait {throttle.retry_after(wait)} "
                 "seconds and try again.", headers={"Retry-After": throttle.retry_after(wait)})


def _check_admin_token(request: Request, given: str) -> None:
    expected = admin_secret(_service(request).settings)
    if expected is None:
        raise StarletteHTTPException(403, "Admin endpoints are disabled on this server: set "
                                          "CLINICQA_ADMIN_TOKEN to enable them.")
    check_throttle(request)
    if not secret_matches(given, expected):
        _service(request).auth_throttle.failed(client_key(request))
        raise StarletteHTTPException(403, "Wrong admin token.")


async def require_admin(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(admin_bearer)],
) -> None:
    if admin_secret(_service(request).settings) is None:
        raise StarletteHTTPException(403, "Admin endpoints are disabled on this server: set "
                                          "CLINICQA_ADMIN_TOKEN to enable them.")
    if credentials is None or not credentials.credentials:
        raise StarletteHTTPException(401, "Admin token required: send 'Authorization: Bearer <token>'.",
                                     headers={"WWW-Authenticate": "Bearer"})
    _check_admin_token(request, credentials.credentials)


STAFF_DETAIL_NEEDS = (
    'Staff detail ("audience": "staff": alternatives and passage scores) needs the staff session (sign in '
    f"at {LOGIN_PATH}) or the admin token (send 'Authorization: Bearer <admin token>'). For the patient view, "
    'leave "audience" out or send "patient".'
)


def require_staff_detail(request: Request, credentials: HTTPAuthorizationCredentials | None,
                         session: str | None) -> None:
    """Allow staff detail to a request with the admin token or a valid staff session; else 401 (no
    credentials) or 403 (wrong ones)."""
    if credentials is not None and credentials.credentials:
        _check_admin_token(request, credentials.credentials)
        return
    if session:
        if session_user(_service(request).settings, session) is None:
            raise StarletteHTTPException(
                403, "The staff session is not valid (expired, signed out, or made before the staff password "
                     f"changed): sign in again at {LOGIN_PATH}.")
        return
    raise StarletteHTTPException(401, STAFF_DETAIL_NEEDS, headers={"WWW-Authenticate": "Bearer"})
