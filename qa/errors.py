"""Errors that reach a person. Each message says what to do next."""

from __future__ import annotations


class ClinicQAError(Exception):
    """Base class: ``str(err)`` is a complete, actionable message."""


class InputError(ClinicQAError, ValueError):
    """The question or a parameter is not acceptable (empty, too long, wrong filter...)."""


class IngestError(ClinicQAError):
    """A corpus file could not be read; the message names the file."""

    def __init__(self, source: str, problem: str) -> None:
        self.source = source
        self.problem = problem
        super().__init__(f"{source}: {problem}")


class IndexNotFoundError(ClinicQAError):
    """No built index at the given folder."""


class IndexMismatchError(ClinicQAError):
    """The index was built by another model, other settings, or from a corpus that has changed."""
