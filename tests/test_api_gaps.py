"""Content-team admin endpoints through TestClient: gaps (JSON/CSV), recheck, coverage, lint; admin token;
503 when the question log database is down."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from qa.engine import Engine
from qa.gaps import CSV_COLUMNS
from qa.settings import Settings

TOKEN = "test-admin-token-gaps-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def make_settings(tmp_path: Path, clinic_settings: Settings, **kw: Any) -> Settings:
    values: dict[str, Any] = dict(
        index_dir=clinic_settings.index_dir, corpus_dir=clinic_settings.corpus_dir,
        database_url=f"sqlite:///{tmp_path / 'log.sqlite3'}", admin_token=TOKEN, rate_limit_per_minute=0,
        cache_dir=str(tmp_path / "cache"),
    )
    values.update(kw)
    return Settings(**values)


@pytest.fixture
def client(tmp_path: Path, clinic_settings: Settings, engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(tmp_path, clinic_settings), engine)) as c:
        yield c


def ask(c: TestClient, question: str) -> dict[str, Any]:
    r = c.post("/v1/ask", json={"question": question})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def flush(c: TestClient) -> None:
    assert c.app.state.service.writer.flush(10)  # type: ignore[attr-defined]


def test_admin_endpoints_need_the_token(client: TestClient) -> None:
    for path in ("/v1/admin/gaps", "/v1/admin/coverage", "/v1/admin/lint"):
        assert client.get(path).status_code == 401
        assert client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert client.post("/v1/admin/gaps/recheck").status_code == 401


def test_gap_report_groups_logged_paraphrases(client: TestClient) -> None:
    for q in ("where can I park my car?", "where do I park when I come for my injection?",
              "is there a car park for patients?", "where can I park my car?"):
        assert ask(client, q)["abstained"]
    ask(client, "What is an epidural steroid injection?")
    flush(client)
    r = client.get("/v1/admin/gaps", headers=AUTH, params={"since": "30d"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total_questions"] == 5 and body["gap_questions"] >= 4
    top = body["groups"][0]
    assert top["count"] == 4 and top["distinct"] == 3 and top["kind"] == "no_page"
    assert top["closest"]["doc_id"] and 0 <= top["closest"]["score"] <= 1
    assert top["now_answered"] is None
    recheck = client.post("/v1/admin/gaps/recheck", headers=AUTH)
    assert recheck.status_code == 200 and recheck.json()["groups"][0]["now_answered"]["asked"] == 3


def test_gap_report_csv_download_neutralises_formulas(client: TestClient) -> None:
    evil = '=HYPERLINK("http://evil.example","click")'
    ask(client, evil)
    flush(client)
    r = client.get("/v1/admin/gaps", headers=AUTH, params={"format": "csv"})
    row = dict(zip(CSV_COLUMNS, list(csv.reader(io.StringIO(r.text)))[1], strict=True))
    assert row["label"] == "'" + evil and row["examples"] == "'" + evil


def test_gap_report_as_csv(client: TestClient) -> None:
    ask(client, "where can I park my car?")
    flush(client)
    r = client.get("/v1/admin/gaps", headers=AUTH, params={"format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert tuple(rows[0]) == CSV_COLUMNS and len(rows) == 2
    assert client.get("/v1/admin/gaps", headers=AUTH, params={"since": "0d"}).status_code == 422
    assert client.get("/v1/admin/gaps", headers=AUTH, params={"format": "xml"}).status_code == 422


def test_coverage_counts_the_section_each_answer_quoted(client: TestClient) -> None:
    answer = ask(client, "What is an epidural steroid injection?")
    assert not answer["abstained"]
    flush(client)
    r = client.get("/v1/admin/coverage", headers=AUTH)
    assert r.status_code == 200, r.text
    body = r.json()
    section = answer["passage"]["section"]
    row = next(s for s in body["sections"] if s["doc_id"] == "epidural-steroid-injection"
               and s["section"] == section)
    assert row["answered"] == 1 and not row["unused"]
    assert body["answered"] == 1 and len(body["unused_sections"]) == len(body["sections"]) - 1
    csv_r = client.get("/v1/admin/coverage", headers=AUTH, params={"format": "csv"})
    assert csv_r.status_code == 200 and csv_r.text.startswith("doc_id,title,section")


def test_lint_reports_the_blood_thinner_contradiction_and_sample_pages(client: TestClient) -> None:
    r = client.get("/v1/admin/lint", headers=AUTH)
    assert r.status_code == 200, r.text
    body = r.json()
    rules = [f["rule"] for f in body["findings"]]
    assert rules.count("synthetic_page") == 10 and body["infos"] >= 10
    assert any(f["rule"] == "possible_contradiction" and any("must be stopped" in e for e in f["evidence"])
               for f in body["findings"])
    assert client.get("/v1/admin/lint", headers=AUTH, params={"stale_months": 0}).status_code == 422


def test_log_database_down_gives_503_not_500(tmp_path: Path, clinic_settings: Settings, engine: Engine) -> None:
    down = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    settings = make_settings(tmp_path, clinic_settings, database_url=down)
    with TestClient(create_app(settings, engine)) as c:
        for path in ("/v1/admin/gaps", "/v1/admin/coverage"):
            r = c.get(path, headers=AUTH)
            assert r.status_code == 503 and "unavailable" in r.json()["detail"], r.text
        assert c.post("/v1/admin/gaps/recheck", headers=AUTH).status_code == 503
