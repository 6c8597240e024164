"""The layers stay layers: search/ and report/ are siblings over record/, and the core knows none of them.

Read from the source (ast), so a function-local import counts as much as one at the top of a file.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "hpsearch"

# layer -> the hpsearch layers it must never import
FORBIDDEN = {
    "hpsearch.core": (
        "hpsearch.search",
        "hpsearch.report",
        "hpsearch.record",
        "hpsearch.commands",
        "hpsearch.cli",
        "hpsearch.baseline",
        "hpsearch.track",
    ),
    "hpsearch.record": (
        "hpsearch.search",
        "hpsearch.report",
        "hpsearch.commands",
        "hpsearch.cli",
        "hpsearch.baseline",
        "hpsearch.track",
    ),
    "hpsearch.search": ("hpsearch.report", "hpsearch.commands", "hpsearch.cli", "hpsearch.baseline", "hpsearch.track"),
    "hpsearch.report": ("hpsearch.search", "hpsearch.commands", "hpsearch.cli", "hpsearch.baseline", "hpsearch.track"),
    # tracking sinks are handed to train() and the engine by the commands (DESIGN.md)
    "hpsearch.track": ("hpsearch.search", "hpsearch.report", "hpsearch.commands", "hpsearch.cli", "hpsearch.baseline"),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str, module: str) -> set[str]:
    """Every module `source` imports, anywhere in the file; `from a import b` yields a and a.b."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this package
                package = module.split(".")[: len(module.split(".")) - node.level]
                base = ".".join(package + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def within(name: str, layer: str) -> bool:
    return name == layer or name.startswith(layer + ".")


def violations() -> list[str]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = module_name(path)
        for layer, forbidden in FORBIDDEN.items():
            if not within(module, layer):
                continue
            for name in imported_modules(path.read_text(encoding="utf-8"), module):
                out += [f"{module} imports {name}" for bad in forbidden if within(name, bad)]
    return out


def test_search_report_and_core_keep_to_their_layers():
    assert violations() == []


@pytest.mark.parametrize(
    "source, module, expected",
    [
        ("def f():\n    from hpsearch.report import tables\n", "hpsearch.search.x", "hpsearch.report.tables"),
        ("import hpsearch.report.console as c\n", "hpsearch.search.x", "hpsearch.report.console"),
        ("from ..report import html\n", "hpsearch.search.x", "hpsearch.report.html"),
        ("from hpsearch import report\n", "hpsearch.search.x", "hpsearch.report"),
    ],
)
def test_the_check_sees_every_kind_of_import(source, module, expected):
    assert expected in imported_modules(source, module)


def test_every_layer_exists():
    """A renamed layer would make the check pass vacuously."""
    for layer in FORBIDDEN:
        assert (PACKAGE / layer.split(".")[1]).is_dir(), layer
