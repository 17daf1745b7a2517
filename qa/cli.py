"""``clinicqa`` — the command line: build the index, ask, evaluate, fit, serve."""

from __future__ import annotations

import json
import logging
import sys
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


def _settings(corpus: Path | None = None, index: Path | None = None) -> Settings:
    s = Settings()
    updates: dict[str, Any] = {}
    if corpus is not None:
        updates["corpus_dir"] = corpus
    if index is not None:
        updates["index_dir"] = index
    s = s.model_copy(update=updates) if updates else s
    logging.basicConfig(level=getattr(logging, s.log_level.upper(), logging.INFO), stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("faiss.loader", "sentence_transformers", "httpx", "transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return s


def _fail(error: Exception) -> typer.Exit:
    err.print(f"[bold red]error:[/] {error}")
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

    s = _settings(index=index)
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
    from qa.errors import IndexMismatchError, IndexNotFoundError
    from qa.evaluation import predict, read_questions, score
    from qa.indexing import build_index

    s = _settings(corpus, index)
    if fusion:
        s = s.model_copy(update={"fusion": fusion})
    try:
        qs = read_questions(questions, split)
        try:
            engine = Engine.load(s)
        except (IndexNotFoundError, IndexMismatchError) as e:
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
        help="Highest wrong-answer rate allowed on the tune split when choosing the threshold")] = 0.15,
) -> None:
    """Fit the sentence ranker, the confidence calibrator and the threshold on labelled questions."""
    from qa.engine import Engine
    from qa.evaluation import collect, cross_validate, fit_answer_model, read_questions

    if not 0.0 < max_wrong < 1.0:
        raise _fail(ClinicQAError("--max-wrong must be between 0 and 1, e.g. 0.10."))
    if not len(questions) == len(corpus) == len(index):
        raise _fail(ClinicQAError("Give one --corpus and one --index for each --questions, in the same order."))
    try:
        samples = []
        models = set()
        for q_path, c_path, i_path in zip(questions, corpus, index, strict=True):
            s = _settings(c_path, i_path)
            qs = [{**q, "_set": q_path.stem} for q in read_questions(q_path, split)]
            engine = Engine.load(s, with_model=False)
            with _progress() as bar:
                task = bar.add_task(f"collecting {q_path.name}", total=len(qs))
                samples += collect(engine, qs, progress=lambda n, t=task: bar.advance(t, n))  # type: ignore[misc]
            models.add(str(engine.manifest.get("model")))
        if cv:
            for k, v in cross_validate(samples, max_wrong=max_wrong).items():
                out.print(f"{k:24s} {v}")
            return
        model = fit_answer_model(samples, {
            "questions": [p.name for p in questions], "split": split, "fusion": s.fusion,
            "model": sorted(models),
        }, max_wrong=max_wrong)
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
    build: Annotated[bool, typer.Option(help="Build the index first if it is missing")] = True,
) -> None:
    """Start the HTTP API (and the UI, where installed) on the given host and port."""
    from qa.errors import IndexNotFoundError
    from qa.indexing import build_index
    from qa.store import resolve_build

    s = _settings(index=index)
    try:
        try:
            resolve_build(s.index_dir)
        except IndexNotFoundError:
            if not build:
                raise
            err.print(f"[yellow]No index in {s.index_dir}[/] — building it from {s.corpus_dir} first.")
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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
