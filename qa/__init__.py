"""clinicqa: extractive, cited answers from a clinic's own pages."""

__version__ = "0.1.0"
