"""The search spaces shipped inside the package (hpsearch/studies/*.toml), and what `--spec` accepts: a
path to a TOML file, or the bare name of a shipped spec (`default`, `future_work`, ...), so that it works
from any folder and after `pip install`."""

from __future__ import annotations

from pathlib import Path

from hpsearch.search.space import SpecError, StudySpec, load_spec

SHIPPED = Path(__file__).resolve().parent.parent / "studies"
DEFAULT = "default"


def shipped_names() -> list[str]:
    """The names of the shipped specs, e.g. ["architecture", "default", "future_work", "lr_schedule"]."""
    return sorted(p.stem for p in SHIPPED.glob("*.toml"))


def find_spec(spec: str | Path) -> Path:
    """The spec file `spec` names: an existing file, else a shipped spec by name ("default", "default.toml"
    or the old "studies/default.toml"). Raises SpecError listing the shipped names."""
    path = Path(spec)
    if path.is_file():
        return path
    if path.parent in (Path("."), Path("studies")):
        shipped = SHIPPED / (path.name if path.suffix == ".toml" else f"{path.name}.toml")
        if shipped.is_file():
            return shipped
    raise SpecError(
        f"no study spec {str(spec)!r}: no such file, and no shipped spec of that name; pass --spec "
        f"with a path to a .toml file or one of: {', '.join(shipped_names())}"
    )


def load(spec: str | Path) -> StudySpec:
    """find_spec, then read and validate it."""
    return load_spec(find_spec(spec))
