"""The packages' import boundaries, read from the source (ast), so a forbidden import fails here before it
couples two rooms: `ocr/` stays a library that knows nothing of storage or the web, `store/` knows records
and not HTTP, and `review/` reaches data only through `store/` (never the pipeline's stages, never SQL)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Pipeline stages the review page must not run or reach into; the record model, the template spec and the
# value parser are shared data definitions it may read.
OCR_STAGES = (
    "ocr.pipeline", "ocr.rasterize", "ocr.recognize", "ocr.cells", "ocr.cleanup", "ocr.deskew", "ocr.grid",
    "ocr.orientation", "ocr.faint_rules", "ocr.seals", "ocr.textlayer", "ocr.repair", "ocr.records",
    "ocr.programs", "ocr.inspect", "ocr.export",
)

FORBIDDEN: dict[str, tuple[str, ...]] = {
    "ocr": ("flows", "store", "review"),
    "store": ("review", "flows", "fastapi", "starlette", "uvicorn", "jinja2"),
    "review": (*OCR_STAGES, "sqlalchemy", "alembic", "psycopg", "flows"),
}


def package_of(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])


def imported_modules(path: Path, package: str) -> list[tuple[int, str]]:
    """Every module a file imports, absolute names (relative imports resolved against its `package`)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            out.append((node.lineno, module))
            # `from ocr import pipeline` imports the submodule ocr.pipeline
            out += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name)
              and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id) == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            out.append((node.lineno, node.args[0].value))  # importlib.import_module("...") counts too
    return out


def _hits(module: str, banned: tuple[str, ...]) -> bool:
    return any(module == b or module.startswith(b + ".") for b in banned)


def violations(package: str) -> list[str]:
    banned = FORBIDDEN[package]
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for line, module in imported_modules(path, package_of(path)):
            if _hits(module, banned):
                found.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_keeps_its_boundary(package):
    if not (ROOT / package).is_dir():
        pytest.fail(f"{package}/ is missing")
    assert violations(package) == []


def test_review_reaches_data_through_store():
    """The app itself (not only security) imports the store: the check above is not passing on an empty room."""
    modules = {m for _, m in imported_modules(ROOT / "review" / "app.py", "review")}
    assert "store" in modules


def test_the_checker_sees_forbidden_imports(tmp_path):
    """The walker finds plain, from-, relative and importlib imports: a boundary test that saw none would pass."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import sqlalchemy.orm\nfrom ocr import pipeline\nfrom ..ocr.grid import find\n"
        "import importlib\nimportlib.import_module('flows.cli')\nfrom store import queue\n",
        encoding="utf-8",
    )
    found = [m for _, m in imported_modules(probe, "review") if _hits(m, FORBIDDEN["review"])]
    assert "sqlalchemy.orm" in found
    assert "ocr.pipeline" in found
    assert "ocr.grid" in found
    assert "flows.cli" in found
    assert not any(m.startswith("store") for m in found)
