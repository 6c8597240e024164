"""Console output with rich: a run's numbers, a study's top trials, and the live displays the commands
hand to the layers below (the core and the engines print nothing of their own).

    console.print(run_table(metrics))          end of `hpsearch baseline` (metrics = RunResult.to_dict())
    console.print(trials_table(frame, top=10)) end of a study (frame = tables.trials_frame(study))
    ProgressLogger(console, epochs)            train()'s on_epoch hook: one line per epoch

StudyProgress shows, while a study runs: trial i/N, the epoch of the running trial, the best value so far
and how many trials were pruned. The study command hands it to the engine, which drives it:

    with StudyProgress(n_trials=20, max_epochs=5) as progress:
        progress.start_trial(number)          # the epoch bar restarts
        progress.epoch(epoch, logs)           # logs: the per-epoch dict (val_accuracy shown when present)
        progress.finish_trial(state, value)   # state: "COMPLETE"|"PRUNED"|"FAIL"; best counts COMPLETE only

`n_trials=None` (a study bounded by time) shows a count without a total. Output goes to `console`
(a rich Console; stderr by default) and degrades to nothing when it is not a terminal.
"""
from __future__ import annotations

import math
import threading
from typing import Any

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from hpsearch.record import trials as record
from hpsearch.report import tables


def _pct(value: Any) -> str:
    return f"{value:.2%}" if _num(value) else "—"


def _num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _cell(value: Any) -> Text:
    """A table cell as plain Text: stored strings are never read as rich markup."""
    if _missing(value):
        return Text("—")
    if isinstance(value, float):
        return Text(f"{value:.4g}")
    return Text(str(value))


def run_table(metrics: dict[str, Any]) -> Table:
    """One run's headline numbers (the keys of metrics.json)."""
    table = Table(title=Text(str(metrics.get("name") or "run")), show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    rows = [
        ("test accuracy (TTA)", _pct(metrics.get("test_accuracy_tta"))),
        ("test accuracy (plain)", _pct(metrics.get("test_accuracy"))),
        ("best val accuracy", _pct(metrics.get("val_accuracy"))),
        ("epochs run", _cell(metrics.get("epochs_run") or len(metrics.get("epochs") or []))),
        ("train seconds", _cell(metrics.get("train_seconds"))),
        ("first epoch (compiles), s", _cell(metrics.get("first_epoch_seconds"))),
        ("steady epoch, s", _cell(metrics.get("steady_epoch_seconds"))),
        ("images / second", f"{metrics['images_per_second']:,.0f}" if _num(metrics.get("images_per_second")) else "—"),
        ("stopped", _cell(metrics.get("stopped_reason") or "completed")),
        ("device", _cell(metrics.get("device"))),
    ]
    for label, value in rows:
        table.add_row(label, value)
    return table


def trials_table(frame: pd.DataFrame, top: int = 10, title: str = "Top trials") -> Table:
    """The `top` best COMPLETE trials by val accuracy (and the baseline wherever it ranks), with parameters."""
    done = frame[frame["state"] == "COMPLETE"].dropna(subset=[record.OBJECTIVE])
    best = done.sort_values([record.OBJECTIVE, "number"], ascending=[False, True]).head(top)
    baseline = done[done["is_baseline"]]
    if len(baseline) and baseline.index[0] not in best.index:
        best = pd.concat([best, baseline.head(1)])
    base_value = baseline[record.OBJECTIVE].iloc[0] if len(baseline) else None
    params = [c for c in frame.columns if c.startswith(tables.PARAM_PREFIX)]
    counts = ", ".join(f"{n} {s.lower()}" for s, n in tables.state_counts(frame).items())
    table = Table(title=f"{title} ({counts})" if counts else title, title_justify="left")
    for name in ("trial", "val acc", "Δ baseline", "epochs", "time"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("parameters", overflow="fold")  # one column: wraps instead of squeezing every value
    for _, row in best.iterrows():
        value = row[record.OBJECTIVE]
        diff = f"{(value - base_value) * 100:+.2f} pts" if _num(base_value) and not row["is_baseline"] else ""
        label = str(row["number"])
        seconds = f"{row['seconds']:.0f} s" if _num(row["seconds"]) else "—"
        shown = Text("the baseline (TrainConfig at this profile)" if row["is_baseline"] else
                     "  ".join(f"{p[len(tables.PARAM_PREFIX):]}={_short(row[p])}" for p in params
                               if not _missing(row[p])))
        table.add_row(label, _pct(value), diff, _cell(row["epochs_run"]), seconds, shown,
                      style="bold" if row["is_baseline"] else None)
    if not len(best):
        table.add_row("—", "no completed trial yet", "", "", "", "")
    return table


def confirm_table(result: dict[str, Any]) -> Table:
    """`hpsearch confirm`'s result (search.confirm.run_confirm) as a table: mean, std and runs per side."""
    table = Table(title=f"Confirm over {len(result['seeds'])} seed(s): {result['metric']}", title_justify="left")
    for column, justify in (("configuration", "left"), ("mean", "right"), ("std", "right"), ("runs", "left")):
        table.add_column(column, justify=justify)
    for which, label in (("baseline", "baseline"), ("best", f"trial {result['best_trial']}")):
        mean, std = result[f"{which}_mean"], result[f"{which}_std"]
        table.add_row(label, _pct(mean), "—" if std is None else f"{std * 100:.2f} pts",
                      ", ".join(f"{v:.2%}" for v in result[which]))
    p = result["p_value"]
    diff = result["best_mean"] - result["baseline_mean"]
    verdict = "—" if p is None else ("significant at 5%" if p < 0.05 else "not significant at 5%")
    table.caption = (f"difference {diff * 100:+.2f} pts · Welch's t-test p = {'—' if p is None else f'{p:.3g}'}"
                     f" · {verdict}")
    return table


class ProgressLogger:
    """One line per epoch, LR included; after the first epoch, an ETA for the rest. An `on_epoch` hook:
    train(config, data, on_epoch=ProgressLogger(console, config.epochs)); row: a RunResult.epochs entry."""

    def __init__(self, console: Console, epochs: int) -> None:
        self.console, self.total = console, epochs

    def __call__(self, epoch: int, row: dict[str, Any]) -> None:
        eta = ""
        if epoch == 1 and self.total > 1:
            # the first epoch includes compilation, so this is an upper bound
            rest = self.total - 1
            eta = f"  [dim]ETA <= {_duration(row['seconds'] * rest)} for the other {rest} epochs[/]"
        self.console.print(
            f"epoch {row['epoch']:>2}/{self.total}  lr {row['lr']:.2e}  loss {row['loss']:.3f}  "
            f"acc {row['accuracy']:.3f}  val_loss {row['val_loss']:.3f}  [bold]val_acc {row['val_accuracy']:.4f}[/]  "
            f"{row['seconds']:.1f}s{eta}", highlight=False, soft_wrap=True)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class StudyProgress:
    """Live study progress (see the module docstring for the API)."""

    def __init__(self, n_trials: int | None, max_epochs: int, console: Console | None = None,
                 maximize: bool = True) -> None:
        self.n_trials, self.max_epochs = n_trials, max_epochs
        self.maximize = maximize
        self.best: float | None = None
        self.pruned = self.finished = 0
        self._lock = threading.Lock()
        self._progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
            console=console or Console(stderr=True), transient=False)
        self._trials = self._progress.add_task("trials", total=n_trials, info=self._info())
        self._epochs = self._progress.add_task("epochs", total=max_epochs, info="")

    def __enter__(self) -> "StudyProgress":
        self._progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._progress.stop()

    def start_trial(self, number: int) -> None:
        self._progress.update(self._epochs, completed=0, description=f"trial {number}", info="")

    def epoch(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        value = (logs or {}).get("val_accuracy")
        self._progress.update(self._epochs, completed=min(epoch, self.max_epochs),
                              info=f"val {_pct(value)}" if _num(value) else "")

    def finish_trial(self, state: str, value: float | None = None) -> None:
        with self._lock:
            self.finished += 1
            self.pruned += state == "PRUNED"
            if state == "COMPLETE" and _num(value):
                if self.best is None or (value > self.best if self.maximize else value < self.best):
                    self.best = value
            self._progress.update(self._trials, completed=self.finished, info=self._info())

    def _info(self) -> str:
        return f"best {_pct(self.best)} · pruned {self.pruned}"
