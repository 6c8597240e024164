"""The same number everywhere: the stored study, trials.csv, the console and the page agree for COMPLETE, PRUNED
and FAIL trials, per cent with one decimal (hpsearch.numbers)."""

import io
import re

import pandas as pd
from optuna.trial import TrialState
from rich.console import Console

from hpsearch.numbers import pct, pts
from hpsearch.report import tables, write_study_reports
from hpsearch.report.console import trials_table


def stored_value(trial):
    """What the storage says: the objective of a COMPLETE trial, else its last reported intermediate value (what
    optuna-dashboard shows for a pruned trial)."""
    if trial.state == TrialState.COMPLETE:
        return trial.values[0]
    return trial.intermediate_values[max(trial.intermediate_values)]


def test_console_csv_html_and_storage_agree_for_every_state(make_study, tmp_path):
    study = make_study("cpu-demo")
    page = write_study_reports(study, "cpu-demo", tmp_path)
    csv = pd.read_csv(page.parent / "trials.csv").set_index("number")
    console = Console(file=io.StringIO(), width=400, color_system=None)
    console.print(trials_table(tables.trials_frame(study), every=True))
    console_rows = {
        int(line.split("│")[1]): line.split("│")[3].strip()
        for line in console.file.getvalue().splitlines()
        if re.match(r"│\s*\d+\s*│", line)
    }
    html = page.read_text().split("Every trial (")[1]
    html_rows = {
        int(m.group(1)): m.group(3)
        for m in re.finditer(
            r'<tr class="[a-z]*"><td class="text nowrap">(\d+)[^<]*</td><td class="text nowrap">([A-Z]+)</td><td class="">'
            r"([^<]*)</td>",
            html,
        )
    }
    states = set()
    for trial in study.trials:
        if not trial.intermediate_values:
            continue
        value = stored_value(trial)
        states.add(trial.state.name)
        assert csv.loc[trial.number, "val_accuracy"] == value
        assert console_rows[trial.number] == pct(value) == html_rows[trial.number], trial.number
    assert {"COMPLETE", "PRUNED", "FAIL"} <= states


def test_the_per_cent_rule():
    assert pct(0.7123) == "71.2%" and pct(0.12) == "12.0%" and pct(None) == "—"
    assert pts(0.0712) == "+7.1 pts" and pts(-0.0002) == "+0.0 pts" and pts(-0.012) == "-1.2 pts"
