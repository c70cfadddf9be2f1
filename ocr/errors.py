"""Errors that carry the one-line message an operator sees."""

from __future__ import annotations

from pathlib import Path


class ReportscanError(Exception):
    """Base class: every error the CLI turns into an exit code."""


class InputError(ReportscanError):
    """A whole input file cannot be processed (not a PDF/image, encrypted, empty...)."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


class PageError(ReportscanError):
    """One page cannot be processed; the rest of its document still is."""


class DependencyError(ReportscanError):
    """A system dependency (Tesseract, a language file, poppler) is missing."""


class TemplateError(ReportscanError):
    """A template file is malformed; the message names the file and the entry, e.g.
    `gov.yaml: tables[1].rows[4]: duplicate key 'disclosed'`."""

    def __init__(self, path: Path | str, entry: str, reason: str) -> None:
        where = f"{Path(path).name}: {entry}" if entry else Path(path).name
        super().__init__(f"{where}: {reason}")
        self.path = str(path)
        self.entry = entry
        self.reason = reason
