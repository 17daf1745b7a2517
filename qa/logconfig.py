"""Logging of the command line and the server: clinicqa's own lines at the configured level, the libraries'
only from WARNING up (their INFO and DEBUG lines are noise to a user: model loading, BM25 indexing...)."""

from __future__ import annotations

import logging

LIBRARY_LOGGERS = (
    "bm25s", "faiss", "faiss.loader", "sentence_transformers", "transformers", "huggingface_hub", "torch",
    "httpx", "httpcore", "urllib3", "filelock", "multipart", "python_multipart",
)


def quiet_libraries(level: int = logging.WARNING) -> None:
    """Set the third-party loggers above to ``level`` (WARNING): their warnings and errors still show."""
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(level)
