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


class IndexDamagedError(ClinicQAError):
    """A file of the index's current build is missing, unreadable, truncated or inconsistent with the others.

    ``str(err)`` is one line naming the build folder, the file and the problem, and saying how to rebuild;
    ``problem`` alone (without paths) is what the server logs and shows to admins.
    """

    def __init__(self, build: object, problem: str, index_dir: object | None = None) -> None:
        self.build = str(build)
        # One line, short: a FAISS or zip error can span lines and quote C++ source locations.
        first = next((line.strip() for line in str(problem).splitlines() if line.strip()), "unreadable")
        self.problem = first if len(first) <= 200 else first[:197] + "..."
        where = f" --index {index_dir}" if index_dir is not None else ""
        super().__init__(f"The index in {self.build} is damaged ({self.problem}). "
                         f"Rebuild it: clinicqa build-index{where}")
