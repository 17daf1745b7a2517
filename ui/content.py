"""Content team view: abstention rate over time, the gap report, the coverage map, the corpus lint, CSV
downloads and the reindex button (staff sign-in required; the reindex also asks for the admin token).

Everything here reads through the Service: its engine, its question log and its reindex. When the
question-log database is unavailable, each panel says so instead of failing.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator  # at run time: Gradio reads reindex's hints to pass gr.Request
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio.to_thread
import gradio as gr
import pandas as pd

from qa.csvexport import to_csv as csv_text
from qa.errors import ClinicQAError
from ui.render import esc

if TYPE_CHECKING:
    from api.service import Service
    from qa.gaps import GapReport

logger = logging.getLogger("clinicqa.ui")

TOP_GROUPS = 10
WINDOWS = {"Last 7 days": 7, "Last 30 days": 30, "Last 90 days": 90}
STAGES = {"chunking": "Splitting pages into passages", "embedding": "Embedding passages"}
LOG_UNAVAILABLE = ("The question log database is unavailable, so this data is unavailable right now. "
                   "Patients still get answers; try again when the database is back.")


def note(text: str, *, kind: str = "status") -> str:
    css = "cqa-unavailable" if kind == "unavailable" else "cqa-note"
    return f'<div class="{css}" role="status">{esc(text)}</div>'


def gap_table(report: GapReport) -> pd.DataFrame:
    """One row per gap group: the group (its most central question), kind, count, examples, closest page."""
    rows = []
    for g in report.groups:
        closest = g.closest
        page = "none"
        if closest is not None:
            page = f"{closest.title} › {closest.section}" if closest.section else closest.title
        rows.append({"rank": g.rank, "group": g.label, "gap kind": str(g.kind).replace("_", " "),
                     "count": g.count, "examples": " | ".join(g.examples), "closest page": page})
    return pd.DataFrame(rows, columns=["rank", "group", "gap kind", "count", "examples", "closest page"])


def write_csv(text: str, name: str) -> str:
    """Write CSV text to a temporary file named after its content (Gradio serves it for download; the
    same report is written once, however often it is refreshed) and return its path."""
    folder = Path(tempfile.gettempdir()) / f"clinicqa-csv-{os.getpid()}"
    folder.mkdir(parents=True, exist_ok=True)
    stem = name.removesuffix(".csv")
    path = folder / f"{stem}-{hashlib.sha256(text.encode('utf-8')).hexdigest()[:12]}.csv"
    if not path.exists():
        path.write_text(text, encoding="utf-8")
    return str(path)


def abstention_frame(rows: Any) -> pd.DataFrame:
    """Days that had questions (a day without any has no rate), oldest first."""
    asked = [r for r in rows if r.questions]
    return pd.DataFrame({
        "day": [pd.Timestamp(r.day) for r in asked],
        "questions": [r.questions for r in asked],
        "abstained": [r.abstained for r in asked],
        "abstention rate (%)": [round(100 * r.rate, 1) for r in asked],
    }, columns=["day", "questions", "abstained", "abstention rate (%)"])


def abstention_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Newest day first, dates without a time."""
    table = frame.iloc[::-1].copy()
    table["day"] = [d.date().isoformat() for d in table["day"]]
    return table


def abstention_csv(frame: pd.DataFrame) -> str:
    return csv_text(("day", "questions", "abstained", "abstention_rate"), (
        [day.date().isoformat(), n, a, round(rate / 100, 4)] for day, n, a, rate in frame.itertuples(index=False)))


class ContentTeam:
    def __init__(self, service: Service) -> None:
        self.service = service

    # --- abstention rate over time (the question log) -------------------------------------------------
    async def abstention(self, window: str) -> tuple[Any, Any, Any, str]:
        """(line chart, table, CSV download, note)."""
        from api.service import LogUnavailableError

        days = WINDOWS.get(window, 30)
        try:
            rows = await self.service.abstention_history(days)
        except LogUnavailableError:
            hidden = gr.update(visible=False)
            return hidden, hidden, gr.update(visible=False), note(LOG_UNAVAILABLE, kind="unavailable")
        frame = abstention_frame(rows)
        total, abstained = int(frame["questions"].sum()), int(frame["abstained"].sum())
        if not total:
            hidden = gr.update(visible=False)
            return hidden, hidden, hidden, note(f"No questions were logged in the {window.lower()}.")
        summary = note(f"{total} questions in the {window.lower()}; {abstained} abstained "
                       f"({100 * abstained / total:.1f}%).")
        chart = frame.assign(day=[d.date().isoformat() for d in frame["day"]])
        return (gr.update(value=chart, visible=True), gr.update(value=abstention_table(frame), visible=True),
                gr.update(value=write_csv(abstention_csv(frame), "abstention-rate.csv"), visible=True), summary)

    # --- gap report, coverage map, lint (qa.gaps / qa.coverage / qa.lint, through the Service) ---------
    async def gap_report(self, window: str) -> tuple[Any, Any, Any, str]:
        """(top-groups bar chart, groups table, CSV download, note)."""
        from api.service import LogUnavailableError
        from qa.gaps import to_csv

        hidden = gr.update(visible=False)
        service = self.service
        since = timedelta(days=WINDOWS.get(window, 30))
        try:
            report = await service.run_engine(service.gap_report, since)
        except LogUnavailableError:
            return hidden, hidden, hidden, note(LOG_UNAVAILABLE, kind="unavailable")
        except ClinicQAError as err:
            return hidden, hidden, hidden, note(str(err), kind="unavailable")
        table = gap_table(report)
        chart = table.head(TOP_GROUPS)[["group", "count"]]
        summary = note(f"{report.gap_questions} of {report.total_questions} questions in the {window.lower()} "
                       f"are gaps, in {len(report.groups)} groups.")
        return (gr.update(value=chart, visible=not chart.empty), gr.update(value=table, visible=not table.empty),
                gr.update(value=write_csv(to_csv(report), "gap-report.csv"), visible=True), summary)

    async def coverage(self, window: str) -> tuple[Any, Any, str]:
        """(sections table, CSV download, note)."""
        from api.service import LogUnavailableError
        from qa.coverage import to_csv

        hidden = gr.update(visible=False)
        service = self.service
        since = timedelta(days=WINDOWS.get(window, 30))
        try:
            cmap = await anyio.to_thread.run_sync(service.coverage_map, since)
        except LogUnavailableError:
            return hidden, hidden, note(LOG_UNAVAILABLE, kind="unavailable")
        except ClinicQAError as err:
            return hidden, hidden, note(str(err), kind="unavailable")
        flagged = {p.doc_id for p in cmap.unhelpful_pages}
        table = pd.DataFrame([{
            "page": s.title, "section": s.section or "(page intro)", "answers": s.answered,
            "mean confidence": None if s.mean_confidence is None else round(s.mean_confidence, 2),
            "helpful": s.helpful, "unhelpful": s.unhelpful, "never quoted": "yes" if s.unused else "",
            "page flagged unhelpful": "yes" if s.doc_id in flagged else "",
            "sample content": "yes" if s.synthetic else "",
        } for s in cmap.sections])
        summary = note(f"{cmap.answered} answers and {cmap.abstained} abstentions in the {window.lower()}; "
                       f"{len(cmap.unused_sections)} of {len(cmap.sections)} sections never quoted; "
                       f"{len(flagged)} pages flagged for unhelpful votes.")
        return (gr.update(value=table, visible=True),
                gr.update(value=write_csv(to_csv(cmap), "coverage.csv"), visible=True), summary)

    async def lint(self) -> tuple[Any, Any, str]:
        """(findings table, CSV download, note). Reads the corpus, not the log: works with the log down."""
        from qa.lint import to_csv

        hidden = gr.update(visible=False)
        service = self.service
        try:
            findings = await service.run_engine(service.lint)
        except ClinicQAError as err:
            return hidden, hidden, note(str(err), kind="unavailable")
        table = pd.DataFrame([{
            "severity": str(f.severity), "rule": f.rule.replace("_", " "), "page": f.doc_id or "",
            "message": f.message, "where": " | ".join(f.locations),
        } for f in findings], columns=["severity", "rule", "page", "message", "where"])
        counts = Counter(str(f.severity) for f in findings)
        summary = note(f"{len(findings)} findings: " + (", ".join(f"{n} {sev}" for sev, n in sorted(counts.items()))
                                                       or "none") + ".")
        return (gr.update(value=table, visible=not table.empty),
                gr.update(value=write_csv(to_csv(findings), "lint.csv"), visible=True), summary)

    # --- reindex -------------------------------------------------------------------------------------
    def token_ok(self, token: str, client: str = "unknown") -> str | None:
        """None when ``token`` is the admin token, else what to tell the person. Wrong tokens count against
        ``client`` like those sent to the admin API (api/auth.py)."""
        from api.auth import admin_secret, secret_matches

        expected = admin_secret(self.service.settings)
        if expected is None:
            return "Rebuilding the index is disabled on this server: set CLINICQA_ADMIN_TOKEN to enable it."
        if not token:
            return "Enter the admin token to rebuild the index."
        throttle = self.service.auth_throttle
        wait = throttle.wait(client)
        if wait > 0:
            return f"Too many wrong admin tokens: please wait {throttle.retry_after(wait)} seconds and try again."
        if not secret_matches(token, expected):
            throttle.failed(client)
            return "Wrong admin token."
        return None

    async def reindex(self, token: str, request: gr.Request) -> AsyncIterator[tuple[str, Any]]:
        """Rebuild the index, showing progress while it runs, then the new index's manifest."""
        from api.service import ReindexBusyError

        client = request.client.host if request is not None and request.client is not None else "unknown"
        problem = self.token_ok(token or "", client)
        if problem:
            yield note(problem, kind="unavailable"), gr.update()
            return
        state: dict[str, Any] = {"stage": "starting", "done": 0, "total": 0}

        def progress(stage: str, done: int, total: int) -> None:  # called from the build thread
            state.update(stage=stage, done=done, total=total)

        started = time.perf_counter()
        task = asyncio.ensure_future(self.service.reindex(progress=progress))
        while not task.done():
            yield progress_html(state, time.perf_counter() - started), gr.update()
            await asyncio.wait({task}, timeout=0.5)
        try:
            result = task.result()
        except ReindexBusyError as err:
            yield note(str(err), kind="unavailable"), gr.update()
            return
        except ClinicQAError as err:
            yield note(f"Reindex failed, the old index keeps serving: {err}", kind="unavailable"), gr.update()
            return
        done = (f"Done in {result['seconds']:.1f} s: index {result['index_version']} is now serving "
                f"{result['documents']} pages, {result['chunks']} passages (was {result['previous_version']}).")
        yield note(done), gr.update(value=json.loads(json.dumps(result["manifest"], default=str)), visible=True)


def progress_html(state: dict[str, Any], elapsed: float) -> str:
    stage = STAGES.get(str(state.get("stage")), "Starting")
    done, total = int(state.get("done", 0)), int(state.get("total", 0))
    bar = (f'<progress max="{total}" value="{done}" aria-label="Reindex progress"></progress> {done} of {total}'
           if total else '<progress aria-label="Reindex progress"></progress>')
    return f'<div class="cqa-note" role="status"><p>{esc(stage)}… ({elapsed:.0f} s)</p><p>{bar}</p></div>'


def build_content_team(service: Service, tab: gr.Tab) -> None:
    """The content team tab's components and events (call inside ``tab``). The panels are stacked (a
    phone shows them one under the other) and filled when the tab is opened, not on every page load: the
    front desk does not wait for the gap report."""
    team = ContentTeam(service)
    window = gr.Dropdown(label="Period", choices=list(WINDOWS), value="Last 30 days", elem_id="cqa-window")
    with gr.Accordion("Gap report", open=True), gr.Column(elem_id="cqa-gap-panel"):
        gap_note = gr.HTML("")
        gap_chart = gr.BarPlot(x="group", y="count", title="Most asked gaps", label="Top gap groups",
                               sort="-y", x_label_angle=-30, y_lim=[0, None], visible=False)
        gap_table = gr.Dataframe(label="Gap groups", wrap=True, interactive=False, visible=False,
                                 # pixels, not shares: on a phone the table scrolls sideways, not the page
                                 column_widths=["56px", "240px", "130px", "70px", "300px", "240px"])
        gap_csv = gr.DownloadButton("Download the gap report (CSV)", visible=False)
    with gr.Accordion("Abstention rate over time", open=True), gr.Column(elem_id="cqa-rate-panel"):
        rate_note = gr.HTML("")
        rate_chart = gr.BarPlot(x="day", y="abstention rate (%)", title="Abstention rate per day",
                                label="Abstention rate over time", y_lim=[0, 100], visible=False)
        rate_table = gr.Dataframe(label="Questions per day", interactive=False, visible=False)
        rate_csv = gr.DownloadButton("Download per-day figures (CSV)", visible=False)
    with gr.Accordion("Coverage map", open=False), gr.Column(elem_id="cqa-coverage-panel"):
        cov_note = gr.HTML("")
        cov_table = gr.Dataframe(label="Coverage by section", wrap=True, interactive=False, visible=False)
        cov_csv = gr.DownloadButton("Download the coverage map (CSV)", visible=False)
    with gr.Accordion("Lint findings", open=False), gr.Column(elem_id="cqa-lint-panel"):
        lint_note = gr.HTML("")
        lint_table = gr.Dataframe(label="Lint findings", wrap=True, interactive=False, visible=False)
        lint_csv = gr.DownloadButton("Download the lint findings (CSV)", visible=False)
    with gr.Accordion("Rebuild the index", open=False), gr.Column(elem_id="cqa-reindex-panel"):
        gr.HTML("<p>Rebuilds the index from the corpus folder and swaps it in; answers keep being served "
                "from the old index until then.</p>")
        token = gr.Textbox(label="Admin token", type="password", elem_id="cqa-admin-token")
        rebuild = gr.Button("Rebuild now", variant="stop", elem_id="cqa-reindex")
        rebuild_status = gr.HTML("")
        manifest = gr.JSON(label="New index manifest", visible=False, elem_id="cqa-manifest")
    refresh = gr.Button("Refresh the reports", elem_id="cqa-refresh")

    gap_out: list[Any] = [gap_chart, gap_table, gap_csv, gap_note]
    rate_out: list[Any] = [rate_chart, rate_table, rate_csv, rate_note]
    cov_out: list[Any] = [cov_table, cov_csv, cov_note]
    lint_out: list[Any] = [lint_table, lint_csv, lint_note]
    private: dict[str, Any] = {"api_visibility": "private"}
    for trigger in (tab.select, refresh.click):
        trigger(team.gap_report, [window], gap_out, **private)
        trigger(team.abstention, [window], rate_out, **private)
        trigger(team.coverage, [window], cov_out, **private)
        trigger(team.lint, None, lint_out, **private)
    window.change(team.gap_report, [window], gap_out, **private)
    window.change(team.abstention, [window], rate_out, **private)
    window.change(team.coverage, [window], cov_out, **private)
    rebuild.click(team.reindex, [token], [rebuild_status, manifest], concurrency_limit=1, **private)
