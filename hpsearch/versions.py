"""Versions of what produced a result, recorded in every metrics.json and study."""

from __future__ import annotations

import platform
from importlib import metadata

from hpsearch.core.device import installed_backends


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for package in ("hpsearch", *installed_backends(), "keras", "optuna", "keras-tuner", "numpy"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = "not installed"
    return out
