"""Serve the API with uvicorn: ``run(settings, host, port, workers)`` or ``python -m api.server``.

Each worker process builds its own app (``factory=True``) and loads the model and index once, in the
lifespan. Settings reach the workers through one environment variable holding their JSON, so overrides
made by the CLI (``--index DIR``) apply to every worker. With several workers, Prometheus metrics are
aggregated across them through a multiprocess folder.

Scale-out: the service is stateless apart from the question log. Run N replicas (each with a few
workers) behind a load balancer, point them all at one PostgreSQL with CLINICQA_DATABASE_URL, and ship
the index folder (built once with ``clinicqa build-index``) to every replica. Rate limits and the
answer cache are per worker.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from fastapi import FastAPI

from qa.errors import ClinicQAError
from qa.settings import Settings

SETTINGS_ENV = "_CLINICQA_SERVE_SETTINGS"


def _settings_json(settings: Settings) -> str:
    data = settings.model_dump(mode="json")
    for secret in ("admin_token", "staff_password"):
        value = getattr(settings, secret)
        if value is not None:
            data[secret] = value.get_secret_value()
    return json.dumps(data)


def settings_from_env() -> Settings:
    raw = os.environ.get(SETTINGS_ENV)
    return Settings.model_validate_json(raw) if raw else Settings()


def app_factory() -> FastAPI:
    """What each uvicorn worker calls (``factory=True``)."""
    from api.app import create_app

    settings = settings_from_env()
    _configure_logging(settings.log_level)
    app = create_app(settings)
    if settings.ui_enabled:
        from ui import mount_ui

        mount_ui(app)
    return app


def _configure_logging(level: str) -> None:
    from qa.logconfig import quiet_libraries

    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"
    )
    quiet_libraries()


def run(settings: Settings, host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> None:
    import uvicorn

    _configure_logging(settings.log_level)
    os.environ[SETTINGS_ENV] = _settings_json(settings)
    metrics_dir: str | None = None
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Every worker writes its metrics here and /metrics adds them up (prometheus multiprocess mode).
        metrics_dir = tempfile.mkdtemp(prefix="clinicqa-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    # One torch/BLAS thread per worker: parallelism comes from requests and workers (see
    # api.service.limit_torch_threads for the measurement). Set before the workers import torch.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    try:
        uvicorn.run(
            "api.server:app_factory", factory=True, host=host, port=port, workers=workers,
            access_log=False,  # ours (clinicqa.access) omits query strings: they can hold questions
            log_level=settings.log_level.lower(), proxy_headers=True, timeout_graceful_shutdown=10,
            server_header=False,
        )
    finally:
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m api.server", description="Serve the clinicqa API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--index", type=Path, default=None, help="index folder (default: CLINICQA_INDEX_DIR)")
    args = parser.parse_args(argv)
    settings = Settings()
    if args.index is not None:
        settings = settings.model_copy(update={"index_dir": args.index.resolve()})
    try:
        settings.check_secrets()
    except ClinicQAError as err:
        parser.exit(2, f"{err}\n")
    run(settings, host=args.host, port=args.port, workers=args.workers)


if __name__ == "__main__":
    main()
