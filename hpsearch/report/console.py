"""Console output with rich: a run's numbers, a study's top trials, and the live displays the commands
hand to the layers below (the core and the engines print nothing of their own).

    console.print(run_table(metrics))          end of `hpsearch baseline` (metrics = RunResult.to_dict())
    console.print(trials_table(frame, top=10)) end of a study (frame = tables.trials_frame(study))
    ProgressLogger(console, epochs)            train()'s on_epoch hook: one line per epoch

StudyProgress shows, while a study runs: trials done / total (the study's, also after a resume), an ETA
from the finished trials' times and the number of workers, the study-wide best value, how many trials were
pruned, and the running trial's epoch and own timer. The study command hands it to the engine, which drives it:

    with StudyProgress(n_trials=20, max_epochs=5) as progress:
        progress.start_trial(number)          # the epoch bar restarts
        progress.epoch(epoch, logs)           # logs: the per-epoch dict (val_accuracy shown when present)
        progress.finish_trial(state, value)   # state: "COMPLETE"|"PRUNED"|"FAIL"; best counts COMPLETE only

`n_trials=None` (a study bounded by time) shows a count without a total. Output goes to `console`
(a rich Console; stderr by default) and degrades to nothing when it is not a terminal.
"""

from __future__ import annotations

import math
import statistics
import threading
import time
from typing import Any

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from hpsearch.record import confirms
from hpsearch.record import trials as record
from hpsearch.report import tables
from hpsearch.numbers import is_number as _num
from hpsearch.numbers import p_value, pts, spread
from hpsearch.numbers import param
from hpsearch.numbers import pct as _pct
from hpsearch.report.verdict import EVIDENCE_COLUMNS, evidence_rows, seeds_advice, study_verdict, test_label


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


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


def trials_table(frame: pd.DataFrame, top: int = 10, title: str = "Top trials", every: bool = False) -> Table:
    """The `top` best COMPLETE trials by val accuracy (and the baseline wherever it ranks), with parameters;
    every=True: every trial in number order, with its state (a PRUNED or FAIL trial shows the last val accuracy
    it reported, as trials.csv and the page do)."""
    done = frame[frame["state"] == "COMPLETE"].dropna(subset=[record.OBJECTIVE])
    baseline = done[done["is_baseline"]]
    if every:
        shown_rows = frame
    else:
        shown_rows = done.sort_values([record.OBJECTIVE, "number"], ascending=[False, True]).head(top)
        if len(baseline) and baseline.index[0] not in shown_rows.index:
            shown_rows = pd.concat([shown_rows, baseline.head(1)])
    params = [c for c in frame.columns if c.startswith(tables.PARAM_PREFIX)]
    counts = ", ".join(f"{n} {s.lower()}" for s, n in tables.state_counts(frame).items())
    table = Table(title=f"{title} ({counts})" if counts else title, title_justify="left")
    for name in ("trial",) + (("state",) if every else ()) + ("val acc", "Δ baseline", "epochs", "time"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("parameters", overflow="fold")  # one column: wraps instead of squeezing every value
    for _, row in shown_rows.iterrows():
        value = row[record.OBJECTIVE]
        diff = pts(row["delta_baseline"]) if _num(row["delta_baseline"]) else ""
        seconds = f"{row['seconds']:.0f} s" if _num(row["seconds"]) else "—"
        shown = Text(
            "the baseline (TrainConfig at this profile)"
            if row["is_baseline"]
            else "  ".join(
                f"{p[len(tables.PARAM_PREFIX) :]}={tables.param_text(row, p, param)}"
                for p in params
                if not _missing(row[p])
            )
        )
        cells = [str(row["number"])] + ([str(row["state"])] if every else [])
        table.add_row(
            *cells,
            _pct(value),
            diff,
            _cell(row["epochs_run"]),
            seconds,
            shown,
            style="bold" if row["is_baseline"] else None,
        )
    if not len(shown_rows):
        table.add_row("—", *([""] if every else []), "no completed trial yet", "", "", "", "")
    return table


def confirm_table(comparison: confirms.Comparison) -> Table:
    """One confirm comparison (record.confirms): mean, std and runs per side, Welch's interval and p."""
    table = Table(
        title=Text(f"Confirm at profile {comparison.profile} over {len(comparison.best)} seed(s): {comparison.metric}"),
        title_justify="left",
    )
    for column, justify in (("configuration", "left"), ("mean", "right"), ("std", "right"), ("runs", "left")):
        table.add_column(column, justify=justify)
    for label, values, mean, std in (
        ("baseline", comparison.baseline, comparison.baseline_mean, comparison.baseline_std),
        (f"trial {comparison.trial}", comparison.best, comparison.best_mean, comparison.best_std),
    ):
        table.add_row(label, _pct(mean), spread(std), ", ".join(_pct(v) for v in values))
    low, high, p = comparison.interval()
    detectable = comparison.detectable()
    table.caption = (
        f"difference {pts(comparison.difference)} · 95% interval "
        f"{'—' if low is None else f'{pts(low)} to {pts(high)}'} · {test_label(comparison)} p = {p_value(p)}"
        + (f" · detectable with 80% power: {spread(detectable)}" if detectable is not None else "")
    )
    return table


def seeds_warning(comparison: confirms.Comparison) -> Text | None:
    """Under confirms.FEW_SEEDS a side: the interval is too wide to decide anything, and a seed count."""
    if not comparison.few_seeds:
        return None
    return Text(f"warning: {seeds_advice(comparison)}", style="bold yellow")


def evidence_table(study) -> Table | None:
    """The evidence at each fidelity side by side (report.verdict.evidence_rows), as on the page; None before
    any confirm (the search's own row alone says nothing the verdict does not)."""
    if not confirms.comparisons(study):
        return None
    rows = evidence_rows(study)
    table = Table(title="Evidence by fidelity", title_justify="left")
    for column in EVIDENCE_COLUMNS:
        table.add_column(column, justify="left" if column == "fidelity" else "right")
    for row in rows:
        table.add_row(*(Text(row[c]) for c in EVIDENCE_COLUMNS))
    return table


def verdict_text(study) -> Text:
    """The study's verdict (report.verdict.study_verdict): the console's last lines, in the page's words: the
    badge (WIN, NO WIN, NOT SIGNIFICANT, NOT CONFIRMED YET, WORSE) in its colour, then the sentence."""
    verdict = study_verdict(study)
    text = Text(f" {verdict.badge} ", style=f"bold white on {verdict.badge_color}")
    text.append("\n")
    text.append(verdict.text, style=f"bold {verdict.badge_color}" if verdict.css else "bold")
    return text


class ProgressLogger:
    """One line per epoch, LR included; after the first epoch, an ETA for the rest. An `on_epoch` hook:
    train(config, data, on_epoch=ProgressLogger(console, config.epochs)); row: a RunResult.epochs entry."""

    def __init__(self, console: Console, epochs: int) -> None:
        self.console, self.total = console, epochs

    def __call__(self, epoch: int, row: dict[str, Any]) -> None:
        eta = ""
        if epoch == 1 and self.total > 1:
            # an estimate from the first epoch (which includes compilation, so later ones are usually faster)
            rest = self.total - 1
            eta = f"  [dim]ETA ~{_duration(row['seconds'] * rest)} for the other {rest} epochs[/]"
        self.console.print(
            f"epoch {row['epoch']:>2}/{self.total}  lr {row['lr']:.2e}  loss {row['loss']:.3f}  "
            f"acc {_pct(row['accuracy'])}  val_loss {row['val_loss']:.3f}  [bold]val_acc {_pct(row['val_accuracy'])}[/]  "
            f"{row['seconds']:.1f}s{eta}",
            highlight=False,
            soft_wrap=True,
        )


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class StudyProgress:
    """Live study progress (see the module docstring for the API). On a resume, `done`, `best` and `durations`
    describe what the study already holds (trials finished, the study-wide best value, seconds per finished
    trial), so the display counts toward the study's --trials and its best is the study's, not this run's;
    `workers`: processes running trials of this study at once (the ETA divides by it)."""

    def __init__(
        self,
        n_trials: int | None,
        max_epochs: int,
        console: Console | None = None,
        maximize: bool = True,
        *,
        done: int = 0,
        best: float | None = None,
        durations: tuple[float, ...] = (),
        workers: int = 1,
    ) -> None:
        self.max_epochs, self.maximize = max_epochs, maximize
        self.total = None if n_trials is None else done + n_trials
        self.done, self.best, self.durations, self.workers = done, best, list(durations), max(1, workers)
        self.pruned = self.finished = 0  # trials this run finished (failed ones too), and of them pruned
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=console or Console(stderr=True),
            transient=False,
        )
        self._trials = self._progress.add_task("trials", total=self.total, completed=done, info=self._info())
        self._epochs = self._progress.add_task("epochs", total=max_epochs, info="")

    def __enter__(self) -> "StudyProgress":
        self._progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._progress.stop()

    def start_trial(self, number: int) -> None:
        self._started = time.monotonic()
        # reset restarts the task's clock: the elapsed column is the running trial's own timer
        self._progress.reset(self._epochs, total=self.max_epochs, description=f"trial {number}", info="")

    def epoch(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        value = (logs or {}).get("val_accuracy")
        self._progress.update(
            self._epochs, completed=min(epoch, self.max_epochs), info=f"val {_pct(value)}" if _num(value) else ""
        )

    def finish_trial(self, state: str, value: float | None = None) -> None:
        with self._lock:
            self.finished += 1
            self.pruned += state == "PRUNED"
            if state in ("COMPLETE", "PRUNED"):  # what --trials counts (a failed trial is retried)
                self.done += 1
                self.durations.append(time.monotonic() - self._started)
            if state == "COMPLETE" and _num(value):
                if self.best is None or (value > self.best if self.maximize else value < self.best):
                    self.best = value
            self._progress.update(self._trials, completed=self.done, info=self._info())

    def eta_seconds(self) -> float | None:
        """Mean seconds of a finished trial x trials left / workers: an estimate, not a bound."""
        if self.total is None or not self.durations:
            return None
        return statistics.fmean(self.durations) * max(self.total - self.done, 0) / self.workers

    def _info(self) -> str:
        eta = self.eta_seconds()
        return f"best {_pct(self.best)} · pruned {self.pruned}" + (f" · ETA ~{_duration(eta)}" if eta else "")
