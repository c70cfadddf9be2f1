"""reportscan's library: one module per pipeline stage, all sharing `ocr.model`."""

__version__ = "0.1.0"
