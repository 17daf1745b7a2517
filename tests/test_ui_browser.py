"""The UI in a real browser: Debian's headless Chromium driven by Playwright, against a real uvicorn server
(the API app with the UI mounted, the real engine on the clinic corpus index, a temporary SQLite log).

Each test asserts what a person sees. axe-core (4.12, bundled by axe-playwright-python) checks every view
for serious or critical accessibility violations. Screenshots of each view, at desktop (1280 px) and mobile
(375 px) widths, are taken on every run (so a view that fails to render fails the test) and written to
docs/screenshots/ (shown in the README) only when CLINICQA_UPDATE_SCREENSHOTS=1; otherwise to a temporary
folder, so a test run leaves the work tree clean.

Without /usr/bin/chromium these tests skip with a message — except in CI (CI=true), where scripts/setup
installs it, and a missing browser fails.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from qa.settings import PROJECT_ROOT, Settings

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = (PROJECT_ROOT / "docs" / "screenshots" if os.environ.get("CLINICQA_UPDATE_SCREENSHOTS") == "1"
               else Path(tempfile.gettempdir()) / "clinicqa-screenshots")
TOKEN = "ui-test-admin-token"
STAFF_PASSWORD = "ui-test-staff-password"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 900}
MOBILE = {"width": 375, "height": 740}
REPLIES = "#cqa-chat :is(.cqa-answer, .cqa-abstain, .cqa-escalation)"


def expect(locator: Any) -> Any:
    """Playwright's auto-waiting assertions (imported late: the module may be missing, see below)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def _browser_problem() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing: apt-get install -y chromium (scripts/setup does this)"
    try:
        import axe_playwright_python  # noqa: F401
        import playwright.sync_api  # noqa: F401
    except ImportError as err:
        return f"{err.name} is not installed: pip install -e '.[dev]'"
    return None


_PROBLEM = _browser_problem()
if _PROBLEM is not None and os.environ.get("CI", "").lower() == "true":
    raise RuntimeError(f"Browser tests cannot run in CI: {_PROBLEM}")
pytestmark = [pytest.mark.browser, pytest.mark.skipif(_PROBLEM is not None, reason=_PROBLEM or "")]


@dataclass
class Server:
    url: str
    app: Any
    thread: threading.Thread
    server: Any

    @property
    def service(self) -> Any:
        return self.app.state.service


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(settings: Settings, engine: Any) -> Server:
    import uvicorn

    from api.app import create_app
    from ui import mount_ui

    app = mount_ui(create_app(settings, engine))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False))
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=2) as r:
                if r.status == 200:
                    return Server(url, app, thread, server)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    server.should_exit = True
    raise RuntimeError("the UI test server did not become ready in 60 s")


def _stop(server: Server) -> None:
    server.server.should_exit = True
    server.thread.join(15)


def _settings(tmp: Path, index_dir: Path, **extra: Any) -> Settings:
    values: dict[str, Any] = dict(
        corpus_dir=PROJECT_ROOT / "corpus", index_dir=index_dir,
        database_url=f"sqlite:///{tmp / 'log.sqlite3'}", admin_token=TOKEN, staff_password=STAFF_PASSWORD,
        rate_limit_per_minute=0,
    )
    values.update(extra)
    return Settings(**values)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, clinic_settings: Settings, engine: Any) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("ui")
    # The reindex test rebuilds this copy of the session index (and its corpus), not the shared one.
    corpus = tmp / "corpus"
    shutil.copytree(Path(clinic_settings.corpus_dir), corpus)
    index = tmp / "index"
    shutil.copytree(Path(clinic_settings.index_dir), index, symlinks=True)
    s = _start(_settings(tmp, index, corpus_dir=corpus), engine)
    yield s
    _stop(s)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(20_000)
    p = context.new_page()
    yield p
    context.close()


def check_accessibility(page: Any, view: str) -> None:
    """axe-core on the page as it is now: no serious or critical violations."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    bad = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
    details = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in bad]
    assert not bad, f"axe found serious/critical violations on {view}: {details}"


def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def ask(page: Any, question: str) -> tuple[Any, float]:
    """Type a question, press Enter; (the new reply's locator, seconds from Enter to the reply visible)."""
    replies = page.locator(REPLIES)
    before = replies.count()
    box = page.get_by_label("Your question")
    box.fill(question)
    start = time.perf_counter()
    box.press("Enter")
    reply = replies.nth(before)
    reply.wait_for(state="visible")
    return reply, time.perf_counter() - start


def sign_in(page: Any, server: Server, password: str = STAFF_PASSWORD) -> None:
    page.goto(server.url + "/staff/")
    page.get_by_label("Your name").fill("Priya")
    page.get_by_label("Staff password").fill(password)
    page.get_by_role("button", name="Sign in").click()


# --- patient chat ----------------------------------------------------------------------------------------

def test_patient_sees_the_quoted_sentence_its_source_link_and_the_highlighted_passage(
        page: Any, server: Server) -> None:
    page.goto(server.url + "/ui/")
    reply, _ = ask(page, "will my leg feel weak?")
    quote = reply.locator(".cqa-quote")
    assert "leg may feel heavy or weak for a few hours" in quote.inner_text()
    link = reply.get_by_role("link", name="Iliopsoas Injection › What can I expect after the procedure?")
    expect(link).to_be_visible()
    assert link.get_attribute("href") == "/pages/iliopsoas-injection#what-can-i-expect-after-the-procedure"
    assert reply.locator(".cqa-badge").count() == 0  # the clinic's own page is not sample content
    passage = reply.locator(".cqa-passage-text")
    assert not passage.is_visible()
    reply.get_by_text("Show the passage").click()
    expect(passage).to_be_visible()
    assert "leg may feel heavy or weak" in passage.locator("mark").inner_text()
    assert len(passage.inner_text()) > len(passage.locator("mark").inner_text())  # the surrounding passage
    # The link opens the cited page at that section.
    with page.context.expect_page() as opened:
        link.click()
    cited = opened.value
    cited.wait_for_load_state()
    expect(cited.get_by_role("heading", name="What can I expect after the procedure?")).to_be_visible()
    assert "#what-can-i-expect-after-the-procedure" in cited.url
    cited.close()


def test_on_a_procedure_page_the_chat_answers_about_it_and_reads_follow_ups_against_the_thread(
        page: Any, server: Server) -> None:
    page.goto(server.url + "/ui/?procedure=iliopsoas-injection")
    procedure = page.get_by_label("Answering about")
    expect(procedure).to_have_value("Iliopsoas Injection")
    # The conversation. The first question has no answer confident enough on this corpus (its
    # duration sentence ranks below the "long-term" ones; BENCHMARKS.md): an honest abstention is shown.
    first, _ = ask(page, "how long does it take?")
    expect(first).to_be_visible()
    reply, _ = ask(page, "and how long does the effect last?")
    assert reply.locator(".cqa-quote").inner_text().startswith("“The effect should last a few months")
    expect(reply.get_by_role("link", name="Iliopsoas Injection › What can I expect after the procedure?")
           ).to_be_visible()
    # A follow-up that only makes sense after the previous question ("that" = the leg weakness).
    ask(page, "will my leg feel weak?")
    reply, _ = ask(page, "how long does that last?")
    assert "leg may feel heavy or weak for a few hours" in reply.locator(".cqa-quote").inner_text()
    check_accessibility(page, "patient chat on a procedure page")
    # Clearing the procedure starts a new thread: the same follow-up on its own has no answer.
    page.locator("#cqa-procedure-clear").click()
    expect(procedure).to_have_value("Any procedure")
    expect(page.locator("#cqa-status")).to_contain_text("Now answering about any procedure.")
    reply, _ = ask(page, "how long does that last?")
    assert reply.locator(".cqa-quote").count() == 0


def test_an_unknown_procedure_in_the_address_is_ignored_with_a_note(page: Any, server: Server) -> None:
    page.goto(server.url + "/ui/?procedure=knee-replacement")
    expect(page.locator("#cqa-status")).to_contain_text("is not one the assistant knows about")
    expect(page.get_by_label("Answering about")).to_have_value("Any procedure")
    reply, _ = ask(page, "will my leg feel weak?")
    assert "leg may feel heavy or weak" in reply.locator(".cqa-quote").inner_text()


def test_answers_from_sample_pages_carry_a_sample_content_badge(page: Any, server: Server) -> None:
    page.goto(server.url + "/ui/")
    reply, _ = ask(page, "What is a genicular nerve block?")
    expect(reply.locator(".cqa-quote")).to_be_visible()
    assert reply.locator(".cqa-badge").inner_text() == "Sample content"


def test_off_topic_question_abstains_plainly_with_the_clinic_contact(page: Any, server: Server) -> None:
    page.goto(server.url + "/ui/")
    reply, _ = ask(page, "What is the parking fee at Coimbatore airport for a car?")
    text = reply.inner_text()
    assert "I can't answer that from the clinic's pages." in text
    assert server.service.settings.clinic_phone in text
    assert reply.locator(".cqa-quote").count() == 0
    assert reply.get_by_role("link", name=server.service.settings.clinic_phone).get_attribute("href") == \
        "tel:+914220000000"


def test_emergency_message_shows_an_alert_with_the_emergency_number_first_and_no_answer(
        page: Any, server: Server) -> None:
    page.goto(server.url + "/ui/")
    reply, _ = ask(page, "I have severe chest pain right now after my injection")
    alert = page.locator("#cqa-chat").get_by_role("alert").last
    expect(alert).to_be_visible()
    assert reply.get_attribute("role") == "alert"
    assert "This may be an emergency." in alert.inner_text()
    calls = alert.locator("a.cqa-call")
    assert calls.first.inner_text() == "108"
    assert calls.first.get_attribute("href") == "tel:108"
    assert reply.locator(".cqa-quote, .cqa-passage, .cqa-source").count() == 0
    assert alert.evaluate("e => getComputedStyle(e).borderTopColor") == "rgb(185, 28, 28)"


def test_thumbs_on_an_answer_are_stored_as_feedback_for_that_answer(page: Any, server: Server) -> None:
    page.goto(server.url + "/ui/")
    question = "How long does the iliopsoas procedure take?"
    ask(page, question)
    page.get_by_role("button", name="Dislike").last.click()
    page.get_by_text("your feedback was saved").wait_for()
    service = server.service
    assert service.writer.flush(10)
    items = [q for q in service.log.questions(page_size=200).items if q.question == question]
    assert len(items) == 1
    assert [f.helpful for f in items[0].feedback] == [False]


def test_patient_chat_shows_the_storage_notice_disclaimer_and_starter_questions(page: Any, server: Server) -> None:
    page.goto(server.url + "/ui/")
    expect(page.get_by_text("What we store:")).to_be_visible()
    expect(page.get_by_text("your question, with personal details removed, for up to 90 days.")).to_be_visible()
    page.get_by_text("More about this").click()
    expect(page.get_by_text("then delete it. Please don't share personal details here.", exact=False)).to_be_visible()
    expect(page.get_by_text("General information from Atlas Pain Care, Coimbatore's pages")).to_be_visible()
    starter = page.get_by_role("button", name="What is Iliopsoas injection?")
    starter.click()
    reply = page.locator(REPLIES).first
    reply.wait_for()
    assert "Iliopsoas" in reply.locator(".cqa-source").inner_text()


def test_clearing_the_chat_forgets_the_conversation(page: Any, server: Server) -> None:
    page.goto(server.url + "/ui/")
    ask(page, "will my leg feel weak?")
    page.get_by_role("button", name="Clear", exact=True).click()  # the chat's own, not "Clear procedure"
    expect(page.locator(REPLIES)).to_have_count(0)
    reply, _ = ask(page, "What is a genicular nerve block?")
    expect(page.locator(REPLIES)).to_have_count(1)
    assert "genicular" in reply.inner_text().lower()
    page.get_by_role("button", name="Like").last.click()  # the answer ids restarted with the chat
    page.get_by_text("your feedback was saved").wait_for()
    service = server.service
    assert service.writer.flush(10)
    newest = next(q for q in service.log.questions(page_size=200).items  # newest first
                  if q.question == "What is a genicular nerve block?")
    assert [f.helpful for f in newest.feedback] == [True]


def test_keyboard_only_a_patient_can_ask_and_open_the_passage(page: Any, server: Server) -> None:
    page.goto(server.url + "/ui/")
    page.get_by_label("Your question").wait_for()

    def tab_to(selector: str, limit: int = 60) -> None:
        for _ in range(limit):
            page.keyboard.press("Tab")
            if page.evaluate("s => document.activeElement && document.activeElement.matches(s)", selector):
                return
        raise AssertionError(f"{selector} cannot be reached with the Tab key")

    tab_to("#cqa-question textarea, #cqa-question input")
    page.keyboard.type("will my leg feel weak?")
    page.keyboard.press("Enter")
    reply = page.locator(REPLIES).first
    reply.wait_for()
    tab_to(".cqa-passage summary")
    page.keyboard.press("Enter")
    expect(reply.locator(".cqa-passage-text mark")).to_be_visible()
    tab_to("button[aria-label='Like']")
    page.keyboard.press("Enter")
    page.get_by_text("your feedback was saved").wait_for()


def test_patient_chat_is_usable_at_375_px_and_passes_axe(browser: Any, server: Server) -> None:
    for name, viewport in (("desktop", DESKTOP), ("mobile", MOBILE)):
        context = browser.new_context(viewport=viewport)
        context.set_default_timeout(20_000)
        page = context.new_page()
        page.goto(server.url + "/ui/")
        reply, _ = ask(page, "will my leg feel weak?")
        reply.get_by_text("Show the passage").click()
        box = reply.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"] + 1
        screenshot(page, f"patient-chat-{name}")  # an answer with its passage open
        ask(page, "What is the parking fee at Coimbatore airport for a car?")
        ask(page, "I have severe chest pain right now")
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= viewport["width"] + 1, f"{name}: the page scrolls sideways ({width} px)"
        check_accessibility(page, f"patient chat ({name})")
        screenshot(page, f"patient-escalation-{name}")  # an abstention, then an escalation
        context.close()


def test_embed_demo_page_hosts_the_chat_in_an_iframe(browser: Any, server: Server) -> None:
    for name, viewport in (("desktop", DESKTOP), ("mobile", MOBILE)):
        context = browser.new_context(viewport=viewport)
        context.set_default_timeout(20_000)
        page = context.new_page()
        page.goto(server.url + "/embed-demo")
        snippet = page.locator("pre code").first.inner_text()
        assert snippet.startswith(f'<iframe src="{server.url}/ui/"') and 'title="Ask ' in snippet
        # The demo stands in for the clinic's iliopsoas page: the page beside the chat, which answers about it.
        expect(page.get_by_role("heading", name="Iliopsoas Injection", exact=True)).to_be_visible()
        assert page.locator("aside iframe").get_attribute("src") == f"{server.url}/ui/?procedure=iliopsoas-injection"
        frame = page.frame_locator("aside iframe")
        expect(frame.get_by_label("Answering about")).to_have_value("Iliopsoas Injection")
        box = frame.get_by_label("Your question")
        box.fill("will my leg feel weak?")
        box.press("Enter")
        assert "leg may feel heavy or weak" in frame.locator(".cqa-quote").inner_text()
        check_accessibility(page, f"embed demo ({name})")
        screenshot(page, f"embed-demo-{name}")
        context.close()


def test_time_from_enter_to_the_answer_on_screen(page: Any, server: Server) -> None:
    """Median seconds from pressing Enter to the answer visible, over distinct (uncached) questions."""
    page.goto(server.url + "/ui/")
    questions = [
        "What happens during a radiofrequency ablation?", "How should I prepare for an epidural?",
        "What are the risks of a stellate ganglion block?", "What is a trigger point injection?",
        "When can I go back to work after my procedure?", "How long does a genicular nerve block last?",
        "What should I avoid after my procedure?",
    ]
    times = [ask(page, q)[1] for q in questions]
    median = statistics.median(times)
    report = {"questions": len(times), "median_s": round(median, 3), "max_s": round(max(times), 3),
              "all_s": [round(t, 3) for t in times]}
    print("enter-to-answer:", json.dumps(report))
    assert median < 3.0, report


# --- staff: sign-in, front desk, content team --------------------------------------------------------------

def test_time_from_enter_to_the_front_desk_results_on_screen(page: Any, server: Server) -> None:
    """Median seconds from pressing Enter in the search box to the new results visible."""
    sign_in(page, server)
    search = page.get_by_label("Search the clinic's pages")
    times = []
    for query in ("fasting before the injection", "blood thinners", "driving home after the procedure",
                  "how long does the numbness last", "fever after injection", "what to wear"):
        search.fill(query)
        start = time.perf_counter()
        search.press("Enter")
        page.locator(f".cqa-hits[data-query='{query}'] .cqa-hit").first.wait_for()
        times.append(time.perf_counter() - start)
    report = {"queries": len(times), "median_s": round(statistics.median(times), 3),
              "max_s": round(max(times), 3)}
    print("enter-to-results:", json.dumps(report))  # a figure for BENCHMARKS.md, not a pass/fail limit


def test_staff_view_refuses_access_without_sign_in(page: Any, server: Server) -> None:
    page.goto(server.url + "/staff/")
    assert page.url == server.url + "/staff-login"
    expect(page.get_by_role("heading", name="Atlas Pain Care, Coimbatore — staff sign-in")).to_be_visible()
    assert page.locator("#cqa-search").count() == 0
    for path in ("/staff/config", "/staff/gradio_api/info"):
        assert page.request.get(server.url + path).status == 401, path
    check_accessibility(page, "staff sign-in")
    screenshot(page, "staff-sign-in-desktop")
    page.set_viewport_size(MOBILE)
    screenshot(page, "staff-sign-in-mobile")
    page.set_viewport_size(DESKTOP)
    sign_in(page, server, password="not-the-password")
    assert page.get_by_role("alert").inner_text() == "Wrong name or password. Try again."
    assert page.request.get(server.url + "/staff/config").status == 401


def test_staff_signs_in_and_searches_with_highlight_filter_and_copy(browser: Any, server: Server) -> None:
    for name, viewport in (("desktop", DESKTOP), ("mobile", MOBILE)):
        context = browser.new_context(viewport=viewport)
        context.set_default_timeout(20_000)
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
        page = context.new_page()
        sign_in(page, server)
        expect(page.get_by_text("Signed in as Priya.")).to_be_visible()
        search = page.get_by_label("Search the clinic's pages")
        search.fill("fasting before the injection")
        search.press("Enter")
        hits = page.locator(".cqa-hit")
        hits.first.wait_for()
        assert hits.count() == 5
        first = hits.first
        assert first.locator("mark").inner_text().strip()
        assert "Last reviewed 20" in first.locator(".cqa-meta").inner_text()
        assert first.get_by_role("link").inner_text()  # page › section
        assert "passages in" in page.get_by_role("status").first.inner_text()
        copy = first.get_by_role("button", name="Copy answer 1")
        copy.click()
        expect(copy).to_have_text("Copied")
        clip = page.evaluate("() => navigator.clipboard.readText()")
        assert clip == copy.get_attribute("data-copy") and first.locator("mark").inner_text().strip() in clip
        # Filter by procedure: only that procedure's pages.
        page.get_by_label("Procedure").click()
        page.get_by_role("option", name="genicular-nerve-block").click()
        page.wait_for_function(
            "() => [...document.querySelectorAll('.cqa-meta')].every(e => e.innerText.includes('genicular'))")
        assert all("Genicular Nerve Block" in t for t in hits.locator(".cqa-hit-title").all_inner_texts())
        check_accessibility(page, f"front desk ({name})")
        screenshot(page, f"front-desk-{name}")
        context.close()


def test_content_team_opens_the_gap_report_and_abstention_chart(browser: Any, server: Server) -> None:
    # Some logged questions for the reports (the chat tests above logged more).
    service = server.service
    for name, viewport in (("desktop", DESKTOP), ("mobile", MOBILE)):
        context = browser.new_context(viewport=viewport)
        context.set_default_timeout(60_000)
        page = context.new_page()
        if name == "desktop":
            page.goto(server.url + "/ui/")
            for q in ("How much does parking cost at the clinic?", "What is the parking charge at the clinic?",
                      "Do you accept health insurance?"):
                ask(page, q)
            assert service.writer.flush(10)
        sign_in(page, server)
        page.get_by_role("tab", name="Content team").click()
        gap = page.locator("#cqa-gap-panel")
        gap.get_by_text("questions in the last 30 days are gaps").wait_for()
        table = gap.locator("table").first
        expect(table).to_be_visible()
        for header in ("group", "gap kind", "count", "examples", "closest page"):
            expect(table.get_by_role("columnheader", name=header, exact=True).first).to_be_attached()
        expect(table).to_contain_text("parking")
        expect(gap.get_by_text("Most asked gaps")).to_be_visible()  # the chart of the top groups
        download_button = gap.get_by_role("button", name="Download the gap report (CSV)")
        expect(download_button).to_be_visible()
        if name == "desktop":
            with page.expect_download() as download:
                download_button.click()
            csv_text = Path(download.value.path()).read_text(encoding="utf-8")
            assert csv_text.startswith("rank,label,kind,count,") and "parking" in csv_text
            page.get_by_role("button", name="Coverage map").click()
            coverage = page.locator("#cqa-coverage-panel")
            coverage.get_by_text("sections never quoted").wait_for()
            expect(coverage).to_contain_text("never quoted")  # (a column; the rows are virtualised)
            expect(coverage).to_contain_text("Epidural Steroid Injection")  # the index's first page
            page.get_by_role("button", name="Lint findings").click()
            lint = page.locator("#cqa-lint-panel")
            lint.get_by_text("findings:").wait_for()
            assert " info" in lint.get_by_text("findings:").inner_text()  # the sample pages are listed
            expect(lint).to_contain_text("severity")
        check_accessibility(page, f"content team gap report ({name})")
        screenshot(page, f"content-gap-report-{name}")
        rate = page.locator("#cqa-rate-panel")
        rate.get_by_text("abstained (").wait_for()
        expect(rate.get_by_text("Abstention rate per day")).to_be_visible()
        check_accessibility(page, f"content team abstention rate ({name})")
        screenshot(page, f"content-abstention-{name}")
        context.close()


def test_reindex_button_needs_the_admin_token_and_shows_progress_then_the_manifest(
        page: Any, server: Server) -> None:
    sign_in(page, server)
    page.get_by_role("tab", name="Content team").click()
    page.get_by_role("button", name="Rebuild the index").click()  # opens its panel
    page.get_by_label("Admin token").fill("wrong")
    page.get_by_role("button", name="Rebuild now").click()
    page.get_by_text("Wrong admin token.").wait_for()
    old = server.service.engine.index_version
    page.get_by_label("Admin token").fill(TOKEN)
    page.get_by_role("button", name="Rebuild now").click()
    page.locator("#cqa-reindex-panel progress").wait_for()  # progress while it builds
    page.get_by_text("Done in").wait_for(timeout=180_000)
    new = server.service.engine.index_version
    assert new != old
    status = page.locator("#cqa-reindex-panel").get_by_role("status").first.inner_text()
    assert new in status and old in status
    assert new in page.locator("#cqa-manifest").inner_text()


# --- the question log is down ------------------------------------------------------------------------------

def test_with_the_log_database_down_the_chat_answers_and_reports_say_unavailable(
        browser: Any, tmp_path: Path, clinic_settings: Settings, engine: Any) -> None:
    closed = _free_port()  # nothing listens there
    settings = _settings(tmp_path, Path(clinic_settings.index_dir),
                         database_url=f"postgresql+psycopg://clinicqa:x@127.0.0.1:{closed}/clinicqa")
    down = _start(settings, engine)
    try:
        context = browser.new_context(viewport=DESKTOP)
        context.set_default_timeout(30_000)
        page = context.new_page()
        page.goto(down.url + "/ui/")
        reply, _ = ask(page, "will my leg feel weak?")
        assert "leg may feel heavy or weak" in reply.locator(".cqa-quote").inner_text()
        page.get_by_role("button", name="Like").last.click()
        page.get_by_text("Your feedback could not be saved").wait_for()
        sign_in(page, down)
        page.get_by_role("tab", name="Content team").click()
        rate = page.locator("#cqa-rate-panel")
        rate.get_by_text("The question log database is unavailable").wait_for()
        gap = page.locator("#cqa-gap-panel")
        gap.get_by_text("The question log database is unavailable").wait_for()
        page.get_by_role("button", name="Lint findings").click()  # the lint reads the corpus, not the log
        page.locator("#cqa-lint-panel").get_by_text("findings:").wait_for()
        context.close()
    finally:
        _stop(down)
