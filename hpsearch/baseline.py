"""run_baseline: train a configuration (the baseline by default), evaluate it on the test set once, and
write its run folder OUT/reports/<run>/ (record.paths.run_dir): metrics.json, history.csv, best.keras and
report.html."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd

from hpsearch.core.config import TrainConfig
from hpsearch.core.data import Cifar10
from hpsearch.core.evaluate import evaluate_test
from hpsearch.core.result import RunResult
from hpsearch.core.train import train
from hpsearch.files import csv_text, json_text, write_files
from hpsearch.record.paths import run_dir as run_folder
from hpsearch.report import write_run_report
from hpsearch.versions import versions


def run_name(config: TrainConfig, profile: str) -> str:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"baseline-{profile}-seed{config.seed}-{stamp}"


def run_baseline(
    config: TrainConfig,
    data: Cifar10,
    out: str | Path = ".",
    name: str | None = None,
    profile: str = "custom",
    on_epoch: Callable[[int, dict], None] | None = None,
    extra: dict | None = None,
    callbacks: Sequence = (),
) -> tuple[RunResult, Path]:
    """Train, evaluate and write the run folder; returns the result and the folder. `on_epoch`: train()'s
    per-epoch hook (the command's progress display); `extra`: more fields for metrics.json; `callbacks`: more
    Keras callbacks (tracking)."""
    run_dir = run_folder(out, name or run_name(config, profile))
    made = [p for p in (run_dir, *run_dir.parents) if not p.exists()]  # deepest first
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        result = train(config, data, on_epoch=on_epoch, out_dir=run_dir, callbacks=callbacks)
        evaluate_test(result, data)
        write_run(result, run_dir, profile, extra)
    except BaseException:
        for folder in made:  # a failed run leaves no empty folder behind
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        raise
    return result, run_dir


def write_run(result: RunResult, run_dir: Path, profile: str, extra: dict | None = None) -> None:
    metrics = {
        "name": run_dir.name,
        "profile": profile,
        **(extra or {}),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": versions(),
        **result.to_dict(),
    }
    write_files(
        {run_dir / "metrics.json": json_text(metrics), run_dir / "history.csv": csv_text(pd.DataFrame(result.epochs))}
    )
    write_run_report(run_dir)
