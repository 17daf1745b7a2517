"""The UI without a browser: HTML rendering (escaping, highlighting, badges, escalations), starter questions,
the staff sign-in cookie, the plain pages and the Gradio mounts through TestClient, and the chat's and the
reports' handlers when the question log is down. (tests/test_ui_browser.py drives the same in Chromium.)"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from qa.domain import (
    Answer,
    Candidate,
    Chunk,
    Escalation,
    Heading,
    Page,
    Passage,
    Reason,
    SearchHit,
    Span,
)
from qa.settings import PROJECT_ROOT, Settings
from qa.starters import answered_starters, self_contained, starter_questions
from ui import mount_ui
from ui.auth import COOKIE, check_credentials, make_session, session_user
from ui.render import answer_html, esc, highlighted, page_link, search_results_html

TOKEN = "ui-admin-token-0123"
STAFF_PASSWORD = "ui-staff-password-0123"
EVIL = '<img src=x onerror="alert(1)">'


def _passage(text: str, *, title: str = "Iliopsoas Injection", section: str = "After?", synthetic: bool = False,
             url: str | None = None, start: int = 100) -> Passage:
    chunk = Chunk(chunk_id="c1", doc_id="iliopsoas-injection", start=start, end=start + len(text), text=text,
                  section=section, sentences=())
    return Passage(chunk=chunk, title=title, url=url, source="x.md", score=1.0, synthetic=synthetic,
                   last_reviewed=date(2026, 11, 28), procedure="iliopsoas-injection", category="procedure")


def _answer(text: str, quote: str, **kw: Any) -> Answer:
    passage = _passage(text, **kw)
    at = text.index(quote)
    best = Candidate(text=quote, doc_id=passage.doc_id, start=passage.chunk.start + at,
                     end=passage.chunk.start + at + len(quote), passage=passage, score=1.0, confidence=0.9)
    return Answer(question="q", abstained=False, reason=Reason.ANSWERED, confidence=0.9, best=best,
                  citations=(best.citation(),), answer_id="a1")


# --- rendering ------------------------------------------------------------------------------------------

def test_answer_shows_the_quote_its_source_link_and_the_passage_with_the_quote_highlighted() -> None:
    answer = _answer("Before. Your leg may feel weak. After.", "Your leg may feel weak.")
    out = answer_html(answer, contact="call us", clinic_phone="+91 1")
    assert '<blockquote class="cqa-quote">“Your leg may feel weak.”</blockquote>' in out
    assert 'href="/pages/iliopsoas-injection#after"' in out and "Iliopsoas Injection › After?" in out
    assert "Before. <mark>Your leg may feel weak.</mark> After." in out
    assert "cqa-badge" not in out and "Confidence 90%" in out


def test_sample_page_answers_carry_the_badge() -> None:
    out = answer_html(_answer("A b. C d.", "C d.", synthetic=True), contact="c", clinic_phone="1")
    assert "Sample content" in out


def test_corpus_and_user_text_is_escaped_everywhere() -> None:
    text = f"Start {EVIL} and more. Quote {EVIL}."
    answer = _answer(text, f"Quote {EVIL}.", title=f"T {EVIL}", section=f"S {EVIL}")
    out = answer_html(answer, contact="c", clinic_phone="1")
    assert "<img" not in out and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in out
    hit = SearchHit(answer.best.passage, Span(answer.best.start, answer.best.end))  # type: ignore[union-attr]
    results = search_results_html([hit])
    assert "<img" not in results and "onerror=&quot;" in results
    assert esc('"><script>') == "&quot;&gt;&lt;script&gt;"


def test_only_http_urls_are_linked_others_fall_back_to_the_served_page() -> None:
    assert page_link("d", "A b?", "https://clinic.example/x") == "https://clinic.example/x"
    assert page_link("d", "A b?", "javascript:alert(1)") == "/pages/d#a-b"
    assert page_link("a/b", "", None) == "/pages/a%2Fb"


def test_highlight_offsets_are_clamped() -> None:
    assert highlighted("abc", 1, 99) == "a<mark>bc</mark>"
    assert highlighted("a\nb", -5, 1) == "<mark>a</mark><br>b"


def test_an_escalation_shows_the_emergency_numbers_first_and_never_an_answer() -> None:
    answered = _answer("Rest. Chest pain is common after x.", "Chest pain is common after x.")
    esc_ = Escalation(rule="chest_pain", message="Call an ambulance now.", phones=("108", "112", "+91 1"))
    answer = Answer(question="q", abstained=True, reason=Reason.EMERGENCY, confidence=0.0, best=answered.best,
                    citations=answered.citations, message="Call an ambulance now.", escalation=esc_)
    out = answer_html(answer, contact="c", clinic_phone="+91 1")
    assert 'role="alert"' in out and "Chest pain is common" not in out and "cqa-quote" not in out
    assert out.index('href="tel:108"') < out.index('href="tel:112"') < out.index('href="tel:+911"')


@pytest.mark.parametrize(("language", "shown"), [("ta", "ta"), ("hi-Latn", "hi-Latn"), ('x" onclick="y', "en")])
def test_an_escalation_message_is_marked_with_its_language(language: str, shown: str) -> None:
    text = "108 அல்லது 112 — இப்போதே அழையுங்கள் <b>"
    esc_ = Escalation(rule="chest_pain", message=text, phones=("108", "112"), language=language)
    answer = Answer(question="q", abstained=True, reason=Reason.EMERGENCY, confidence=0.0, message=text,
                    escalation=esc_)
    out = answer_html(answer, contact="c", clinic_phone="+91 1")
    assert f'<p class="cqa-escalation-message" lang="{shown}">{esc(text)}</p>' in out
    assert "அல்லது" in out and "<b>" not in out and "onclick" not in out


def test_an_abstention_says_so_and_gives_the_contact_without_the_weak_candidate() -> None:
    weak = _answer("Parking is near. Free on Sundays.", "Free on Sundays.")
    answer = Answer(question="q", abstained=True, reason=Reason.LOW_CONFIDENCE, confidence=0.2, best=weak.best,
                    message="call")
    out = answer_html(answer, contact="Please call the clinic on +91 422.", clinic_phone="+91 422")
    assert esc("I can't answer that from the clinic's pages.") in out and "Please call the clinic on +91 422." in out
    assert "Free on Sundays" not in out and 'href="tel:+91422"' in out


def test_search_results_show_page_section_review_date_highlight_and_copy_text() -> None:
    text = "After?\n\nRest today. Your leg may feel weak."
    passage = _passage(text, section="After?")
    chunk = Chunk(chunk_id="c1", doc_id=passage.doc_id, start=100, end=100 + len(text), text=text,
                  section="After?", sentences=(), heading=Span(100, 106))
    passage = Passage(chunk=chunk, title=passage.title, url=None, source="x", score=1.0,
                      last_reviewed=date(2026, 11, 28))
    at = 100 + text.index("Your leg")
    out = search_results_html([SearchHit(passage, Span(at, at + len("Your leg may feel weak.")))])
    assert "Last reviewed 2026-11-28" in out and "Iliopsoas Injection › After?" in out
    assert "Rest today. <mark>Your leg may feel weak.</mark>" in out
    assert "<br>After?" not in out  # the heading is in the title, not repeated in the text
    assert 'data-copy="“Your leg may feel weak.” (Iliopsoas Injection › After?)"' in out
    assert 'aria-label="Copy answer 1"' in out
    assert "No passage matches" in search_results_html([])


# --- starter questions ----------------------------------------------------------------------------------

def _page(doc_id: str, title: str, headings: list[str], synthetic: bool = True) -> Page:
    text, spans = "", []
    for h in headings:
        spans.append(Heading(len(text), len(text) + len(h)))
        text += h + "\n\nBody.\n\n"
    return Page(doc_id=doc_id, title=title, text=text, source=doc_id, headings=tuple(spans),
                synthetic=synthetic)


def test_starter_questions_are_self_contained_headings_one_per_page_clinic_pages_first() -> None:
    page = _page
    pages = [
        page("b", "Genicular Nerve Block", ["What are the risks?", "What is a genicular nerve block?"]),
        page("a", "Iliopsoas Injection", ["What is Iliopsoas injection?", "Iliopsoas injection aftercare?"],
             synthetic=False),
        page("c", "Knee", ["How should I prepare?"]),
    ]
    got = [(s.doc_id, s.question) for s in starter_questions(pages, 5)]
    assert got == [("a", "What is Iliopsoas injection?"), ("b", "What is a genicular nerve block?")]
    assert not self_contained("What are the risks?", "Genicular Nerve Block")
    assert starter_questions(pages, 0) == []


# --- staff sign-in -----------------------------------------------------------------------------------------

def _settings(tmp_path: Path, index_dir: Path | None = None, **kw: Any) -> Settings:
    values: dict[str, Any] = dict(corpus_dir=PROJECT_ROOT / "corpus", database_url=f"sqlite:///{tmp_path / 'l.db'}",
                                  admin_token=TOKEN, staff_password=STAFF_PASSWORD, rate_limit_per_minute=0)
    if index_dir is not None:
        values["index_dir"] = index_dir
    values.update(kw)
    return Settings(**values)


def test_staff_session_cookie_is_signed_expires_and_dies_with_a_password_change(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    token = make_session(settings, "Priya <b>", now=1000.0)
    assert session_user(settings, token, now=1001.0) == "Priya <b>"
    assert session_user(settings, token, now=1000.0 + 13 * 3600) is None  # expired
    forged = token.replace(token.split("|")[0], "QWRtaW4=")
    assert session_user(settings, forged, now=1001.0) is None
    assert session_user(settings.model_copy(update={"staff_password": SecretStr("new")}), token, now=1001.0) is None
    assert session_user(settings, "garbage", now=1001.0) is None and session_user(settings, None) is None


def test_staff_password_is_its_own_setting_the_admin_token_only_when_an_operator_opts_in(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    assert check_credentials(settings, "Priya", STAFF_PASSWORD) and not check_credentials(settings, "Priya", TOKEN)
    assert not check_credentials(settings, "Priya", "wrong") and not check_credentials(settings, " ", STAFF_PASSWORD)
    admin_only = settings.model_copy(update={"staff_password": None})
    assert not check_credentials(admin_only, "Priya", TOKEN)
    opted_in = admin_only.model_copy(update={"staff_password_from_admin_token": True})
    assert check_credentials(opted_in, "Priya", TOKEN)
    none = opted_in.model_copy(update={"admin_token": None})
    assert not check_credentials(none, "Priya", "") and not check_credentials(none, "Priya", "anything")


# --- the mounted apps through HTTP ---------------------------------------------------------------------

@pytest.fixture
def client(tmp_path: Path, clinic_settings: Settings, engine: Any) -> Any:
    settings = _settings(tmp_path, Path(clinic_settings.index_dir))
    with TestClient(mount_ui(create_app(settings, engine))) as c:
        yield c


def test_root_redirects_to_the_patient_chat_which_needs_no_sign_in(client: TestClient) -> None:
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/ui/"
    assert client.get("/ui/").status_code == 200
    assert client.get("/ui/config").status_code == 200


def test_staff_app_refuses_everything_without_a_session(client: TestClient) -> None:
    r = client.get("/staff/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/staff-login"
    for path in ("/staff/config", "/staff/gradio_api/info"):
        assert client.get(path).status_code == 401, path
    bad = client.post("/staff-login", data={"name": "Priya", "password": "nope"}, follow_redirects=False)
    assert bad.status_code == 401 and "Wrong name or password" in bad.text
    assert COOKIE not in bad.cookies


def test_staff_sign_in_sets_the_session_and_opens_the_staff_app(client: TestClient) -> None:
    r = client.post("/staff-login", data={"name": "Priya", "password": STAFF_PASSWORD}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/staff/"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert client.get("/staff/config").status_code == 200
    assert client.get("/staff/", follow_redirects=False).status_code == 200
    out = client.get("/staff-logout", follow_redirects=False)
    assert out.status_code == 303
    client.cookies.clear()
    assert client.get("/staff/config").status_code == 401


def test_cited_pages_are_served_with_section_anchors_and_escaped(client: TestClient) -> None:
    r = client.get("/pages/iliopsoas-injection")
    assert r.status_code == 200
    assert '<h2 id="what-can-i-expect-after-the-procedure">What can I expect after the procedure?</h2>' in r.text
    assert "leg may feel heavy or weak" in r.text and "Sample content" not in r.text
    assert "Sample content" in client.get("/pages/genicular-nerve-block").text
    assert client.get("/pages/no-such-page").status_code == 404


def test_embed_demo_page_shows_and_uses_the_snippet(client: TestClient) -> None:
    r = client.get("/embed-demo")
    assert r.status_code == 200
    assert '&lt;iframe src=&quot;http://testserver/ui/&quot; title=&quot;Ask Atlas Pain Care' in r.text
    # beside the iliopsoas page, the chat is embedded with that page's procedure
    assert '<iframe src="http://testserver/ui/?procedure=iliopsoas-injection" title="Ask Atlas Pain Care' in r.text
    assert "<h2>Iliopsoas Injection</h2>" in r.text and "leg may feel heavy or weak" in r.text
    # The chat may be framed by the clinic's own site only (CSP frame-ancestors from CLINICQA_CORS_ORIGINS).
    assert "frame-ancestors 'self'" in client.get("/ui/").headers["content-security-policy"]


# --- the question log is down -------------------------------------------------------------------------

def test_with_the_log_down_the_chat_answers_feedback_and_reports_say_unavailable(
        tmp_path: Path, clinic_settings: Settings, engine: Any) -> None:
    import gradio as gr

    from ui.content import ContentTeam
    from ui.patient import PatientChat

    unwritable = tmp_path / "ro"
    unwritable.mkdir()
    (unwritable / "log.db").mkdir()  # a directory where the database file should be: every query fails
    settings = _settings(tmp_path, Path(clinic_settings.index_dir),
                         database_url=f"sqlite:///{unwritable / 'log.db'}")
    with TestClient(mount_ui(create_app(settings, engine))) as c:
        service = c.app.state.service  # type: ignore[attr-defined]
        chat, team = PatientChat(service), ContentTeam(service)

        async def run() -> tuple[Any, ...]:
            reply = await chat.respond("will my leg feel weak?", [], {}, None, [], None)  # type: ignore[arg-type]
            like = gr.LikeData(None, {"index": 1, "value": "", "liked": True})
            saved = await chat.feedback(reply[3], like)
            rate = await team.abstention("Last 30 days")
            gaps = await team.gap_report("Last 30 days")
            cover = await team.coverage("Last 30 days")
            lint = await team.lint()
            return reply, saved, rate, gaps, cover, lint

        reply, saved, rate, gaps, cover, lint = c.portal.call(run)  # type: ignore[union-attr]
    history = reply[1]
    assert "leg may feel heavy or weak" in history[-1]["content"]
    assert list(reply[3]) == [1] and len(reply[3][1]) == 32  # the answer_id of message 1, for the thumbs
    assert "could not be saved" in saved
    for panel in (rate, gaps, cover):
        assert "The question log database is unavailable" in panel[-1]
    assert "findings:" in lint[-1]  # the lint reads the corpus, not the log


def test_the_chat_echoes_the_question_without_bidi_or_zero_width_characters(client: TestClient) -> None:
    from ui.patient import PatientChat

    chat = PatientChat(client.app.state.service)  # type: ignore[attr-defined]

    async def run() -> Any:
        return await chat.respond("will my \u202eleg\u202c feel\u200b weak?", [], {}, None, [], None)  # type: ignore[arg-type]

    history = client.portal.call(run)[1]  # type: ignore[union-attr]
    assert history[0]["content"] == "will my leg feel weak?"


def test_the_chat_takes_its_procedure_from_the_address_and_ignores_an_unknown_one(client: TestClient) -> None:
    from types import SimpleNamespace

    from ui.patient import PatientChat

    chat = PatientChat(client.app.state.service)  # type: ignore[attr-defined]
    known, note = chat.page_context(SimpleNamespace(query_params={"procedure": "iliopsoas-injection"}))  # type: ignore[arg-type]
    assert known["value"] == "iliopsoas-injection" and note == ""
    assert ("Iliopsoas Injection", "iliopsoas-injection") in known["choices"]
    assert known["choices"][0] == ("Any procedure", "")
    unknown, note = chat.page_context(SimpleNamespace(query_params={"procedure": "<b>knee</b>"}))  # type: ignore[arg-type]
    assert unknown["value"] == "" and "is not one the assistant knows about" in note and "<b>" not in note
    asked, status = chat.change_procedure("genicular-nerve-block")
    assert asked == [] and "Now answering about Genicular Nerve Block." in status


def test_the_chat_sends_the_previous_questions_and_keeps_at_most_five(client: TestClient) -> None:
    from ui.patient import PatientChat

    chat = PatientChat(client.app.state.service)  # type: ignore[attr-defined]

    async def run() -> Any:
        first = await chat.respond("will my leg feel weak?", [], {}, "iliopsoas-injection", [], None)  # type: ignore[arg-type]
        second = await chat.respond("how long does that last?", first[1], first[3], "iliopsoas-injection",
                                    first[5], None)  # type: ignore[arg-type]
        full = await chat.respond("and after?", [], {}, None, [f"q{i}?" for i in range(5)], None)  # type: ignore[arg-type]
        return first, second, full

    first, second, full = client.portal.call(run)  # type: ignore[union-attr]
    assert first[5] == ["will my leg feel weak?"]
    assert "leg may feel heavy or weak for a few hours" in second[1][-1]["content"]
    assert second[5] == ["will my leg feel weak?", "how long does that last?"]
    assert full[5] == ["q1?", "q2?", "q3?", "q4?", "and after?"]


def test_every_starter_question_of_the_clinic_corpus_is_answered(engine: Any) -> None:
    starters = answered_starters(engine, 6)
    assert len(starters) == 6 and starters[0].doc_id == "iliopsoas-injection"
    for s in starters:
        answer = engine.ask(s.question)
        assert not answer.abstained, s.question
        assert answer.best is not None and answer.best.doc_id == s.doc_id, s.question


def test_abstention_by_day_counts_questions_and_abstentions_per_utc_day(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from qa.questionlog import LogEntry, QuestionLog

    log = QuestionLog(f"sqlite:///{tmp_path / 'log.db'}")
    now = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)

    def entry(i: int, abstained: bool, days_ago: int) -> LogEntry:
        return LogEntry(answer_id=f"a{i}", question="q", audience="patient", abstained=abstained,
                        reason="answered", confidence=0.5, latency_ms=1.0, index_version="v",
                        created_at=now - timedelta(days=days_ago))

    log.record([entry(1, True, 0), entry(2, False, 0), entry(3, False, 0), entry(4, True, 2),
                entry(5, True, 9)])  # the last one is outside a 7-day window
    rows = log.abstention_by_day(days=7, now=now)
    assert [r.day for r in rows] == [date(2026, 11, 22) + timedelta(days=i) for i in range(7)]
    by_day = {r.day: (r.questions, r.abstained) for r in rows}
    assert by_day[date(2026, 11, 28)] == (3, 1) and by_day[date(2026, 11, 26)] == (1, 1)
    assert sum(r.questions for r in rows) == 4 and rows[0].rate == 0.0
    assert round(rows[-1].rate, 3) == 0.333
    log.dispose()


def test_clinicqa_serve_mounts_the_ui_unless_it_is_turned_off(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from starlette.routing import Mount

    from api.server import SETTINGS_ENV, _settings_json, app_factory

    for enabled in (True, False):
        monkeypatch.setenv(SETTINGS_ENV, _settings_json(_settings(tmp_path, ui_enabled=enabled)))
        app = app_factory()
        mounts = {r.path for r in app.routes if isinstance(r, Mount)}
        client = TestClient(app)  # no lifespan: no engine needed for these pages
        if enabled:
            assert {"/ui", "/staff"} <= mounts
            assert client.get("/staff-login").status_code == 200
        else:
            assert not mounts & {"/ui", "/staff"}
            assert client.get("/staff-login").status_code == 404
        app.state.service.log.dispose()


def test_a_heading_the_engine_would_not_answer_is_not_suggested() -> None:
    pages = [_page("a", "Epidural injection",
                   ["What is an epidural injection?", "How long does an epidural injection last?"]),
             _page("b", "Nerve block", ["What is a nerve block?"])]
    refused = {"What is an epidural injection?"}
    got = starter_questions(pages, 5, answered=lambda q, doc: q not in refused)
    assert [s.question for s in got] == ["How long does an epidural injection last?", "What is a nerve block?"]
