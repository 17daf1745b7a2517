"""The HTTP API through TestClient, with the real engine on the clinic corpus (index built once)."""

from __future__ import annotations

import hmac
import logging
import os
import shutil
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from qa.engine import Engine
from qa.indexing import build_index
from qa.questionlog import LogEntry, QuestionLog
from qa.settings import PROJECT_ROOT, Settings

CORPUS = PROJECT_ROOT / "corpus"
TOKEN = "test-admin-token-0123456789"
ORIGIN = "https://www.atlaspaincare.example"
PG_URL = os.environ.get("CLINICQA_TEST_POSTGRES_URL", "")

ANSWERABLE = "What is an epidural steroid injection?"
OFF_TOPIC = "What is the parking fee at Coimbatore airport for a car?"


@pytest.fixture(scope="session")
def index_dir(clinic_settings: Settings) -> Path:
    """The session's index of the clinic corpus (tests/conftest.py builds it once; `engine` loads it)."""
    return Path(clinic_settings.index_dir)


def make_settings(tmp_path: Path, index_dir: Path, **kw: Any) -> Settings:
    values: dict[str, Any] = dict(
        index_dir=index_dir, corpus_dir=CORPUS, database_url=f"sqlite:///{tmp_path / 'log.sqlite3'}",
        admin_token=TOKEN, cors_origins=[ORIGIN], rate_limit_per_minute=0,
    )
    values.update(kw)
    return Settings(**values)


@pytest.fixture
def settings(tmp_path: Path, index_dir: Path) -> Settings:
    return make_settings(tmp_path, index_dir)


@pytest.fixture
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings, engine)) as c:
        yield c


def admin(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def flush(c: TestClient) -> None:
    assert c.app.state.service.writer.flush(10)  # type: ignore[attr-defined]


def counter(name: str, **labels: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0.0


# --- answers ----------------------------------------------------------------------------------------

def test_ask_answers_with_a_cited_quote(client: TestClient) -> None:
    r = client.post("/v1/ask", json={"question": ANSWERABLE})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["abstained"] is False and body["reason"] == "answered"
    assert 0 < body["confidence"] <= 1 and body["contact"] is None
    ans, passage = body["answer"], body["passage"]
    assert ans["doc_id"] == "epidural-steroid-injection"
    assert passage["text"][ans["quote_start"]:ans["quote_end"]] == ans["text"]
    assert passage["start"] + ans["quote_start"] == ans["start"]
    cite = body["citations"][0]
    assert cite["doc_id"] == ans["doc_id"] and cite["section"]
    assert cite["title"] == "Epidural Steroid Injection"
    assert len(body["answer_id"]) == 32 and body["index_version"]
    assert body["alternatives"] is None and body["passages"] is None  # patients get the answer only
    assert r.headers["cache-control"] == "no-store"


def test_ask_abstains_with_the_contact_line(client: TestClient, settings: Settings) -> None:
    body = client.post("/v1/ask", json={"question": OFF_TOPIC}).json()
    assert body["abstained"] is True
    assert body["reason"] in ("no_relevant_passage", "low_confidence")
    assert body["answer"] is None and body["passage"] is None and body["citations"] == []
    assert body["contact"] == settings.contact_message()
    assert settings.clinic_phone in body["message"]


def test_emergency_is_escalated(client: TestClient) -> None:
    body = client.post("/v1/ask", json={"question": "I have crushing chest pain and I can't breathe"}).json()
    assert body["abstained"] is True and body["reason"] == "emergency"
    assert body["escalation"] and "108" in body["escalation"]["phones"]


def test_staff_get_alternatives_and_passage_scores(client: TestClient) -> None:
    body = client.post("/v1/ask", json={"question": ANSWERABLE, "audience": "staff"}, headers=admin()).json()
    assert isinstance(body["alternatives"], list) and body["alternatives"]
    scores = body["passages"]
    assert scores and [p["rank"] for p in scores] == sorted(p["rank"] for p in scores)
    assert {"score", "lexical", "dense", "chunk_id"} <= set(scores[0])


def test_filters_restrict_the_pages(client: TestClient) -> None:
    body = client.post("/v1/ask", json={
        "question": "What are the risks?", "filters": {"procedure": "genicular-nerve-block"},
        "audience": "staff"}, headers=admin()).json()
    assert {p["doc_id"] for p in body["passages"]} == {"genicular-nerve-block"}
    r = client.post("/v1/ask", json={"question": "What are the risks?", "filters": {"procedure": "no-such"}})
    assert r.status_code == 422 and "known values" in r.json()["detail"]
    # both values exist, but no page has both: nothing to answer from (404), nothing found (empty list)
    both = {"procedure": "genicular-nerve-block", "category": "faq"}
    r = client.post("/v1/ask", json={"question": "What are the risks?", "filters": both})
    assert r.status_code == 404 and "No page is about" in r.json()["detail"]
    found = client.get("/v1/search", params={"q": "risks", **both})
    assert found.status_code == 200 and found.json()["hits"] == []
    # the OpenAPI schema lists the procedures of the serving index
    schema = client.get("/openapi.json").json()
    branches = schema["components"]["schemas"]["Filters"]["properties"]["procedure"]["anyOf"]
    assert "genicular-nerve-block" in next(b for b in branches if b.get("type") == "string")["enum"]


def test_answer_cache_reissues_ids(client: TestClient) -> None:
    question = "How should I prepare for a genicular nerve block?"
    first = client.post("/v1/ask", json={"question": question}).json()
    second = client.post("/v1/ask", json={"question": "  how should I prepare for a GENICULAR nerve block "})
    second = second.json()
    assert first["cached"] is False and second["cached"] is True
    assert second["answer_id"] != first["answer_id"]
    assert second["answer"] == first["answer"] and second["question"].startswith("how should")
    assert second["latency_ms"] < 5


def test_engine_runs_off_the_event_loop(settings: Settings, engine: Engine) -> None:
    threads: list[str] = []

    class Spy:
        def __getattr__(self, name: str) -> Any:
            return getattr(engine, name)

        def ask(self, *args: Any, **kw: Any) -> Any:
            threads.append(threading.current_thread().name)
            return engine.ask(*args, **kw)

    with TestClient(create_app(settings, Spy())) as c:  # type: ignore[arg-type]
        loop_thread = c.portal.call(lambda: threading.current_thread().name)  # type: ignore[union-attr]
        assert c.post("/v1/ask", json={"question": ANSWERABLE}).status_code == 200
    assert threads and threads[0] != loop_thread


def test_search_returns_ranked_passages_with_highlights(client: TestClient) -> None:
    r = client.get("/v1/search", params={"q": "blood thinning medicines", "k": 4})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["k"] == 4 and 1 <= len(body["hits"]) <= 4
    assert [h["rank"] for h in body["hits"]] == list(range(1, len(body["hits"]) + 1))
    for hit in body["hits"]:
        h = hit["highlight"]
        assert hit["text"][h["start"]:h["end"]] == h["text"] and h["text"]
    only = client.get("/v1/search", params={"q": "risks", "procedure": "radiofrequency-ablation"}).json()
    assert {h["doc_id"] for h in only["hits"]} == {"radiofrequency-ablation"}
    assert client.get("/v1/search", params={"q": "risks", "k": 0}).status_code == 422
    assert client.get("/v1/search", params={"q": " "}).status_code == 422


def test_documents_lists_the_indexed_pages(client: TestClient) -> None:
    body = client.get("/v1/documents").json()
    files = sorted(p.stem for p in CORPUS.glob("*.md"))
    assert body["count"] == len(files) == len(body["documents"])
    doc = next(d for d in body["documents"] if d["doc_id"] == "epidural-steroid-injection")
    assert doc["title"] == "Epidural Steroid Injection" and doc["chunks"] > 0
    assert doc["synthetic"] is True and doc["last_reviewed"]


# --- feedback and the question log ------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_feedback_round_trip(backend: str, tmp_path: Path, index_dir: Path, engine: Engine) -> None:
    url = f"sqlite:///{tmp_path / 'log.sqlite3'}"
    if backend == "postgresql":
        if not PG_URL:
            if os.environ.get("CI"):
                pytest.fail("CLINICQA_TEST_POSTGRES_URL is not set")
            pytest.skip("export CLINICQA_TEST_POSTGRES_URL=$(bash scripts/postgres.sh)")
        url = PG_URL
        from qa.questionlog import Base, make_engine

        eng = make_engine(url)
        Base.metadata.drop_all(eng)
        eng.dispose()
    with TestClient(create_app(make_settings(tmp_path, index_dir, database_url=url), engine)) as c:
        asked = c.post("/v1/ask", json={
            "question": "My name is Ramesh Kumar, my number is 98450 12345. What are the risks of an "
                        "epidural steroid injection?"}).json()
        r = c.post("/v1/feedback", json={"answer_id": asked["answer_id"], "helpful": True,
                                         "comment": "call me on +91 98765 43210"})
        assert r.status_code == 201 and r.json() == {"answer_id": asked["answer_id"], "stored": True}
        assert c.post("/v1/feedback", json={"answer_id": "0" * 32, "helpful": True}).status_code == 404
        flush(c)
        page = c.get("/v1/admin/questions", headers=admin()).json()
    assert page["total"] == 1
    item = page["items"][0]
    assert item["answer_id"] == asked["answer_id"] and item["index_version"] == asked["index_version"]
    assert item["abstained"] == asked["abstained"] and item["latency_ms"] > 0
    assert "98450" not in item["question"] and "Ramesh" not in item["question"]
    assert "epidural" in item["question"]
    assert item["feedback"][0]["helpful"] is True and "98765" not in item["feedback"][0]["comment"]


def test_questions_never_reach_the_logs(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "Priya Raman 98450 12345 wants to know about a genicular nerve block"
    client.post("/v1/ask", json={"question": secret})
    client.get("/v1/search", params={"q": secret})
    client.post("/v1/ask", json={"question": secret, "bad": 1})
    flush(client)
    server_side = [r for r in caplog.records if not r.name.startswith("httpx")]  # not the test client's
    text = "\n".join(r.getMessage() for r in server_side)
    assert "98450" not in text and "Priya" not in text and "genicular" not in text
    assert any(r.name == "clinicqa.access" for r in caplog.records)


def test_bidi_and_zero_width_characters_are_neither_echoed_nor_logged(client: TestClient) -> None:
    sneaky = "What is an \u202eepidural\u202c steroid\u200b injection?\u2066"
    r = client.post("/v1/ask", json={"question": sneaky})
    assert r.status_code == 200 and r.json()["question"] == ANSWERABLE
    again = client.post("/v1/ask", json={"question": sneaky})  # from the answer cache
    assert again.json()["question"] == ANSWERABLE
    flush(client)
    logged = client.get("/v1/admin/questions", headers=admin()).json()["items"]
    assert [i["question"] for i in logged] == [ANSWERABLE, ANSWERABLE]


def test_admin_questions_pages(client: TestClient) -> None:
    for q in ("What is a trigger point injection?", OFF_TOPIC, "What is radiofrequency ablation?"):
        client.post("/v1/ask", json={"question": q})
    flush(client)
    page = client.get("/v1/admin/questions", params={"page": 1, "page_size": 2}, headers=admin()).json()
    assert page["total"] == 3 and len(page["items"]) == 2
    assert page["items"][0]["question"] == "What is radiofrequency ablation?"  # newest first
    rest = client.get("/v1/admin/questions", params={"page": 2, "page_size": 2}, headers=admin()).json()
    assert len(rest["items"]) == 1
    abstained = client.get("/v1/admin/questions", params={"abstained": "true"}, headers=admin()).json()
    assert all(i["abstained"] for i in abstained["items"]) and abstained["total"] >= 1


def test_log_database_down_never_fails_ask(tmp_path: Path, index_dir: Path, engine: Engine) -> None:
    down = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    before = counter("clinicqa_question_log_dropped_total", reason="db_error")
    with TestClient(create_app(make_settings(tmp_path, index_dir, database_url=down), engine)) as c:
        c.app.state.service.writer.retry_delay = 0.01  # type: ignore[attr-defined]
        for _ in range(3):
            r = c.post("/v1/ask", json={"question": ANSWERABLE})
            assert r.status_code == 200 and r.json()["answer"]
        flush(c)
        ready = c.get("/readyz").json()
        assert ready["question_log"]["dropped"] == 3 and ready["question_log"]["written"] == 0
        assert c.get("/v1/admin/questions", headers=admin()).status_code == 503
        fb = c.post("/v1/feedback", json={"answer_id": r.json()["answer_id"], "helpful": True})
        assert fb.status_code == 503 and "try again" in fb.json()["detail"]
        assert "clinicqa_question_log_dropped_total" in c.get("/metrics").text
    assert counter("clinicqa_question_log_dropped_total", reason="db_error") == before + 3


def test_retention_purge_runs_at_start(tmp_path: Path, index_dir: Path, engine: Engine) -> None:
    settings = make_settings(tmp_path, index_dir, retention_days=30)
    log = QuestionLog(settings.database_url)
    old = datetime.now(UTC) - timedelta(days=31)
    common: dict[str, Any] = dict(question="q", audience="patient", abstained=False, reason="answered",
                                  confidence=1.0, latency_ms=1.0, index_version="v")
    log.record([LogEntry(answer_id="old", created_at=old, **common), LogEntry(answer_id="new", **common)])
    with TestClient(create_app(settings, engine)) as c:
        page = c.get("/v1/admin/questions", headers=admin()).json()
    assert [i["answer_id"] for i in page["items"]] == ["new"]
    log.dispose()


# --- admin: auth and reindex ---------------------------------------------------------------------------

def test_admin_auth(client: TestClient, settings: Settings, engine: Engine,
                    monkeypatch: pytest.MonkeyPatch) -> None:
    r = client.get("/v1/admin/questions")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert client.get("/v1/admin/questions", headers={"Authorization": "Basic eDp5"}).status_code == 401
    assert client.get("/v1/admin/questions", headers=admin("wrong")).status_code == 403
    assert client.post("/v1/admin/reindex", headers=admin("wrong")).status_code == 403
    assert client.post("/v1/admin/reindex").status_code == 401
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr("api.auth.hmac.compare_digest", spy)
    assert client.get("/v1/admin/questions", headers=admin()).status_code == 200
    assert compared == [(TOKEN.encode(), TOKEN.encode())]  # constant-time comparison
    disabled = settings.model_copy(update={"admin_token": None})
    with TestClient(create_app(disabled, engine)) as c:
        r = c.get("/v1/admin/questions", headers=admin())
        assert r.status_code == 403 and "CLINICQA_ADMIN_TOKEN" in r.json()["detail"]


def test_reindex_swaps_while_requests_run(tmp_path: Path, index_dir: Path, engine: Engine) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    live_index = tmp_path / "index"
    shutil.copytree(index_dir, live_index, symlinks=True)
    settings = make_settings(tmp_path, live_index, corpus_dir=corpus)
    new_page = corpus / "zz-parking.md"
    new_page.write_text(
        "---\ntitle: Parking at the clinic\ndoc_id: zz-parking\ncategory: visiting\nsynthetic: true\n---\n"
        "# Parking at the clinic\n\n## Where can I park?\n\nPatients can park for free in the basement car "
        "park of the clinic building. The entrance is on the side street.\n", encoding="utf-8")
    results: list[tuple[int, str]] = []
    stop = threading.Event()
    with TestClient(create_app(settings, engine)) as c:
        old_version = c.get("/readyz").json()["index_version"]

        def hammer() -> None:
            while not stop.is_set():
                r = c.post("/v1/ask", json={"question": "What happens during a radiofrequency ablation?"})
                results.append((r.status_code, r.json().get("index_version", "")))

        workers = [threading.Thread(target=hammer) for _ in range(3)]
        for w in workers:
            w.start()
        time.sleep(0.5)
        r = c.post("/v1/admin/reindex", headers=admin())
        time.sleep(0.5)
        stop.set()
        for w in workers:
            w.join(30)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "swapped" and body["previous_version"] == old_version
        assert body["index_version"] != old_version
        assert body["documents"] == len(list(CORPUS.glob("*.md"))) + 1
        docs = c.get("/v1/documents").json()
        assert "zz-parking" in {d["doc_id"] for d in docs["documents"]}
        assert c.get("/readyz").json()["index_version"] == body["index_version"]
        answer = c.post("/v1/ask", json={"question": "Where can I park at the clinic?"}).json()
        assert answer["index_version"] == body["index_version"]
    assert results and all(status == 200 for status, _ in results)
    assert {v for _, v in results} <= {old_version, body["index_version"]}
    assert results[-1][1] == body["index_version"]  # requests after the swap see the new index


def test_other_workers_pick_up_a_new_build(tmp_path: Path, index_dir: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker that did not run the reindex (or a build made with `clinicqa build-index`) is noticed by
    the index watcher and swapped in."""
    monkeypatch.setattr("api.service.INDEX_POLL_SECONDS", 0.1)
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    live_index = tmp_path / "index"
    shutil.copytree(index_dir, live_index, symlinks=True)
    settings = make_settings(tmp_path, live_index, corpus_dir=corpus, check_corpus=False)
    with TestClient(create_app(settings)) as c:  # loads its own engine, so it watches the folder
        before = c.get("/readyz").json()["index_version"]
        (corpus / "trigger-point-injection.md").unlink()
        manifest = build_index(settings, corpus=corpus, index_dir=live_index)
        deadline = time.monotonic() + 60
        while c.get("/readyz").json()["index_version"] == before and time.monotonic() < deadline:
            time.sleep(0.1)
        assert c.get("/readyz").json()["index_version"] == manifest["build_id"] != before
        assert "trigger-point-injection" not in {d["doc_id"] for d in c.get("/v1/documents").json()["documents"]}


def test_reindex_failure_keeps_the_old_index(tmp_path: Path, index_dir: Path, engine: Engine) -> None:
    empty = tmp_path / "empty-corpus"
    empty.mkdir()
    live_index = tmp_path / "index"
    shutil.copytree(index_dir, live_index, symlinks=True)
    with TestClient(create_app(make_settings(tmp_path, live_index, corpus_dir=empty), engine)) as c:
        r = c.post("/v1/admin/reindex", headers=admin())
        assert r.status_code == 422 and "old index keeps serving" in r.json()["detail"]
        assert c.post("/v1/ask", json={"question": ANSWERABLE}).status_code == 200


# --- abuse and bad input ---------------------------------------------------------------------------------

def test_rate_limit(tmp_path: Path, index_dir: Path, engine: Engine) -> None:
    settings = make_settings(tmp_path, index_dir, rate_limit_per_minute=6, rate_limit_burst=3)
    app = create_app(settings, engine)
    with TestClient(app, client=("203.0.113.7", 4000)) as c:
        codes = [c.post("/v1/ask", json={"question": ANSWERABLE}).status_code for _ in range(3)]
        r = c.post("/v1/ask", json={"question": ANSWERABLE})
        assert codes == [200, 200, 200] and r.status_code == 429
        assert 1 <= int(r.headers["retry-after"]) <= 10 and "wait" in r.json()["detail"]
        assert c.get("/v1/documents").status_code == 200  # not limited
    with TestClient(app, client=("203.0.113.8", 4000)) as other:  # another client has its own bucket
        assert other.post("/v1/ask", json={"question": ANSWERABLE}).status_code == 200


def test_cors(client: TestClient) -> None:
    pre = client.options("/v1/ask", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
                                              "Access-Control-Request-Headers": "content-type"})
    assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == ORIGIN
    bad = client.options("/v1/ask", headers={"Origin": "https://evil.example",
                                              "Access-Control-Request-Method": "POST"})
    assert bad.status_code == 400 and "access-control-allow-origin" not in bad.headers
    simple = client.get("/v1/documents", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in simple.headers
    ok = client.get("/v1/documents", headers={"Origin": ORIGIN})
    assert ok.headers["access-control-allow-origin"] == ORIGIN


def test_security_headers(client: TestClient) -> None:
    for r in (client.get("/healthz"), client.post("/v1/ask", json={"question": ""}), client.get("/nope")):
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"
    api = client.get("/v1/documents")
    assert api.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in api.headers["content-security-policy"]
    page = client.get("/docs")  # pages (the UI, the docs) may be framed by the clinic's site only
    assert page.headers["content-security-policy"] == f"frame-ancestors 'self' {ORIGIN}"
    assert "x-frame-options" not in page.headers


LONG = "a" * 501
BAD_INPUTS: list[tuple[str, dict[str, Any], int, str]] = [
    ("empty", {"json": {"question": ""}}, 422, "empty"),
    ("whitespace", {"json": {"question": "   \n\t "}}, 422, "empty"),
    ("control chars", {"json": {"question": "\x00\x1f"}}, 422, "empty"),
    ("over-long", {"json": {"question": LONG}}, 422, "limit is 500"),
    ("way over-long", {"json": {"question": "a" * 6000}}, 422, "limit is 500"),
    ("wrong type", {"json": {"question": 42}}, 422, "question"),
    ("list", {"json": ["question"]}, 422, "Invalid request"),
    ("bool as string", {"json": {"question": "hi", "audience": "doctor"}}, 422, "audience"),
    ("unknown field", {"json": {"question": "hi", "user": "x"}}, 422, "'user' is not a known field"),
    ("missing field", {"json": {}}, 422, "'question' is required"),
    ("not json", {"content": b"question=hi", "headers": {"content-type": "application/json"}}, 422, "JSON"),
    ("non-utf8", {"content": b'{"question": "caf\xe9"}', "headers": {"content-type": "application/json"}},
     400, "UTF-8"),
    ("huge body", {"content": b"x" * 100_000, "headers": {"content-type": "application/json"}}, 413,
     "larger than"),
    ("huge streamed body", {"content": iter([b"{", b" " * 40_000, b"}"]),
                            "headers": {"content-type": "application/json"}}, 413, "larger than"),
    ("form body", {"data": {"question": "hi"}}, 422, "Invalid request"),
    ("no body", {}, 422, "required"),
]


@pytest.mark.parametrize(("name", "kwargs", "status", "message"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_gets_a_clear_4xx(client: TestClient, name: str, kwargs: dict[str, Any], status: int,
                                    message: str) -> None:
    r = client.post("/v1/ask", **kwargs)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    detail = r.json()["detail"]
    assert isinstance(detail, str) and message.lower() in detail.lower()
    assert "Traceback" not in r.text and "File \"" not in r.text
    for err in r.json().get("errors") or []:
        assert set(err) == {"loc", "msg", "type"}  # the input is never echoed back


def test_bad_feedback_and_search(client: TestClient) -> None:
    assert client.post("/v1/feedback", json={"answer_id": "x", "helpful": "yes"}).status_code == 422
    assert client.post("/v1/feedback", json={"answer_id": "../etc", "helpful": True}).status_code == 422
    assert client.post("/v1/feedback", json={"answer_id": "a" * 65, "helpful": True}).status_code == 422
    r = client.post("/v1/feedback", json={"answer_id": "abc", "helpful": True, "comment": "c" * 1001})
    assert r.status_code == 422
    assert client.get("/v1/search").status_code == 422
    assert client.get("/v1/search", params={"q": "x", "k": "many"}).status_code == 422
    assert client.get("/v1/search?q=%ff%fe%00").status_code in (200, 422)  # not UTF-8 in the query
    assert client.get("/v1/admin/questions", params={"page": 0}, headers=admin()).status_code == 422


def test_unexpected_errors_are_json_500_without_traceback(settings: Settings, engine: Engine,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    secret = "secret question text"

    class Broken:
        def __getattr__(self, name: str) -> Any:
            return getattr(engine, name)

        def documents(self) -> Any:
            raise RuntimeError(secret)

    with TestClient(create_app(settings, Broken())) as c:  # type: ignore[arg-type]
        r = c.get("/v1/documents")
    assert r.status_code == 500 and r.json()["detail"].startswith("Internal error (id ")
    assert "secret" not in r.text and "Traceback" not in r.text
    logged = "\n".join(rec.getMessage() for rec in caplog.records)
    assert "RuntimeError" in logged and "secret question text" not in logged


# --- ops ---------------------------------------------------------------------------------------------------

def test_health_ready_and_metrics(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["manifest"]["counts"]["pages"] > 0
    assert ready["index_version"] == ready["manifest"]["build_id"] and "_path" not in ready["manifest"]
    client.post("/v1/ask", json={"question": ANSWERABLE})
    client.post("/v1/ask", json={"question": OFF_TOPIC})
    text = client.get("/metrics").text
    for name in ('clinicqa_http_requests_total{method="POST",route="/v1/ask",status="200"}',
                 "clinicqa_http_request_duration_seconds_bucket", "clinicqa_answers_total",
                 "clinicqa_abstention_ratio", "clinicqa_index_chunks", "clinicqa_index_documents",
                 "clinicqa_index_bytes", "clinicqa_question_log_written_total"):
        assert name in text, name
    assert counter("clinicqa_index_chunks") > 0 and counter("clinicqa_index_bytes") > 0


def test_not_ready_without_an_index(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, tmp_path / "no-index")
    with TestClient(create_app(settings)) as c:
        ready = c.get("/readyz")
        assert ready.status_code == 503 and "build-index" in ready.json()["detail"]
        r = c.post("/v1/ask", json={"question": ANSWERABLE})
        assert r.status_code == 503 and "build-index" in r.json()["detail"]
        assert r.headers["retry-after"]
        assert c.get("/healthz").status_code == 200


def test_server_passes_settings_to_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from api import server

    settings = make_settings(tmp_path, tmp_path / "idx", cors_origins=[ORIGIN, "https://b.example"])
    monkeypatch.setenv(server.SETTINGS_ENV, server._settings_json(settings))
    again = server.settings_from_env()
    assert again == settings
    assert again.admin_token is not None and again.admin_token.get_secret_value() == TOKEN


def test_notice_endpoint_tells_patients_what_is_stored_and_for_how_long(client) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/v1/notice")
    assert r.status_code == 200
    body = r.json()
    assert "90 days" in body["privacy_notice"] and body["retention_days"] == 90
    assert "not medical advice" in body["disclaimer"]


# --- a damaged index ----------------------------------------------------------------------------------------

def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _live_copy(tmp_path: Path, index_dir: Path) -> tuple[Path, Path]:
    """A copy of the session index and of its corpus that a test may damage and rebuild."""
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    live_index = tmp_path / "index"
    shutil.copytree(index_dir, live_index, symlinks=True)
    return corpus, live_index


def test_reindex_rebuilds_a_damaged_index(tmp_path: Path, index_dir: Path, engine: Engine) -> None:
    from qa.store import resolve_build

    corpus, live_index = _live_copy(tmp_path, index_dir)
    damaged = resolve_build(live_index)
    _truncate(damaged / "vectors.npz")
    settings = make_settings(tmp_path, live_index, corpus_dir=corpus)
    with TestClient(create_app(settings, engine)) as c:
        r = c.post("/v1/admin/reindex", headers=admin())
        assert r.status_code == 200, r.text
        assert r.json()["manifest"]["counts"]["reused"] == 0  # nothing taken from the damaged build
        assert resolve_build(live_index) != damaged
        assert c.post("/v1/ask", json={"question": ANSWERABLE}).json()["index_version"] == r.json()["index_version"]


def test_a_server_started_on_a_damaged_index_says_only_damaged_rebuilding_and_rebuilds_it(
        tmp_path: Path, index_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    import qa.indexing

    corpus, live_index = _live_copy(tmp_path, index_dir)
    from qa.store import resolve_build

    _truncate(resolve_build(live_index) / "chunks.faiss")
    release = threading.Event()
    real_build = qa.indexing.build_index

    def held_build(*args: Any, **kwargs: Any) -> dict[str, Any]:
        assert release.wait(120), "the test never released the rebuild"
        return real_build(*args, **kwargs)

    monkeypatch.setattr(qa.indexing, "build_index", held_build)
    settings = make_settings(tmp_path, live_index, corpus_dir=corpus)
    caplog.set_level(logging.ERROR, logger="clinicqa.api")
    with TestClient(create_app(settings)) as c:
        ready = c.get("/readyz")
        assert ready.status_code == 503 and ready.json()["detail"] == "index damaged, rebuilding"
        for body in (ready.text, c.post("/v1/ask", json={"question": ANSWERABLE}).text):
            assert str(tmp_path) not in body and "faiss" not in body.lower() and "/" not in body
        status = c.get("/v1/admin/status", headers=admin()).json()["index"]
        assert status["rebuilding"] is True and status["ready"] is False
        assert "chunks.faiss" in status["problem"] and str(live_index) in status["problem"]
        assert c.get("/v1/admin/status").status_code == 401
        assert any("chunks.faiss" in r.getMessage() for r in caplog.records)  # the details are in the log
        release.set()
        deadline = time.monotonic() + 300  # a bound on the wait, not on the speed
        while c.get("/readyz").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        ready = c.get("/readyz").json()
        assert ready["status"] == "ready"
        assert "corpus" not in ready["manifest"] and str(corpus) not in c.get("/readyz").text  # no server folders
        assert c.post("/v1/ask", json={"question": ANSWERABLE}).status_code == 200
        status = c.get("/v1/admin/status", headers=admin()).json()["index"]
        assert status["problem"] is None and status["rebuilding"] is False
        assert status["manifest"]["corpus"]  # the admin still sees which folder it was built from


def test_a_deleted_sqlite_folder_shows_the_question_log_as_unavailable(tmp_path: Path, index_dir: Path,
                                                                       engine: Engine) -> None:
    folder = tmp_path / "logdb"
    settings = make_settings(tmp_path, index_dir, database_url=f"sqlite:///{folder / 'log.sqlite3'}")
    with TestClient(create_app(settings, engine)) as c:
        c.post("/v1/ask", json={"question": ANSWERABLE})
        flush(c)
        assert c.get("/readyz").json()["question_log"]["available"] is True
        shutil.rmtree(folder)
        c.post("/v1/ask", json={"question": OFF_TOPIC})
        flush(c)
        ready = c.get("/readyz")
        assert ready.status_code == 200  # answers go on, as when PostgreSQL is down
        log_status = ready.json()["question_log"]
        assert log_status["available"] is False and log_status["written"] == 1 and log_status["dropped"] == 1
        assert str(folder) not in ready.text
        detail = c.get("/v1/admin/status", headers=admin()).json()["question_log"]
        assert detail["available"] is False and str(folder) in detail["last_error"]
