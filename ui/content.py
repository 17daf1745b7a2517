"""Content team view: abstention rate over time, the gap report, the coverage map, the corpus lint, CSV
downloads and the reindex button (staff sign-in required; the reindex also asks for the admin token).

Everything here reads through the Service: its engine, its question log and its reindex. When the
question-log database is unavailable, each panel says so instead of failing.
"""

from __future__ import annotations

import asyncio
import csv
import hmac
import importlib
import io
import json
import logging
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import gradio as gr
import pandas as pd

from qa.errors import ClinicQAError
from ui.render import esc

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from api.service import Service

logger = logging.getLogger("clinicqa.ui")

WINDOWS = {"Last 7 days": 7, "Last 30 days": 30, "Last 90 days": 90}
STAGES = {"chunking": "Splitting pages into passages", "embedding": "Embedding passages"}
LOG_UNAVAILABLE = ("The question log database is unavailable, so this data is unavailable right now. "
                   "Patients still get answers; try again when the database is back.")


def note(text: str, *, kind: str = "status") -> str:
    css = "cqa-unavailable" if kind == "unavailable" else "cqa-note"
    return f'<div class="{css}" role="status">{esc(text)}</div>'


def analytics_module(name: str) -> ModuleType | None:
    """``qa.<name>`` (gaps, coverage, lint) when this installation has it, else None."""
    try:
        return importlib.import_module(f"qa.{name}")
    except ModuleNotFoundError as err:
        if err.name == f"qa.{name}":
            return None
        raise


def write_csv(text: str, name: str) -> str:
    """Write CSV text to a fresh temporary file (Gradio serves it for download) and return its path."""
    folder = Path(tempfile.mkdtemp(prefix="clinicqa-csv-"))
    path = folder / name
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
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["day", "questions", "abstained", "abstention_rate"])
    for day, n, a, rate in frame.itertuples(index=False):
        w.writerow([day.date().isoformat(), n, a, round(rate / 100, 4)])
    return buf.getvalue()


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
        return (gr.update(value=frame, visible=True), gr.update(value=abstention_table(frame), visible=True),
                gr.update(value=write_csv(abstention_csv(frame), "abstention-rate.csv"), visible=True), summary)

    # --- gap report, coverage map, lint (qa.gaps / qa.coverage / qa.lint) ------------------------------
    async def gap_report(self, window: str) -> tuple[Any, Any, Any, str]:
        """(top-groups bar chart, groups table, CSV download, note)."""
        hidden = gr.update(visible=False)
        gaps = analytics_module("gaps")
        if gaps is None:
            return hidden, hidden, hidden, note("The gap report is not available yet in this version "
                                                "(the qa.gaps module is missing).", kind="unavailable")
        service = self.service
        since = timedelta(days=WINDOWS.get(window, 30))
        try:
            report = await service.run_engine(gaps.gap_report_from_log, service.engine, service.settings,
                                              service.log, since=since)
        except ClinicQAError as err:
            return hidden, hidden, hidden, note(str(err), kind="unavailable")
        except Exception as err:
            logger.warning("gap report: question log unavailable (%s)", type(err).__name__)
            return hidden, hidden, hidden, note(LOG_UNAVAILABLE, kind="unavailable")
        rows = []
        for g in report.groups:
            closest = g.closest
            rows.append({
                "rank": g.rank, "group": g.label, "gap kind": str(g.kind).replace("_", " "), "count": g.count,
                "examples": " | ".join(g.examples),
                "closest page": (f"{closest.title} › {closest.section}" if closest and closest.section
                                 else (closest.title if closest else "none")),
            })
        table = pd.DataFrame(rows, columns=["rank", "group", "gap kind", "count", "examples", "closest page"])
        chart = table.head(10)[["group", "count"]]
        summary = note(f"{report.gap_questions} of {report.total_questions} questions in the {window.lower()} "
                       f"are gaps, in {len(report.groups)} groups.")
        return (gr.update(value=chart, visible=not chart.empty), gr.update(value=table, visible=True),
                gr.update(value=write_csv(gaps.to_csv(report), "gap-report.csv"), visible=True), summary)

    async def coverage(self, window: str) -> tuple[Any, Any, str]:
        """(sections table, CSV download, note)."""
        hidden = gr.update(visible=False)
        coverage = analytics_module("coverage")
        if coverage is None:
            return hidden, hidden, note("The coverage map is not available yet in this version "
                                        "(the qa.coverage module is missing).", kind="unavailable")
        service = self.service
        since = timedelta(days=WINDOWS.get(window, 30))
        try:
            cmap = await service.run_engine(coverage.coverage_from_log, service.engine, service.settings,
                                            service.log, since=since)
        except ClinicQAError as err:
            return hidden, hidden, note(str(err), kind="unavailable")
        except Exception as err:
            logger.warning("coverage map: question log unavailable (%s)", type(err).__name__)
            return hidden, hidden, note(LOG_UNAVAILABLE, kind="unavailable")
        flagged = {p.doc_id for p in cmap.unhelpful_pages}
        table = pd.DataFrame([{
            "page": s.title, "section": s.section or "(page intro)", "answers": s.answered,
            "mean confidence": None if s.mean_confidence is None else round(s.mean_confidence, 2),
            "helpful": s.helpful, "unhelpful": s.unhelpful, "unused": "yes" if s.unused else "",
            "page flagged unhelpful": "yes" if s.doc_id in flagged else "",
            "sample content": "yes" if s.synthetic else "",
        } for s in cmap.sections])
        summary = note(f"{cmap.answered} answers and {cmap.abstained} abstentions in the {window.lower()}; "
                       f"{len(cmap.unused_sections)} of {len(cmap.sections)} sections never quoted; "
                       f"{len(flagged)} pages flagged for unhelpful votes.")
        return (gr.update(value=table, visible=True),
                gr.update(value=write_csv(coverage.to_csv(cmap), "coverage.csv"), visible=True), summary)

    async def lint(self) -> tuple[Any, Any, str]:
        """(findings table, CSV download, note)."""
        hidden = gr.update(visible=False)
        lint = analytics_module("lint")
        if lint is None:
            return hidden, hidden, note("The corpus lint is not available yet in this version "
                                        "(the qa.lint module is missing).", kind="unavailable")
        service = self.service
        try:
            report = await service.run_engine(lint.lint_corpus, service.engine, service.settings)
        except ClinicQAError as err:
            return hidden, hidden, note(str(err), kind="unavailable")
        findings = list(getattr(report, "findings", report))
        table = pd.DataFrame([lint.finding_to_dict(f) for f in findings])
        summary = note(f"{len(findings)} findings.")
        return (gr.update(value=table, visible=True),
                gr.update(value=write_csv(lint.to_csv(report), "lint.csv"), visible=True), summary)

    # --- reindex -------------------------------------------------------------------------------------
    def token_ok(self, token: str) -> str | None:
        """None when ``token`` is the admin token, else what to tell the person."""
        expected = self.service.settings.admin_token
        if expected is None or not expected.get_secret_value():
            return "Rebuilding the index is disabled on this server: set CLINICQA_ADMIN_TOKEN to enable it."
        if not token:
            return "Enter the admin token to rebuild the index."
        if not hmac.compare_digest(token.encode("utf-8", "surrogatepass"),
                                   expected.get_secret_value().encode("utf-8")):
            return "Wrong admin token."
        return None

    async def reindex(self, token: str) -> AsyncIterator[tuple[str, Any]]:
        """Rebuild the index, showing progress while it runs, then the new index's manifest."""
        from api.service import ReindexBusyError

        problem = self.token_ok(token or "")
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
    """The content team tab's components and events (call inside ``tab``). The panels are filled when the
    tab is opened, not on every page load (the front desk does not wait for the gap report)."""
    team = ContentTeam(service)
    window = gr.Dropdown(label="Period", choices=list(WINDOWS), value="Last 30 days", elem_id="cqa-window")
    with gr.Tab("Gap report"), gr.Column(elem_id="cqa-gap-panel"):
        gap_note = gr.HTML("")
        gap_chart = gr.BarPlot(x="group", y="count", title="Most asked gaps", label="Top gap groups",
                               sort="-y", x_label_angle=-30, visible=False)
        gap_table = gr.Dataframe(label="Gap groups", wrap=True, interactive=False, visible=False)
        gap_csv = gr.DownloadButton("Download the gap report (CSV)", visible=False)
        gap_go = gr.Button("Refresh the gap report")
    with gr.Tab("Abstention rate"), gr.Column(elem_id="cqa-rate-panel"):
        rate_note = gr.HTML("")
        rate_chart = gr.LinePlot(x="day", y="abstention rate (%)", title="Abstention rate per day",
                                 label="Abstention rate over time", visible=False)
        rate_table = gr.Dataframe(label="Questions per day", interactive=False, visible=False)
        rate_csv = gr.DownloadButton("Download per-day figures (CSV)", visible=False)
        rate_go = gr.Button("Refresh")
    with gr.Tab("Coverage map"), gr.Column(elem_id="cqa-coverage-panel"):
        cov_note = gr.HTML("")
        cov_table = gr.Dataframe(label="Coverage by section", wrap=True, interactive=False, visible=False)
        cov_csv = gr.DownloadButton("Download the coverage map (CSV)", visible=False)
        cov_go = gr.Button("Refresh the coverage map")
    with gr.Tab("Lint"), gr.Column(elem_id="cqa-lint-panel"):
        lint_note = gr.HTML("")
        lint_table = gr.Dataframe(label="Lint findings", wrap=True, interactive=False, visible=False)
        lint_csv = gr.DownloadButton("Download the lint findings (CSV)", visible=False)
        lint_go = gr.Button("Run the lint")
    with gr.Tab("Rebuild the index"), gr.Column(elem_id="cqa-reindex-panel"):
        gr.HTML('<p>Rebuilds the index from the corpus folder and swaps it in; answers keep being served '
                "from the old index until then.</p>")
        token = gr.Textbox(label="Admin token", type="password", elem_id="cqa-admin-token")
        rebuild = gr.Button("Rebuild the index", variant="stop", elem_id="cqa-reindex")
        rebuild_status = gr.HTML("")
        manifest = gr.JSON(label="New index manifest", visible=False, elem_id="cqa-manifest")

    gap_out: list[Any] = [gap_chart, gap_table, gap_csv, gap_note]
    rate_out: list[Any] = [rate_chart, rate_table, rate_csv, rate_note]
    cov_out: list[Any] = [cov_table, cov_csv, cov_note]
    private: dict[str, Any] = {"api_visibility": "private"}
    gap_go.click(team.gap_report, [window], gap_out, **private)
    rate_go.click(team.abstention, [window], rate_out, **private)
    cov_go.click(team.coverage, [window], cov_out, **private)
    lint_go.click(team.lint, None, [lint_table, lint_csv, lint_note], **private)
    window.change(team.gap_report, [window], gap_out, **private)
    window.change(team.abstention, [window], rate_out, **private)
    window.change(team.coverage, [window], cov_out, **private)
    rebuild.click(team.reindex, [token], [rebuild_status, manifest], concurrency_limit=1, **private)
    tab.select(team.gap_report, [window], gap_out, **private)
    tab.select(team.abstention, [window], rate_out, **private)
    tab.select(team.coverage, [window], cov_out, **private)
    tab.select(team.lint, None, [lint_table, lint_csv, lint_note], **private)
