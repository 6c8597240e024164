"""Arguments and steps that several commands share."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from hpsearch.core.device import BACKENDS, DEFAULT_BACKEND
from hpsearch.errors import HpsearchError


def add_backend_argument(parser: argparse.ArgumentParser) -> None:
    """--backend, on every command (cli.py adds it to each); applied before Keras is first imported."""
    parser.add_argument("--backend", choices=BACKENDS, default=None,
                        help=f"Keras backend (default: $KERAS_BACKEND, else {DEFAULT_BACKEND}); "
                             f"the others need their pip extras (README)")


def add_data_arguments(parser: argparse.ArgumentParser, default_profile: str = "full") -> None:
    from hpsearch.core.config import profile_descriptions

    names = ", ".join(f"{k}: {v}" for k, v in profile_descriptions().items())
    parser.add_argument("--profile", default=default_profile, help=f"run size (default {default_profile}). {names}")
    add_data_dir_argument(parser)
    parser.add_argument("--seed", type=int, default=None, help="random seed (default 42, the original's)")


def add_data_dir_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="folder holding cifar-10-batches-py/ (or its files); default: "
                        "$HPSEARCH_DATA_DIR, then the Keras cache, then a download")


def reports_dir(out: str | None) -> Path:
    """Where a study's reports go: reports/, or OUT/reports/ when the study ran with --out OUT."""
    return Path(out) / "reports" if out else Path("reports")


def _at_least(convert, minimum, what: str):
    """An argparse type: `convert(text)`, at least `minimum`, with a one-line error otherwise."""
    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not value >= minimum:          # also rejects NaN
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {text}")
        return value
    return parse


positive_int = _at_least(int, 1, "a whole number")
non_negative_int = _at_least(int, 0, "a whole number")
non_negative = _at_least(float, 0, "a number")


def read_params(path: str) -> dict:
    """Parameters from a JSON file: {"params": {...}} as written by a study (best_params.json) or a plain
    {field: value} object. JSON only: nothing in the file is executed."""
    try:
        loaded = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise HpsearchError(f"--params file {path} does not exist") from None
    except (OSError, ValueError) as exc:
        raise HpsearchError(f"--params file {path} is not readable JSON ({exc})") from None
    params = loaded.get("params", loaded) if isinstance(loaded, dict) else None
    if not isinstance(params, dict):
        raise HpsearchError(f"--params file {path} must hold a JSON object of TrainConfig fields "
                            f"(or {{\"params\": {{...}}}} as in best_params.json)")
    return params


def warn_if_slow(console, profile: str, device_kind: str) -> None:
    if profile == "full" and device_kind == "CPU":
        console.print("[yellow]No GPU found: the full profile (45,000 images, 10 epochs) takes hours on a CPU. "
                      "For a run in minutes use --profile cpu.[/]")
