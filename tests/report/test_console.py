"""Console output: tables people read at the end of a run or a study, and the live study progress."""

import io

import pytest

import optuna
from optuna.trial import create_trial
from rich.console import Console

from hpsearch.report import tables
from hpsearch.report.console import ProgressLogger, StudyProgress, run_table, trials_table

from report_fakes import build_metrics


def render(renderable) -> str:
    console = Console(file=io.StringIO(), width=200, color_system=None)
    console.print(renderable)
    return console.file.getvalue()


def test_run_table_shows_the_headline_numbers():
    text = render(run_table(build_metrics()))
    assert "baseline-cpu" in text and "78.3%" in text and "77.1%" in text and "455" in text


def test_trials_table_top_n_and_the_baseline(make_study):
    study = make_study("cpu-demo")
    frame = tables.trials_frame(study)
    text = render(trials_table(frame, top=2))
    best = tables.top_trials(frame, study, 2)["number"].tolist()
    rows = [line for line in text.splitlines() if "%" in line and "│" in line]
    assert len(rows) == 3  # the two best, then the baseline (it ranks lower)
    assert rows[0].split("│")[1].strip() == str(best[0])
    assert "the baseline" in rows[-1]


def test_stored_strings_are_not_rich_markup():
    study = optuna.create_study()
    dist = {"optimizer": optuna.distributions.CategoricalDistribution(["[red]adam[/red]"])}
    study.add_trial(create_trial(value=0.5, params={"optimizer": "[red]adam[/red]"}, distributions=dist))
    assert "[red]adam[/red]" in render(trials_table(tables.trials_frame(study)))


def test_run_table_shows_stored_strings_literally():
    metrics = build_metrics()
    metrics["device"], metrics["stopped_reason"] = "[bold]cpu[/bold] [/]", "[red]early[/red]"
    text = render(run_table(metrics))
    assert "[bold]cpu[/bold] [/]" in text and "[red]early[/red]" in text


def test_progress_counts_best_and_pruned():
    console = Console(file=io.StringIO(), width=120, force_terminal=False)
    with StudyProgress(3, max_epochs=5, console=console) as progress:
        progress.start_trial(0)
        progress.epoch(1, {"val_accuracy": 0.4})
        progress.finish_trial("COMPLETE", 0.7)
        progress.finish_trial("PRUNED", 0.2)
        progress.finish_trial("COMPLETE", 0.65)
    assert (progress.finished, progress.pruned, progress.best) == (3, 1, 0.7)


def test_progress_logger_prints_each_epoch_and_an_eta_after_the_first():
    console = Console(file=io.StringIO(), width=200, color_system=None)
    log = ProgressLogger(console, epochs=3)
    row = {"epoch": 1, "loss": 1.5, "accuracy": 0.4, "val_loss": 1.4, "val_accuracy": 0.45, "lr": 1e-3, "seconds": 2.0}
    log(1, row)
    log(2, {**row, "epoch": 2})
    lines = console.file.getvalue().splitlines()
    assert lines[0].startswith("epoch  1/3") and "ETA ~4 s for the other 2 epochs" in lines[0]
    assert lines[1].startswith("epoch  2/3") and "ETA" not in lines[1]


def test_progress_after_a_resume_counts_the_study_and_estimates_the_rest():
    """Resumed with 6 of 10 finished and a study-wide best of 0.8: the display counts toward 10, keeps 0.8 as the
    best until beaten, and estimates the rest from the trials' times and the workers."""
    console = Console(file=io.StringIO(), width=120, force_terminal=False)
    with StudyProgress(
        4, max_epochs=5, console=console, done=6, best=0.8, durations=(60.0,) * 6, workers=2
    ) as progress:
        assert (progress.total, progress.eta_seconds()) == (10, 60.0 * 4 / 2)
        progress.start_trial(7)
        progress.finish_trial("COMPLETE", 0.75)
        progress.finish_trial("FAIL")  # retried: does not count toward --trials
    assert (progress.done, progress.best, progress.finished) == (7, 0.8, 2)
    assert progress.eta_seconds() == pytest.approx(sum(progress.durations) / 7 * 3 / 2)
