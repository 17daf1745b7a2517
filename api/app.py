"""The FastAPI application: ``create_app(settings, engine=None)``.

Each uvicorn worker builds its own app; the lifespan loads the engine once (in a thread), purges expired
log entries and starts the question-log writer. Handlers never run engine work on the event loop.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated, Any, Literal

import anyio.to_thread
from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware

from api import metrics
from api.auth import admin_bearer, client_key, require_admin, require_staff_detail, staff_cookie
from api.docs import mount_offline_docs
from api.middleware import BodyLimitMiddleware, CatchAllMiddleware, ObservabilityMiddleware
from api.schemas import (
    NON_BLANK,
    SINCE_PATTERN,
    AdminStatusResponse,
    AskRequest,
    AskResponse,
    CoverageResponse,
    DocumentsResponse,
    ErrorResponse,
    FeedbackRequest,
    FeedbackResponse,
    GapReportResponse,
    HealthResponse,
    IndexStatus,
    LintResponse,
    LogDetail,
    LogStatus,
    NoticeResponse,
    QuestionsPageResponse,
    ReadyResponse,
    ReindexResponse,
    SearchResponse,
)
from api.service import (
    LogUnavailableError,
    NoMatchingPagesError,
    NotReadyError,
    ReindexBusyError,
    Service,
    UnknownAnswerError,
    public_manifest,
)
from api.views import (
    ask_response,
    coverage_response,
    documents_response,
    gap_report_response,
    lint_response,
    questions_response,
    search_response,
)
from qa.context import Context
from qa.domain import Reason
from qa.errors import ClinicQAError, InputError
from qa.settings import Settings

if TYPE_CHECKING:
    from qa.engine import Engine

logger = logging.getLogger("clinicqa.api")

API_DESCRIPTION = """
Extractive, cited answers from the pages of Atlas Pain Care, Coimbatore.

Every answer is a verbatim quote from one of the clinic's pages, with its offsets and citation. When the
pages do not answer a question, the assistant abstains (`abstained: true`) and gives the clinic's contact
line; questions about emergencies are escalated.

Errors are JSON: `{"detail": "what went wrong and what to do"}`.

Who may do what: everything is public except staff detail on `POST /v1/ask` (`"audience": "staff"`), which
needs the staff session cookie (sign in at `/staff-login`) or the admin token, and the admin endpoints, which
need `Authorization: Bearer <CLINICQA_ADMIN_TOKEN>`. Wrong passwords and tokens are throttled per client:
after a few, 429 with `Retry-After`.
"""


STAFF_DETAIL_ERRORS = {
    401: "Staff detail without credentials: sign in at /staff-login or send the admin token.",
    403: "Staff detail with a wrong admin token or an invalid staff session.",
}


def _errors(*codes: int, say: dict[int, str] | None = None) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses for these status codes; ``say`` overrides the usual descriptions."""
    descriptions = {
        400: "Malformed request (for example a body that is not UTF-8).",
        401: "Missing admin token.",
        403: "Wrong admin token, or admin endpoints are disabled.",
        404: "Not found: an unknown answer_id, or no page has both the procedure and the category asked for.",
        409: "A reindex is already running.",
        413: "Request body too large.",
        422: "Invalid input: the message says which field and why.",
        429: "Too many requests (or wrong passwords / admin tokens) from this client: wait `Retry-After` "
             "seconds.",
        503: "The index is not loaded yet, or the database is unavailable.",
    }
    descriptions.update(say or {})
    return {code: {"model": ErrorResponse, "description": descriptions[code]} for code in codes}


def since_query() -> Any:
    """A fresh Query per parameter (module level: the annotations are resolved in this module's globals)."""
    return Query(pattern=SINCE_PATTERN, description="Only questions of the last period: 30d (days), "
                                                    "12h (hours), 2w (weeks). Default: the whole log.",
                 examples=["30d"])


def format_query() -> Any:
    return Query(description="json, or csv for a spreadsheet.")


def _rate_limit(name: str) -> Callable[[Request], Awaitable[None]]:
    async def check(request: Request) -> None:
        service: Service = request.app.state.service
        wait = service.limiters[name].check(client_key(request))
        if wait > 0:
            metrics.RATE_LIMITED.labels(name).inc()
            raise StarletteHTTPException(
                429, "Too many questions from this address; please wait a moment and try again.",
                headers={"Retry-After": service.limiters[name].retry_after(wait)},
            )

    return check


def _friendly(kind: str, where: str, msg: str, max_question: int) -> str:
    if kind == "json_invalid":
        return "The body is not valid JSON"
    if kind == "missing":
        return f"'{where}' is required"
    if kind == "extra_forbidden":
        return f"'{where}' is not a known field"
    if kind == "string_pattern_mismatch":
        return f"'{where}' is empty or only spaces"
    if kind == "string_too_short":
        return f"'{where}' is empty"
    if kind == "string_too_long" and where == "question":
        return f"The question is too long: the limit is {max_question} characters. Please shorten it"
    return f"'{where}': {msg}"


def _validation_detail(errors: list[dict[str, Any]], max_question: int) -> tuple[str, list[dict[str, Any]]]:
    """A one-line message a person can act on, and the structured errors (without echoing the input)."""
    items = []
    parts: list[str] = []
    for err in errors:
        loc = [part if isinstance(part, int) else str(part) for part in err.get("loc", ())]
        kind, msg = str(err.get("type", "")), str(err.get("msg", "invalid"))
        items.append({"loc": loc, "msg": msg, "type": kind})
        where = ".".join(str(p) for p in loc if p not in ("body", "query") and not isinstance(p, int))
        text = _friendly(kind, where or "body", msg, max_question)
        if text not in parts:
            parts.append(text)
    return "Invalid request: " + "; ".join(parts[:5]) + ".", items


def create_app(settings: Settings, engine: Engine | None = None) -> FastAPI:
    """The API for one worker. ``engine``: an already loaded engine (tests); None loads one at start-up.

    Raises :class:`qa.settings.InsecureSettingsError` for a guessable admin token or staff password."""
    settings.check_secrets()
    service = Service(settings, engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await service.startup()
        try:
            yield
        finally:
            await service.shutdown()

    app = FastAPI(
        title="Atlas Pain Care — clinic Q&A API",
        version="1.0.0",
        description=API_DESCRIPTION,
        lifespan=lifespan,
        docs_url=None, redoc_url=None,  # served from local assets below (offline: no CDN)
        openapi_tags=[
            {"name": "answers", "description": "Questions, search, feedback (website widget, front desk)."},
            {"name": "admin", "description": "Content team: reindex and the question log (token required)."},
            {"name": "ops", "description": "Health, readiness and metrics."},
        ],
    )
    app.state.service = service

    # --- errors ----------------------------------------------------------------------------------
    @app.exception_handler(RequestValidationError)
    async def on_validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        detail, items = _validation_detail(list(exc.errors()), settings.max_question_chars)
        return JSONResponse({"detail": detail, "errors": items}, status_code=422)

    @app.exception_handler(InputError)
    async def on_input(_: Request, exc: InputError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(NotReadyError)
    async def on_not_ready(_: Request, exc: NotReadyError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(LogUnavailableError)
    async def on_log_down(_: Request, exc: LogUnavailableError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "30"})

    @app.exception_handler(NoMatchingPagesError)
    async def on_no_pages(_: Request, exc: NoMatchingPagesError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(ReindexBusyError)
    async def on_busy(_: Request, exc: ReindexBusyError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    # --- answers ---------------------------------------------------------------------------------
    @app.post(
        "/v1/ask", response_model=AskResponse, tags=["answers"], summary="Answer a question",
        responses=_errors(400, 401, 403, 404, 413, 422, 429, 503, say=STAFF_DETAIL_ERRORS),
        dependencies=[Depends(_rate_limit("ask"))],
        openapi_extra={"security": [{}]},  # besides the token or the session: none, for the patient view
    )
    async def ask(
        body: AskRequest, request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(admin_bearer)],
        session: Annotated[str | None, Depends(staff_cookie)],
    ) -> AskResponse:
        """The engine's answer: a quote from a clinic page with offsets, its passage and citations, a
        confidence, or an abstention with its reason and the clinic's contact line. Public.

        Staff (`"audience": "staff"`) also get the alternative answers and the retrieved passages with their
        scores: that needs the staff session cookie (sign in at `/staff-login`) or the admin token
        (`Authorization: Bearer`); without either 401, with a wrong one 403."""
        if body.audience == "staff":
            require_staff_detail(request, credentials, session)
        filters = body.filters
        context = (Context(procedure=body.context.procedure, history=tuple(body.context.history))
                   if body.context is not None else None)
        answer, cached, version = await service.ask(
            body.question, procedure=filters.procedure if filters else None,
            category=filters.category if filters else None, audience=body.audience, context=context,
        )
        return ask_response(answer, staff=body.audience == "staff", cached=cached, index_version=version,
                            contact=settings.contact_message())

    @app.get(
        "/v1/search", response_model=SearchResponse, tags=["answers"], summary="Search the clinic's pages",
        responses=_errors(422, 429, 503), dependencies=[Depends(_rate_limit("search"))],
    )
    async def search(
        q: Annotated[str, Query(min_length=1, max_length=200, pattern=NON_BLANK,
                                description="What to look for.", examples=["fasting before injection"])],
        k: Annotated[int, Query(ge=1, le=50, description="How many passages.")] = 5,
        procedure: Annotated[str | None, Query(min_length=1, max_length=100, pattern=NON_BLANK)] = None,
        category: Annotated[str | None, Query(min_length=1, max_length=100, pattern=NON_BLANK)] = None,
    ) -> SearchResponse:
        """Ranked passages with the best-matching sentence highlighted, for staff lookup."""
        engine = service.engine
        try:
            service.check_filters(engine, procedure, category)
        except NoMatchingPagesError:
            return search_response(q, k, [], engine.index_version)
        hits = await service.run_engine(engine.search, q, k=k, procedure=procedure, category=category)
        return search_response(q, k, hits, engine.index_version)

    @app.post(
        "/v1/feedback", response_model=FeedbackResponse, status_code=201, tags=["answers"],
        summary="Say whether an answer helped", responses=_errors(400, 404, 413, 422, 429, 503),
        dependencies=[Depends(_rate_limit("feedback"))],
    )
    async def feedback(body: FeedbackRequest) -> FeedbackResponse:
        """Stored with the question it belongs to (joined on `answer_id`); comments are redacted."""
        try:
            await service.feedback(body.answer_id, body.helpful, body.comment)
        except UnknownAnswerError as err:
            raise StarletteHTTPException(404, str(err)) from None
        except LogUnavailableError as err:
            raise StarletteHTTPException(503, str(err), headers={"Retry-After": "30"}) from None
        return FeedbackResponse(answer_id=body.answer_id)

    @app.get("/v1/documents", response_model=DocumentsResponse, tags=["answers"],
             summary="The indexed pages", responses=_errors(503))
    async def documents() -> DocumentsResponse:
        """Every page in the serving index: title, url, last reviewed, synthetic, number of passages."""
        engine = service.engine
        return documents_response(engine.documents(), engine.index_version)

    @app.get("/v1/notice", response_model=NoticeResponse, tags=["answers"],
             summary="What the widget must tell patients about what is stored, and the disclaimer")
    async def notice() -> NoticeResponse:
        """The privacy notice (what is stored, why, for how long) and the general-information disclaimer."""
        return NoticeResponse(
            privacy_notice=settings.privacy_notice_text(), retention_days=settings.retention_days,
            disclaimer=f"General information from {settings.clinic_name}'s pages, not medical advice for you.",
        )

    # --- admin -----------------------------------------------------------------------------------
    @app.post("/v1/admin/reindex", response_model=ReindexResponse, tags=["admin"],
              summary="Rebuild the index from the corpus and swap it in",
              responses=_errors(401, 403, 409, 422, 429), dependencies=[Depends(require_admin)])
    async def reindex() -> ReindexResponse:
        """Builds a new index in a worker thread and swaps it in atomically: requests keep being served by
        the old index until the swap, and none sees a half-built one. Other workers pick the new index
        up within a few seconds."""
        try:
            result = await service.reindex()
        except (ReindexBusyError, NotReadyError):
            raise
        except ClinicQAError as err:
            raise StarletteHTTPException(422, f"Reindex failed, the old index keeps serving: {err}") from None
        return ReindexResponse(**result)

    @app.get("/v1/admin/questions", response_model=QuestionsPageResponse, tags=["admin"],
             summary="The question log, newest first", responses=_errors(401, 403, 422, 429, 503),
             dependencies=[Depends(require_admin)])
    async def questions(
        page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
        page_size: Annotated[int, Query(ge=1, le=200)] = 50,
        abstained: Annotated[bool | None, Query(description="Only abstentions (true) or answers (false).")]
        = None,
        reason: Annotated[Reason | None, Query()] = None,
    ) -> QuestionsPageResponse:
        """Redacted questions with confidence, abstention, latency and the feedback given, paged."""
        try:
            result = await anyio.to_thread.run_sync(
                lambda: service.log.questions(page=page, page_size=page_size, abstained=abstained,
                                              reason=str(reason) if reason else None))
        except ClinicQAError:
            raise
        except Exception as err:
            logger.warning("question log unavailable: %s", type(err).__name__)
            raise StarletteHTTPException(503, "The question log database is unavailable; try again later.",
                                         headers={"Retry-After": "30"}) from None
        return questions_response(result)

    # --- admin: content team ----------------------------------------------------------------------
    csv_ok: dict[int | str, dict[str, Any]] = {200: {"description": "The report (JSON, or CSV with format=csv).",
                    "content": {"text/csv": {"schema": {"type": "string"}}}}}

    def _csv(text: str, name: str) -> Response:
        return Response(text, media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})

    async def _gaps(since: str | None, fmt: str, recheck: str) -> Response | GapReportResponse:
        from qa.gaps import parse_since, to_csv

        period = parse_since(since) if since else None
        report = await service.run_report(service.gap_report, period, recheck)
        if fmt == "csv":
            return _csv(to_csv(report), "gaps")
        return gap_report_response(report)

    @app.get("/v1/admin/gaps", response_model=GapReportResponse, tags=["admin"],
             summary="Coverage gaps: what patients ask that the pages don't answer",
             responses={**csv_ok, **_errors(401, 403, 422, 429, 503)}, dependencies=[Depends(require_admin)])
    async def gaps(
        since: Annotated[str | None, since_query()] = None,
        format: Annotated[Literal["json", "csv"], format_query()] = "json",
        recheck: Annotated[Literal["auto", "all", "none"], Query(
            description="Re-ask gap questions against the serving index: auto = groups logged under an "
                        "older index (after a reindex), all, or none.")] = "auto",
    ) -> Response | GapReportResponse:
        """Abstained, low-confidence and unhelpful questions grouped by paraphrase, ranked by how many
        asked, how recently and how far the closest page is; each with examples, first/last seen, the
        closest page and section with its score, and the kind of gap. After a reindex, `now_answered`
        says which groups the new pages answer."""
        return await _gaps(since, format, recheck)

    @app.post("/v1/admin/gaps/recheck", response_model=GapReportResponse, tags=["admin"],
              summary="Re-ask every gap group against the serving index",
              responses={**csv_ok, **_errors(401, 403, 422, 429, 503)}, dependencies=[Depends(require_admin)])
    async def gaps_recheck(
        since: Annotated[str | None, since_query()] = None,
        format: Annotated[Literal["json", "csv"], format_query()] = "json",
    ) -> Response | GapReportResponse:
        """The gap report with every group's questions asked again (after adding a page and reindexing):
        `now_answered` shows which are answered now, by which page and section, at what confidence."""
        return await _gaps(since, format, "all")

    @app.get("/v1/admin/coverage", response_model=CoverageResponse, tags=["admin"],
             summary="Coverage map: answers per page and section, confidence and feedback",
             responses={**csv_ok, **_errors(401, 403, 422, 429, 503)}, dependencies=[Depends(require_admin)])
    async def coverage(
        since: Annotated[str | None, since_query()] = None,
        format: Annotated[Literal["json", "csv"], format_query()] = "json",
    ) -> Response | CoverageResponse:
        """For each page and section of the serving index: how many questions it answered, their confidence
        and feedback; the sections never used and the pages with many unhelpful votes."""
        from qa.coverage import to_csv
        from qa.gaps import parse_since

        period = parse_since(since) if since else None
        cmap = await service.run_report(service.coverage_map, period)
        if format == "csv":
            return _csv(to_csv(cmap), "coverage")
        return coverage_response(cmap)

    @app.get("/v1/admin/lint", response_model=LintResponse, tags=["admin"],
             summary="Content health of the corpus", responses={**csv_ok, **_errors(401, 403, 422, 429, 503)},
             dependencies=[Depends(require_admin)])
    async def lint(
        stale_months: Annotated[int | None, Query(ge=1, le=600, description="Pages reviewed longer ago are "
                                                  "stale (default CLINICQA_LINT_STALE_MONTHS, 12).")] = None,
        format: Annotated[Literal["json", "csv"], format_query()] = "json",
    ) -> Response | LintResponse:
        """Missing front matter fields, stale pages, duplicate or near-duplicate sections, possible
        contradictions between pages (numbers or negations that differ), and sample pages."""
        from qa.lint import to_csv

        try:
            findings = await service.run_report(service.lint, stale_months)
        except ClinicQAError as err:
            raise StarletteHTTPException(503, f"The corpus could not be checked: {err}") from None
        if format == "csv":
            return _csv(to_csv(findings), "lint")
        return lint_response(findings)

    @app.get("/v1/admin/status", response_model=AdminStatusResponse, tags=["admin"],
             summary="The index and the question log, with what is wrong",
             responses=_errors(401, 403, 429), dependencies=[Depends(require_admin)])
    async def admin_status() -> AdminStatusResponse:
        """What /readyz says, with the details it keeps from the public: why the index on disk could not
        be loaded (its folder, the file and the error) and why the question log's last write failed."""
        engine = service.serving
        writer = service.writer
        return AdminStatusResponse(
            index=IndexStatus(ready=engine is not None, index_version=engine.index_version if engine else None,
                              rebuilding=service.rebuilding, problem=service.index_problem or service.load_error,
                              manifest=public_manifest(engine.manifest) if engine else None),
            question_log=LogDetail(backend=service.log.backend, pending=writer.pending(), written=writer.written,
                                   dropped=writer.dropped, available=writer.last_error is None,
                                   last_error=writer.last_error),
        )

    # --- ops -------------------------------------------------------------------------------------
    @app.get("/healthz", response_model=HealthResponse, tags=["ops"], summary="The process is alive")
    async def healthz() -> HealthResponse:
        return HealthResponse()

    @app.get("/readyz", response_model=ReadyResponse, tags=["ops"], summary="An index is loaded",
             responses={503: {"model": ReadyResponse, "description": "No index loaded."}})
    async def readyz(response: Response) -> ReadyResponse:
        """Ready when an index is loaded; reports its manifest and the question log's state."""
        writer = service.writer
        log_status = LogStatus(backend=service.log.backend, pending=writer.pending(),
                               written=writer.written, dropped=writer.dropped,
                               available=writer.last_error is None)
        if not service.ready:
            response.status_code = 503
            return ReadyResponse(status="not ready", detail=service.load_error or "loading the index",
                                 question_log=log_status)
        engine = service.engine
        # the public probe does not name the server's folders (the admin status does)
        manifest = {k: v for k, v in public_manifest(engine.manifest).items() if k != "corpus"}
        return ReadyResponse(status="ready", index_version=engine.index_version, manifest=manifest,
                             question_log=log_status)

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics",
             responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format."}})
    async def prometheus_metrics() -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    _document_limits(app, settings, service)
    mount_offline_docs(app)

    # Middleware: the last added runs first. Order, outside in: catch-all 500 → headers/metrics/access
    # log → CORS → body size limit → routes.
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(
        CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST"],
        allow_headers=["Content-Type", "Authorization"], allow_credentials=False, max_age=600,
        expose_headers=["Retry-After"],
    )
    app.add_middleware(ObservabilityMiddleware, frame_origins=settings.cors_origins)
    app.add_middleware(CatchAllMiddleware)
    return app


def _document_limits(app: FastAPI, settings: Settings, service: Service) -> None:
    """Write what the served configuration allows into the OpenAPI schema: the question length limit,
    and the procedures and categories of the serving index (regenerated after each index swap)."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = original()
            components = schema["components"]["schemas"]
            components["AskRequest"]["properties"]["question"]["maxLength"] = settings.max_question_chars
            components["AskContext"]["properties"]["history"]["items"]["maxLength"] = settings.max_question_chars
            if service.ready:
                docs = service.engine.documents()
                known = {
                    "procedure": sorted({d.procedure for d in docs if d.procedure}),
                    "category": sorted({d.category for d in docs if d.category}),
                }
                for name, values in known.items():
                    if not values:
                        continue
                    _set_enum(components["Filters"]["properties"][name], values)
                    for param in schema["paths"]["/v1/search"]["get"]["parameters"]:
                        if param["name"] == name:
                            _set_enum(param["schema"], values)
                preferable = list(service.engine.procedures.known())  # not "general": it is always searched
                if preferable:
                    _set_enum(components["AskContext"]["properties"]["procedure"], preferable)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    service.on_swap.append(lambda: setattr(app, "openapi_schema", None))


def _set_enum(schema: dict[str, Any], values: list[str]) -> None:
    """Put ``enum`` on the string branch of a (possibly nullable) string schema."""
    for branch in schema.get("anyOf", [schema]):
        if branch.get("type") == "string":
            branch["enum"] = values
