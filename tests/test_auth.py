"""Who may do what (issue 15): staff detail on /v1/ask needs the staff session or the admin token; wrong
passwords and tokens are throttled per client; short secrets are refused at start-up; the admin token is not
the staff password unless an operator says so; the public chat takes no uploads; a non-ASCII cookie is a
signed-out visitor; /docs and /redoc work offline; Gradio's assets stay out of the access log."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from qa.errors import ClinicQAError
from qa.settings import PROJECT_ROOT, Settings
from ui import mount_ui

TOKEN = "auth-test-admin-token-0123456789"
STAFF_PASSWORD = "auth-test-staff-password-0123"
# "Should I stop my blood thinner?" is a personal medical decision: patients get a referral, nothing else.
REFERRAL = "Should I stop taking my blood thinner before the injection?"
ANSWERABLE = "What is an epidural steroid injection?"


def _settings(tmp_path: Path, index_dir: Path, **kw: Any) -> Settings:
    values: dict[str, Any] = dict(
        corpus_dir=PROJECT_ROOT / "corpus", index_dir=index_dir, database_url=f"sqlite:///{tmp_path / 'l.db'}",
        admin_token=TOKEN, staff_password=STAFF_PASSWORD, rate_limit_per_minute=0)
    values.update(kw)
    return Settings(**values)


@pytest.fixture
def settings(tmp_path: Path, clinic_settings: Settings) -> Settings:
    return _settings(tmp_path, Path(clinic_settings.index_dir))


@pytest.fixture
def client(settings: Settings, engine: Any) -> Iterator[TestClient]:
    with TestClient(mount_ui(create_app(settings, engine))) as c:
        yield c


def _sign_in(client: TestClient, password: str = STAFF_PASSWORD) -> Any:
    return client.post("/staff-login", data={"name": "Priya", "password": password}, follow_redirects=False)


# --- staff detail ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("question", [ANSWERABLE, REFERRAL])
def test_staff_detail_without_credentials_is_refused_with_what_to_do(client: TestClient, question: str) -> None:
    r = client.post("/v1/ask", json={"question": question, "audience": "staff"})
    assert r.status_code == 401, r.text
    detail = r.json()["detail"]
    assert "/staff-login" in detail and "Authorization: Bearer" in detail and '"patient"' in detail
    assert set(r.json()) == {"detail"}  # no answer, no alternatives, no passages
    # the patient view stays public and carries no staff detail
    body = client.post("/v1/ask", json={"question": question}).json()
    assert body["alternatives"] is None and body["passages"] is None


def test_staff_detail_with_wrong_credentials_is_forbidden(client: TestClient) -> None:
    wrong = client.post("/v1/ask", json={"question": ANSWERABLE, "audience": "staff"},
                        headers={"Authorization": "Bearer not-the-admin-token-at-all"})
    assert wrong.status_code == 403 and "Wrong admin token" in wrong.json()["detail"]
    client.cookies.set("clinicqa_staff", "UHJpeWE=|9999999999|" + "0" * 64)  # a forged session
    forged = client.post("/v1/ask", json={"question": ANSWERABLE, "audience": "staff"})
    assert forged.status_code == 403 and "/staff-login" in forged.json()["detail"]


def test_staff_detail_with_the_admin_token_or_a_staff_session(client: TestClient) -> None:
    by_token = client.post("/v1/ask", json={"question": ANSWERABLE, "audience": "staff"},
                           headers={"Authorization": f"Bearer {TOKEN}"})
    assert by_token.status_code == 200 and by_token.json()["alternatives"] and by_token.json()["passages"]
    assert _sign_in(client).status_code == 303
    by_session = client.post("/v1/ask", json={"question": ANSWERABLE, "audience": "staff"})
    assert by_session.status_code == 200 and by_session.json()["passages"]


def test_the_schema_says_staff_detail_needs_the_session_or_the_token(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    ask = schema["paths"]["/v1/ask"]["post"]
    assert {"401", "403", "429"} <= set(ask["responses"])
    schemes = schema["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} >= {"http", "apiKey"}
    cookie = next(s for s in schemes.values() if s["type"] == "apiKey")
    assert cookie["in"] == "cookie" and cookie["name"] == "clinicqa_staff"
    # either credential (or none, for the patient view): OpenAPI's list of alternatives
    assert {} in ask["security"] and len(ask["security"]) == 3
    audience = schema["components"]["schemas"]["AskRequest"]["properties"]["audience"]["description"]
    assert "staff session" in audience and "admin token" in audience


# --- throttling ------------------------------------------------------------------------------------------

def test_wrong_admin_tokens_are_throttled_per_client(client: TestClient, settings: Settings, engine: Any) -> None:
    for _ in range(settings.auth_failure_burst):
        assert client.get("/v1/admin/questions", headers={"Authorization": "Bearer guess"}).status_code == 403
    blocked = client.get("/v1/admin/questions", headers={"Authorization": "Bearer guess"})
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) >= 1
    assert "Too many" in blocked.json()["detail"]
    # while blocked even the right token waits (no guessing through), on every door the token opens
    assert client.get("/v1/admin/questions", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 429
    assert client.post("/v1/ask", json={"question": ANSWERABLE, "audience": "staff"},
                       headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 429
    # another client is not affected
    other = TestClient(client.app, client=("203.0.113.9", 50000))
    assert other.get("/v1/admin/questions", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_wrong_staff_passwords_are_throttled_per_client(client: TestClient, settings: Settings) -> None:
    for _ in range(settings.auth_failure_burst):
        assert _sign_in(client, "wrong-password").status_code == 401
    blocked = _sign_in(client, "wrong-password")
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) >= 1
    assert "Too many failed sign-ins" in blocked.text and "<title>" in blocked.text
    assert _sign_in(client).status_code == 429  # the right password waits too
    other = TestClient(client.app, client=("203.0.113.10", 50000))
    assert _sign_in(other).status_code == 303


def test_the_failure_throttle_lets_one_more_attempt_through_per_refill_period() -> None:
    from api.ratelimit import FailureThrottle

    now = [0.0]
    throttle = FailureThrottle(per_minute=1, burst=3, clock=lambda: now[0])
    for _ in range(3):
        assert throttle.wait("1.2.3.4") == 0.0
        throttle.failed("1.2.3.4")
    assert throttle.wait("1.2.3.4") == pytest.approx(60.0)
    assert throttle.wait("5.6.7.8") == 0.0  # per client
    now[0] = 30.0
    assert throttle.wait("1.2.3.4") == pytest.approx(30.0)  # looking does not use up anything
    now[0] = 60.0
    assert throttle.wait("1.2.3.4") == 0.0
    throttle.failed("1.2.3.4")
    assert throttle.wait("1.2.3.4") == pytest.approx(60.0)
    assert FailureThrottle(per_minute=0, burst=3).wait("x") == 0.0  # 0 = off


# --- secrets policy --------------------------------------------------------------------------------------

@pytest.mark.parametrize("field", ["admin_token", "staff_password"])
def test_start_up_refuses_a_secret_shorter_than_16_characters(tmp_path: Path, field: str) -> None:
    settings = _settings(tmp_path, tmp_path / "index", **{field: "abc"})
    with pytest.raises(ClinicQAError) as caught:
        create_app(settings)
    message = str(caught.value)
    assert f"CLINICQA_{field.upper()}" in message and "16" in message
    assert "secrets.token_urlsafe(32)" in message
    assert "abc" not in message  # never echo a secret


def test_clinicqa_serve_refuses_a_short_admin_token_before_doing_anything(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from qa.cli import app

    monkeypatch.setenv("CLINICQA_ADMIN_TOKEN", "abc")
    monkeypatch.setenv("CLINICQA_INDEX_DIR", str(tmp_path / "no-index"))
    result = CliRunner().invoke(app, ["serve", "--no-build"])
    assert result.exit_code == 2
    output = " ".join(result.output.split())
    assert "CLINICQA_ADMIN_TOKEN" in output and "secrets.token_urlsafe(32)" in output
    assert "Traceback" not in result.output


def test_the_admin_token_is_a_staff_password_only_when_an_operator_says_so(tmp_path: Path) -> None:
    from ui.auth import check_credentials

    admin_only = _settings(tmp_path, tmp_path / "index", staff_password=None)
    assert not check_credentials(admin_only, "Priya", TOKEN)
    opted_in = admin_only.model_copy(update={"staff_password_from_admin_token": True})
    assert check_credentials(opted_in, "Priya", TOKEN)
    both = _settings(tmp_path, tmp_path / "index", staff_password_from_admin_token=True)
    with pytest.raises(ClinicQAError, match="CLINICQA_STAFF_PASSWORD_FROM_ADMIN_TOKEN"):
        create_app(both)  # two staff passwords: say which one


# --- cookies, uploads ------------------------------------------------------------------------------------

def test_a_non_ascii_staff_cookie_is_a_signed_out_visitor(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    cookie = {"cookie": "clinicqa_staff=Priyä|9999999999|é".encode()}
    with caplog.at_level(logging.WARNING):
        assert client.get("/staff/config", headers=cookie).status_code == 401
        r = client.get("/staff/", headers=cookie, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/staff-login"
        staff = client.post("/v1/ask", json={"question": ANSWERABLE, "audience": "staff"}, headers=cookie)
        assert staff.status_code == 403
    assert "Traceback" not in caplog.text and "unhandled" not in caplog.text


def test_the_patient_chat_refuses_uploads(client: TestClient) -> None:
    for path in ("/ui/gradio_api/upload", "/ui/gradio_api/upload?upload_id=x", "/ui/gradio_api/process_recording"):
        r = client.post(path, files={"files": ("a.txt", b"hello", "text/plain")})
        assert r.status_code == 403, (path, r.text)
        assert "upload" in r.json()["detail"]
    r = client.post("/ui/gradio_api/component_server", files={"files": ("a.txt", b"hello", "text/plain")})
    assert r.status_code == 403


def test_the_staff_app_takes_uploads_only_signed_in_limited_in_size_and_cleaned(
        tmp_path: Path, clinic_settings: Settings, engine: Any) -> None:
    settings = _settings(tmp_path, Path(clinic_settings.index_dir), ui_max_upload_bytes=1000)
    assert settings.ui_max_upload_bytes < settings.max_body_bytes
    client = TestClient(mount_ui(create_app(settings, engine)))
    assert client.post("/staff/gradio_api/upload", files={"files": ("a.txt", b"x", "text/plain")}).status_code == 401
    assert _sign_in(client).status_code == 303
    small = client.post("/staff/gradio_api/upload", files={"files": ("a.txt", b"x", "text/plain")})
    assert small.status_code == 200, small.text
    big = client.post("/staff/gradio_api/upload",
                      files={"files": ("b.txt", b"x" * 2000, "text/plain")})
    assert big.status_code == 413, big.text
    staff_blocks = next(r.app.get_blocks() for r in client.app.routes  # type: ignore[attr-defined]
                        if getattr(r, "path", "") == "/staff")
    assert staff_blocks.max_file_size == settings.ui_max_upload_bytes
    frequency, age = staff_blocks.delete_cache
    assert frequency <= 3600 and age <= 86400


# --- docs offline, quiet access log ----------------------------------------------------------------------

@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_api_docs_use_only_assets_served_here(client: TestClient, page: str) -> None:
    r = client.get(page)
    assert r.status_code == 200
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']|url: ["']([^"']+)["']""", r.text)
    found = [u for pair in urls for u in pair if u]
    assert found and all(u.startswith("/") and not u.startswith("//") for u in found), found
    assert "cdn" not in r.text.lower()
    assets = [u for u in found if u.endswith((".js", ".css"))]
    assert assets
    for url in assets:
        asset = client.get(url)
        assert asset.status_code == 200 and len(asset.content) > 10_000, url
        kind = "javascript" if url.endswith(".js") else "css"
        assert kind in asset.headers["content-type"], url


def test_gradio_assets_are_not_access_logged_at_info(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    page = client.get("/ui/")
    assets = re.findall(r'(?:src|href)="(\./assets/[^"]+|/ui/assets/[^"]+)"', page.text)
    assert assets
    with caplog.at_level(logging.INFO, logger="clinicqa.access"):
        assert client.get("/ui/").status_code == 200
        for asset in assets:
            assert client.get("/ui/" + asset.removeprefix("./").removeprefix("/ui/")).status_code == 200
        assert client.get("/ui/theme.css").status_code == 200
    lines = [r for r in caplog.records if r.name == "clinicqa.access" and r.levelno >= logging.INFO]
    assert len(lines) == 1 and '"GET /ui/"' in lines[0].getMessage(), [r.getMessage() for r in lines]
    with caplog.at_level(logging.DEBUG, logger="clinicqa.access"):
        caplog.clear()
        client.get("/ui/theme.css")
    assert any('"GET /ui/theme.css"' in r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG)



# --- scripts/run: secrets without typing -----------------------------------------------------------------

def _source_secrets(tmp_path: Path, **env: str) -> tuple[dict[str, str], str]:
    import os
    import subprocess

    script = 'set -euo pipefail; . scripts/secrets.sh; echo "A=$CLINICQA_ADMIN_TOKEN"; ' \
             'echo "S=${CLINICQA_STAFF_PASSWORD:-}"'
    base = {k: v for k, v in os.environ.items() if not k.startswith("CLINICQA_")}
    done = subprocess.run(["bash", "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True,
                          env={**base, "CLINICQA_SECRETS_FILE": str(tmp_path / "s" / "clinicqa.env"), **env})
    values = dict(line.split("=", 1) for line in done.stdout.splitlines())
    return values, done.stderr


def test_scripts_run_makes_a_private_random_token_and_staff_password_once(tmp_path: Path) -> None:
    first, said = _source_secrets(tmp_path)
    secrets_file = tmp_path / "s" / "clinicqa.env"
    assert secrets_file.stat().st_mode & 0o777 == 0o600
    assert str(secrets_file) in said and "cat " in said  # where they are, not the secrets themselves
    assert first["A"] not in said and first["S"] not in said
    assert len(first["A"]) >= 40 and len(first["S"]) >= 40 and first["A"] != first["S"]
    Settings(admin_token=first["A"], staff_password=first["S"]).check_secrets()
    again, _ = _source_secrets(tmp_path)
    assert again == first  # made once, then reused
    mine, _ = _source_secrets(tmp_path, CLINICQA_ADMIN_TOKEN="operator-chosen-token-0123456789")
    assert mine == {"A": "operator-chosen-token-0123456789", "S": first["S"]}  # the environment wins
    opted, _ = _source_secrets(tmp_path, CLINICQA_STAFF_PASSWORD_FROM_ADMIN_TOKEN="true")
    assert opted == {"A": first["A"], "S": ""}


def test_wrong_admin_tokens_on_the_reindex_button_are_throttled_too(settings: Settings, engine: Any) -> None:
    from api.service import Service
    from ui.content import ContentTeam

    service = Service(settings, engine)
    team = ContentTeam(service)
    for _ in range(settings.auth_failure_burst):
        assert team.token_ok("a-wrong-guess", "198.51.100.7") == "Wrong admin token."
    blocked = team.token_ok(TOKEN, "198.51.100.7")
    assert blocked is not None and "Too many wrong admin tokens" in blocked and "seconds" in blocked
    assert team.token_ok(TOKEN, "198.51.100.8") is None  # another client
    service.log.dispose()
