"""``clinicqa`` — the command line: build the index, ask, evaluate, fit, serve."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from qa.errors import ClinicQAError
from qa.settings import PROJECT_ROOT, Settings

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Answer patients' questions from the clinic's own pages, quoting and citing them.")
out = Console()
err = Console(stderr=True)

DEFAULT_SCORER = PROJECT_ROOT.parent / "shared" / "eval" / "score.py"


def _settings(corpus: Path | None = None, index: Path | None = None, *, quiet: bool = False) -> Settings:
    """The settings, with ``--corpus`` / ``--index`` applied, and logging set up: clinicqa's lines at
    CLINICQA_LOG_LEVEL, the libraries' from WARNING up. ``quiet`` (a one-off command such as ``ask``,
    whose output is the answer): WARNING for clinicqa too, unless CLINICQA_LOG_LEVEL is set."""
    from qa.logconfig import quiet_libraries

    s = Settings()
    updates: dict[str, Any] = {}
    if corpus is not None:
        updates["corpus_dir"] = corpus
    if index is not None:
        updates["index_dir"] = index
    s = s.model_copy(update=updates) if updates else s
    level = getattr(logging, s.log_level.upper(), logging.INFO)
    if quiet and "log_level" not in s.model_fields_set:
        level = max(level, logging.WARNING)
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    quiet_libraries()
    return s


def _batch(settings: Settings) -> Settings:
    """Settings for a one-off batch job (a report): torch may use every CPU, unlike a serving worker."""
    from qa.embedding import usable_cpus

    return settings.model_copy(update={"query_threads": usable_cpus()})


def _fail(error: Exception) -> typer.Exit:
    err.print(f"[bold red]error:[/] {error}", soft_wrap=True)  # one line, however long (paths)
    return typer.Exit(code=2)


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err, transient=False)


@app.command("build-index")
def build_index_cmd(
    corpus: Annotated[Path | None, typer.Option(help="Corpus folder or JSONL file [default: corpus/]")] = None,
    index: Annotated[Path | None, typer.Option(help="Index folder [default: index/]")] = None,
    strict: Annotated[bool, typer.Option(help="Stop at the first unreadable file")] = False,
) -> None:
    """Read the corpus, chunk and embed it, and write the index (atomically)."""
    from qa.indexing import build_index

    s = _settings(corpus, index)
    try:
        with _progress() as bar:
            tasks: dict[str, Any] = {}

            def progress(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(stage, total=total)
                bar.update(tasks[stage], completed=done, total=total)

            manifest = build_index(s, strict=strict, progress=progress)
    except ClinicQAError as e:
        raise _fail(e) from None
    c = manifest["counts"]
    out.print(f"[green]Index {manifest['build_id']}[/] written to {s.index_dir}: {c['pages']} pages, "
              f"{c['chunks']} chunks, {c['sentences']} sentences ({c['embedded']} embedded, {c['reused']} reused) "
              f"in {manifest['timings_s']['total']} s ({manifest['chunks_per_s']} chunks/s).")
    if c["ingest_errors"]:
        err.print(f"[yellow]{c['ingest_errors']} file(s) or line(s) could not be read; see the warnings above.[/]")


@app.command("export-encoder")
def export_encoder_cmd(
    int8: Annotated[bool, typer.Option(help="Also make the int8-quantised export (CLINICQA_QUERY_ENCODER=onnx-int8)")]
    = False,
    force: Annotated[bool, typer.Option(help="Export again even if a checked export exists")] = False,
) -> None:
    """Export the embedding model to ONNX for the torch-free query encoder (offline; once per model).
    `clinicqa ask` and `serve` do it on first use when it is missing; scripts/setup does it at install."""
    from qa.embedding import bundled_model_path, encoder_cache_dir
    from qa.onnxencoder import Variant, export, load_encoder

    s = _settings()
    try:
        model = Path(s.model_path) if s.model_path else bundled_model_path()
        folder = encoder_cache_dir(s)
        for variant in (Variant.FP32, Variant.INT8) if int8 else (Variant.FP32,):
            if force:
                info = export(model, folder, variant, s.chunk_max_seq_length)
                path, how = info.path, f"exported in {info.seconds:.1f} s, probe cosine with torch {info.torch_cosine}"
            else:
                path, how = load_encoder(model, folder, variant, s.chunk_max_seq_length).path, "checked"
            out.print(f"[green]{variant.value}[/] {path} ({how})")
    except ClinicQAError as e:
        raise _fail(e) from None


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The patient's question")],
    index: Annotated[Path | None, typer.Option(help="Index folder [default: index/]")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer as one JSON object")] = False,
    procedure: Annotated[str | None, typer.Option(help="Only pages about this procedure")] = None,
    category: Annotated[str | None, typer.Option(help="Only pages of this category")] = None,
) -> None:
    """Answer one question with a verbatim, cited quote — or say honestly that the pages don't answer it."""
    from qa.engine import Engine
    from qa.serialize import answer_to_dict

    s = _settings(index=index, quiet=True)
    try:
        engine = Engine.load(s)
        answer = engine.ask(question, procedure=procedure, category=category)
    except ClinicQAError as e:
        raise _fail(e) from None
    if as_json:
        out.print_json(json.dumps(answer_to_dict(answer), ensure_ascii=False))
        return
    if answer.escalation:
        out.print(f"[bold red]{answer.message}[/]")
        return
    if answer.best is not None and not answer.abstained:
        b = answer.best
        out.print(f"[bold]“{b.text}”[/]")
        for c in answer.citations:
            where = c.title + (f" › {c.section}" if c.section else "")
            link = f", {c.url}" if c.url else ""
            sample = " [yellow](sample content)[/]" if c.synthetic else ""
            out.print(f"   {where}  ({c.source}{link}){sample}   confidence {answer.confidence:.2f}")
    if answer.message:
        out.print(answer.message if not answer.abstained else f"[yellow]{answer.message}[/]")
    if answer.abstained:
        out.print(f"[dim](reason: {answer.reason}, confidence {answer.confidence:.2f})[/]")


@app.command("eval")
def eval_cmd(
    questions: Annotated[Path, typer.Option(help="Questions JSONL (e.g. ../shared/eval/dev/dev.jsonl)")],
    corpus: Annotated[Path, typer.Option(help="The corpus the questions are about (JSONL or folder)")],
    predictions: Annotated[Path | None, typer.Option(help="Write predictions JSONL here")] = None,
    index: Annotated[Path | None, typer.Option(help="Index of that corpus [default: index/]")] = None,
    split: Annotated[str, typer.Option(help="tune | report | all (by id hash)")] = "report",
    scorer: Annotated[Path, typer.Option(help="The shared scorer score.py")] = DEFAULT_SCORER,
    fusion: Annotated[str | None, typer.Option(help="Override retrieval fusion: rrf|weighted|bm25|dense")] = None,
    build: Annotated[bool, typer.Option(help="Build the index first if it is missing or stale")] = True,
) -> None:
    """Answer every question of a labelled set, write predictions and print the scorer's metrics."""
    from qa.engine import Engine
    from qa.errors import IndexDamagedError, IndexMismatchError, IndexNotFoundError
    from qa.evaluation import predict, read_questions, score
    from qa.indexing import build_index

    s = _settings(corpus, index)
    if fusion:
        s = s.model_copy(update={"fusion": fusion})
    try:
        qs = read_questions(questions, split)
        try:
            engine = Engine.load(s)
        except (IndexNotFoundError, IndexMismatchError, IndexDamagedError) as e:
            if not build:
                raise
            err.print(f"[yellow]{e}[/] — building it now.")
            build_index(s)
            engine = Engine.load(s)
        with _progress() as bar:
            task = bar.add_task("answering", total=len(qs))
            preds = predict(engine, qs, progress=lambda n: bar.advance(task, n))
        if predictions:
            predictions.parent.mkdir(parents=True, exist_ok=True)
            with open(predictions, "w", encoding="utf-8") as f:
                for p in preds:
                    f.write(json.dumps(p, ensure_ascii=False) + "\n")
        metrics = score(scorer, qs, engine.data.pages, preds)
    except ClinicQAError as e:
        raise _fail(e) from None
    metrics = {"split": split, "fusion": s.fusion, **metrics}
    for k, v in metrics.items():
        out.print(f"{k:32s} {v}")


@app.command()
def fit(
    questions: Annotated[list[Path], typer.Option(help="Labelled questions JSONL (repeat for several sets)")],
    corpus: Annotated[list[Path], typer.Option(help="The corpus of each question set, in the same order")],
    index: Annotated[list[Path], typer.Option(help="The index of each corpus, in the same order")],
    output: Annotated[Path, typer.Option(help="Where to write the answer model")] = Path("qa/data/answer_model.json"),
    split: Annotated[str, typer.Option(help="Split to fit on (tune | report | all)")] = "tune",
    cv: Annotated[bool, typer.Option(help="Only print 5-fold cross-validated quality; write nothing")] = False,
    max_wrong: Annotated[float, typer.Option(
        help="Highest wrong-answer rate allowed on the fitting questions when choosing the threshold")] = 0.10,
    wrong_bound_z: Annotated[float, typer.Option(
        help="Hold the wrong-answer rate's Wilson upper bound at this z to --max-wrong (1.645: 95 % "
             "one-sided; 0: the observed rate)")] = 1.645,
    threshold_on: Annotated[str | None, typer.Option(
        help="Choose the threshold on this question set's questions only (its file or folder name, e.g. "
             "'clinic' for eval/clinic/questions.jsonl): the clinic's own patients' questions")] = None,
) -> None:
    """Fit the sentence ranker, the confidence calibrator and the threshold on labelled questions."""
    from qa.engine import Engine
    from qa.evaluation import collect, cross_validate, dataset_name, fit_answer_model, read_questions

    if not 0.0 < max_wrong < 1.0:
        raise _fail(ClinicQAError("--max-wrong must be between 0 and 1, e.g. 0.10."))
    if not 0.0 <= wrong_bound_z <= 5.0:
        raise _fail(ClinicQAError("--wrong-bound-z must be between 0 and 5, e.g. 1.645."))
    if not len(questions) == len(corpus) == len(index):
        raise _fail(ClinicQAError("Give one --corpus and one --index for each --questions, in the same order."))
    try:
        samples = []
        models = set()
        for q_path, c_path, i_path in zip(questions, corpus, index, strict=True):
            s = _settings(c_path, i_path)
            qs = [{**q, "_set": dataset_name(q_path)} for q in read_questions(q_path, split)]
            engine = Engine.load(s, with_model=False)
            with _progress() as bar:
                task = bar.add_task(f"collecting {q_path.name}", total=len(qs))
                samples += collect(engine, qs, progress=lambda n, t=task: bar.advance(t, n))  # type: ignore[misc]
            models.add(str(engine.manifest.get("model")))
        if cv:
            for k, v in cross_validate(samples, max_wrong=max_wrong, z=wrong_bound_z).items():
                out.print(f"{k:24s} {v}")
            return
        model = fit_answer_model(samples, {
            "questions": [p.name for p in questions], "split": split, "fusion": s.fusion,
            "model": sorted(models),
        }, max_wrong=max_wrong, z=wrong_bound_z, threshold_set=threshold_on)
        model.save(output)
    except ClinicQAError as e:
        raise _fail(e) from None
    out.print(f"[green]Answer model written to {output}[/] (threshold {model.threshold:.2f}).")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (each loads the model once)")] = 1,
    index: Annotated[Path | None, typer.Option(help="Index folder [default: index/]")] = None,
    build: Annotated[bool, typer.Option(
        help="Build the index first if it is missing or out of date (settings, model or corpus changed)")] = True,
) -> None:
    """Start the HTTP API (and the UI, where installed) on the given host and port."""
    from qa.indexing import build_index, stale_reason
    from qa.store import resolve_build

    s = _settings(index=index)
    try:
        s.check_secrets()  # before a long index build: a guessable admin token or staff password is refused
        if not build:
            resolve_build(s.index_dir)  # a missing index is a clear error, not a server that cannot answer
        elif why := stale_reason(s):
            err.print(f"[yellow]{why[:1].upper() + why[1:]}[/]\nBuilding it from {s.corpus_dir} first.")
            build_index(s)
        from api.server import run
    except ClinicQAError as e:
        raise _fail(e) from None
    except ImportError as e:
        raise _fail(ClinicQAError(f"The API is not installed ({e}); run `pip install -e .`")) from None
    run(s, host=host, port=port, workers=workers)


@app.command("purge-log")
def purge_log_cmd(
    days: Annotated[int | None, typer.Option(help="Delete questions older than this many days "
                                                  "[default: CLINICQA_RETENTION_DAYS]")] = None,
) -> None:
    """Delete logged questions (and their feedback) older than the retention period."""
    from qa.questionlog import purge_log

    s = _settings()
    keep = s.retention_days if days is None else days
    if keep < 1:
        raise _fail(ClinicQAError("--days must be at least 1."))
    try:
        removed = purge_log(s.database_url, keep)
    except Exception as e:  # database errors of any driver: report, don't trace
        raise _fail(ClinicQAError(f"Could not purge the question log at {s.database_url}: {e}")) from None
    out.print(f"Deleted {removed} question(s) older than {keep} days.")


# --- content team: gaps, coverage, lint -----------------------------------------------------------------

FORMATS = ("table", "json", "csv")


def _check_format(fmt: str, allowed: tuple[str, ...] = FORMATS) -> str:
    if fmt not in allowed:
        raise _fail(ClinicQAError(f"--format must be one of {', '.join(allowed)} (got {fmt!r})."))
    return fmt


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    except OSError as e:
        raise _fail(ClinicQAError(f"Could not write {output}: {e.strerror or e}.")) from None
    err.print(f"Written to {output}.")


def _export(fmt: str, output: Path | None, report: Any, to_json: Callable[[Any], str],
            to_csv: Callable[[Any], str]) -> bool:
    """Write ``report`` as JSON or CSV when ``--format`` asks for it; False: the caller prints its table."""
    if fmt == "table":
        return False
    _emit(to_json(report) if fmt == "json" else to_csv(report), output)
    return True


def _log_rows(s: Settings, since: Any) -> Any:
    from qa.gaps import questions_from_log
    from qa.questionlog import QuestionLog

    log = QuestionLog(s.database_url)
    try:
        return questions_from_log(log, since=since)
    except ClinicQAError:
        raise
    except Exception as e:  # any driver's error: say which database, never a traceback
        raise ClinicQAError(f"Could not read the question log at {s.database_url} ({type(e).__name__}); check "
                            "CLINICQA_DATABASE_URL and that the database is running.") from None
    finally:
        log.dispose()


@app.command()
def gaps(
    since: Annotated[str | None, typer.Option(help="Only questions of the last period, e.g. 30d, 12h, 2w")] = None,
    questions: Annotated[Path | None, typer.Option(
        help="Analyse this JSONL file of questions (answered now) instead of the question log")] = None,
    index: Annotated[Path | None, typer.Option(help="Index folder [default: index/]")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table | json | csv")] = "table",
    output: Annotated[Path | None, typer.Option(help="Write the report to this file")] = None,
    recheck: Annotated[str, typer.Option(
        help="Re-ask gap questions against the current index: auto (groups logged under an older index), "
             "all, none")] = "auto",
    limit: Annotated[int, typer.Option(help="Groups shown in the table")] = 30,
) -> None:
    """Coverage gaps: what patients asked that the pages don't answer, grouped and ranked."""
    from datetime import UTC, datetime

    from qa.engine import Engine
    from qa.gaps import gap_report, parse_since, questions_from_jsonl, to_csv, to_json

    _check_format(fmt)
    if recheck not in ("auto", "all", "none"):
        raise _fail(ClinicQAError(f"--recheck must be auto, all or none (got {recheck!r})."))
    s = _settings(index=index)
    now = datetime.now(UTC)
    try:
        start = now - parse_since(since) if since else None
        engine = Engine.load(_batch(s))
        if questions is not None:
            with _progress() as bar:
                task = bar.add_task("answering", total=None)
                rows = questions_from_jsonl(questions, engine, progress=lambda n: bar.advance(task, n))
            if start is not None:
                rows = [r for r in rows if r.created_at is None or r.created_at >= start]
            source = str(questions)
        else:
            rows = _log_rows(s, start)
            source = "log"
        report = gap_report(engine, s, rows, source=source, since=start, now=now,
                            recheck=recheck)  # type: ignore[arg-type]
    except ClinicQAError as e:
        raise _fail(e) from None
    if not _export(fmt, output, report, to_json, to_csv):
        _gaps_table(report, limit)


def _gaps_table(report: Any, limit: int) -> None:
    from rich.table import Table

    out.print(f"[bold]Coverage gaps[/] from {report.source}: {report.gap_questions} of {report.total_questions} "
              f"questions were not answered well, in {len(report.groups)} groups (index {report.index_version}).")
    if not report.groups:
        out.print("No gaps to show." + (" The question log is empty for this period." if not report.total_questions
                                        else ""))
        return
    table = Table(show_lines=False)
    for col in ("#", "asked", "group (most central question)", "kind", "closest page › section", "score",
                "last seen", "now"):
        table.add_column(col, overflow="fold")
    for g in report.groups[:limit]:
        c, na = g.closest, g.now_answered
        where = f"{c.title} › {c.section}" if c else "—"
        now_text = (f"[green]{na.answered}/{na.asked} answered[/] by {na.title} › {na.section} "
                    f"({na.confidence:.2f})" if na and na.answered else ("not yet" if na else ""))
        table.add_row(str(g.rank), str(g.count), g.label + (f" [dim](+{g.distinct - 1} paraphrases)[/]"
                                                             if g.distinct > 1 else ""),
                      str(g.kind), where, f"{c.score:.2f}" if c else "", g.last_seen.date().isoformat()
                      if g.last_seen else "", now_text)
    out.print(table)
    if len(report.groups) > limit:
        out.print(f"[dim]{len(report.groups) - limit} more groups: use --format csv or json for all of them.[/]")


@app.command()
def coverage(
    since: Annotated[str | None, typer.Option(help="Only questions of the last period, e.g. 30d")] = None,
    index: Annotated[Path | None, typer.Option(help="Index folder [default: index/]")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table | json | csv")] = "table",
    output: Annotated[Path | None, typer.Option(help="Write the map to this file")] = None,
) -> None:
    """Coverage map: how often each page and section answered, with what confidence and feedback."""
    from datetime import UTC, datetime

    from qa.coverage import coverage_map, to_csv, to_json
    from qa.engine import Engine
    from qa.gaps import parse_since

    _check_format(fmt)
    s = _settings(index=index)
    now = datetime.now(UTC)
    try:
        start = now - parse_since(since) if since else None
        engine = Engine.load(_batch(s), with_model=False)
        cmap = coverage_map(engine, s, _log_rows(s, start), since=start, now=now)
    except ClinicQAError as e:
        raise _fail(e) from None
    if _export(fmt, output, cmap, to_json, to_csv):
        return
    from rich.table import Table

    out.print(f"[bold]Coverage[/]: {cmap.answered} answered, {cmap.abstained} abstained of {cmap.total_questions} "
              f"questions; {len(cmap.unused_sections)} of {len(cmap.sections)} sections never used.")
    table = Table()
    for col in ("page › section", "answered", "mean conf.", "👍", "👎"):
        table.add_column(col, overflow="fold")
    for sec in cmap.sections:
        mean = f"{sec.mean_confidence:.2f}" if sec.mean_confidence is not None else ""
        style = "dim" if sec.unused else ""
        table.add_row(f"{sec.doc_id} › {sec.section or '(intro)'}" + (" [yellow](sample)[/]" if sec.synthetic
                                                                      else ""),
                      str(sec.answered), mean, str(sec.helpful), str(sec.unhelpful), style=style)
    out.print(table)
    for p in cmap.unhelpful_pages:
        out.print(f"[red]Many unhelpful votes:[/] {p.title} ({p.doc_id}): {p.unhelpful} unhelpful, "
                  f"{p.helpful} helpful.")


@app.command("lint-corpus")
def lint_corpus_cmd(
    corpus: Annotated[Path | None, typer.Option(help="Corpus folder or file [default: corpus/]")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table | json | csv")] = "table",
    stale_months: Annotated[int | None, typer.Option(
        help="Pages reviewed longer ago than this are stale [default: CLINICQA_LINT_STALE_MONTHS, 12]")] = None,
    fail_on: Annotated[str, typer.Option(help="Exit 1 on findings of this severity: error | warning | never")]
    = "error",
    output: Annotated[Path | None, typer.Option(help="Write the findings to this file")] = None,
) -> None:
    """Content health: missing front matter, stale pages, duplicate sections, possible contradictions,
    sample pages. Exits 1 when there are errors (see --fail-on)."""
    from qa.lint import Severity, exit_code, lint_corpus, to_csv, to_json

    _check_format(fmt)
    if fail_on not in ("error", "warning", "never"):
        raise _fail(ClinicQAError(f"--fail-on must be error, warning or never (got {fail_on!r})."))
    s = _settings(corpus)
    if stale_months is not None:
        if stale_months < 1:
            raise _fail(ClinicQAError("--stale-months must be at least 1."))
        s = s.model_copy(update={"lint_stale_months": stale_months})
    try:
        findings = lint_corpus(s, Path(s.corpus_dir))
    except ClinicQAError as e:
        raise _fail(e) from None
    if not _export(fmt, output, findings, to_json, to_csv):
        from rich.table import Table

        colour = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFO: "blue"}
        table = Table(show_lines=True)
        for col in ("severity", "rule", "page", "what to do"):
            table.add_column(col, overflow="fold")
        for f in findings:
            if f.rule == "synthetic_page":
                continue  # listed in one line below
            detail = f.message + ("".join(f"\n  “{e}”" for e in f.evidence[:2])
                                  if f.rule == "possible_contradiction" else "")
            table.add_row(f"[{colour[f.severity]}]{f.severity}[/]", f.rule, f.doc_id or f.source or "", detail)
        out.print(table)
        sample = [f.doc_id or f.source or "" for f in findings if f.rule == "synthetic_page"]
        if sample:
            out.print(f"[blue]Sample content (synthetic: true), not the clinic's advice:[/] {', '.join(sample)}")
        counts = {sev: sum(f.severity == sev for f in findings) for sev in Severity}
        out.print(f"{counts[Severity.ERROR]} errors, {counts[Severity.WARNING]} warnings, "
                  f"{counts[Severity.INFO]} notes.")
    code = exit_code(findings, fail_on)  # type: ignore[arg-type]
    if code:
        raise typer.Exit(code=code)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
