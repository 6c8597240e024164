"""The study as tables: one row per trial in the schema's terms, honest pruning savings, the best trial."""

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from hpsearch.record import trials as record
from hpsearch.report import tables

from report_fakes import FAIL_REASON, MAX_EPOCHS, SPACE, add_confirm


@pytest.fixture
def study(make_study):
    return make_study("cpu-demo")


def test_one_row_per_trial_with_every_param(study):
    frame = tables.trials_frame(study)
    assert len(frame) == len(study.trials)
    assert list(frame.columns[: len(tables.TRIAL_COLUMNS)]) == list(tables.TRIAL_COLUMNS)
    assert {c for c in frame.columns if c.startswith("param_")} == {f"param_{p}" for p in SPACE}
    assert frame["number"].tolist() == [t.number for t in study.trials]
    assert frame["is_baseline"].tolist() == [t.user_attrs["is_baseline"] for t in study.trials]


def test_rows_say_how_each_trial_ended(study):
    frame = tables.trials_frame(study).set_index("number")
    for trial in study.trials:
        row = frame.loc[trial.number]
        assert row["state"] == trial.state.name
        assert row["epochs_run"] == len(trial.intermediate_values)
        if trial.state == TrialState.PRUNED:
            assert row["pruned_at"] == row["epochs_run"] < MAX_EPOCHS
        else:
            assert row["pruned_at"] is pd_na()
        if trial.state == TrialState.COMPLETE:
            assert row["val_accuracy"] == trial.value
        else:  # how far it got before it stopped
            assert row["val_accuracy"] == max(trial.intermediate_values.values())
    failed = frame[frame["state"] == "FAIL"]
    assert failed["fail_reason"].tolist() == [FAIL_REASON]
    assert (frame["state"] == "RUNNING").sum() == 1


def pd_na():
    import pandas as pd

    return pd.NA


def test_the_baseline_row_shows_its_config_values(study):
    frame = tables.trials_frame(study)
    base = frame[frame["is_baseline"]].iloc[0]
    assert study.trials[0].params == {}
    assert base["param_batch_size"] == 128 and base["param_lr_schedule"] == "step"


def test_pruning_savings_count_only_what_pruning_skipped(study):
    frame = tables.trials_frame(study)
    saved = tables.pruning_savings(study, frame)
    pruned = frame[frame["state"] == "PRUNED"]
    complete = frame[frame["state"] == "COMPLETE"]
    assert saved["pruned_trials"] == len(pruned) > 0
    assert saved["epochs_saved"] == sum(MAX_EPOCHS - e for e in pruned["epochs_run"])
    assert saved["epochs_full"] == complete["epochs_run"].sum() + len(pruned) * MAX_EPOCHS
    assert 0 < saved["fraction_saved"] < 1
    # by the epoch each pruned trial stopped after: the rungs add up to the whole
    assert sum(r["epochs_saved"] for r in saved["by_epoch"].values()) == saved["epochs_saved"]
    assert sum(r["trials"] for r in saved["by_epoch"].values()) == len(pruned)
    for epoch, rung in saved["by_epoch"].items():
        stopped = pruned[pruned["pruned_at"] == epoch]
        assert rung == {"trials": len(stopped), "epochs_saved": sum(MAX_EPOCHS - e for e in stopped["epochs_run"])}
    summary = tables.summary_frame(study, frame).set_index("metric")["value"]
    assert all(
        summary[f"epochs_saved_by_pruning_at_epoch_{e}"] == r["epochs_saved"] for e, r in saved["by_epoch"].items()
    )


def test_headline_compares_best_with_baseline(study):
    head = tables.headline(study)
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert head["best_val_accuracy"] == max(t.value for t in complete)
    assert head["baseline_val_accuracy"] == study.trials[0].value
    assert head["difference"] == pytest.approx(head["best_val_accuracy"] - head["baseline_val_accuracy"])
    (comparison,) = head["comparisons"]
    assert comparison.profile == "cpu" and comparison.interval()[2] < 0.05


def test_best_params_are_config_overrides_against_the_baseline(study):
    best = record.best_params(study)
    trial = study.trials[best["trial"]]
    assert best["sampled"] == trial.params
    assert best["params"] and set(best["params"]) <= set(record.stored_config(study, trial))
    base_config = record.stored_config(study, study.trials[0])
    assert all(base_config[k] != v for k, v in best["params"].items())


def test_best_params_name_the_confirmed_trial_once_confirm_ran(make_study):
    """One best_params.json schema whichever command writes it: the best trial, or the one confirm tested."""
    study = make_study("c", confirm=False)
    best = record.best_params(study)
    assert best["chosen_by"] == "best val accuracy" and best["trial"] == record.best_trial(study).number
    other = next(
        t
        for t in study.trials
        if t.state == TrialState.COMPLETE and t.number != best["trial"] and not t.user_attrs.get("is_baseline")
    )
    add_confirm(study, "cpu", other.number, [0.70, 0.71], [0.72, 0.74])
    again = record.best_params(study)
    assert again["trial"] == other.number and again["chosen_by"] == "confirm"
    assert again["params"] == record.config_overrides(study, other) and set(again) == set(best)


def test_top_trials_are_complete_and_sorted(study):
    frame = tables.trials_frame(study)
    top = tables.top_trials(frame, study, 3)
    assert len(top) == 3 and set(top["state"]) == {"COMPLETE"}
    assert top["val_accuracy"].is_monotonic_decreasing


def test_a_study_with_only_a_running_trial():
    study = optuna.create_study(study_name="just-started", directions=["maximize"])
    study.add_trial(
        create_trial(state=TrialState.RUNNING, user_attrs={"is_baseline": True}, intermediate_values={1: 0.3})
    )
    frame = tables.trials_frame(study)
    assert frame["state"].tolist() == ["RUNNING"] and frame["val_accuracy"].tolist() == [0.3]
    assert record.best_trial(study) is None
    assert record.best_params(study)["trial"] is None
    assert tables.summary_frame(study, frame).set_index("metric").loc["trials_running", "value"] == 1


def test_a_study_without_user_attrs_reads_from_intermediate_values():
    """Any Optuna study: objective names, epochs run and pruned-at come from what Optuna itself stored."""
    study = optuna.create_study(study_name="plain")
    study.add_trial(create_trial(value=0.8, intermediate_values={1: 0.5, 2: 0.8}))
    study.add_trial(create_trial(state=TrialState.PRUNED, intermediate_values={1: 0.2}))
    frame = tables.trials_frame(study)
    assert record.objectives(study) == ["val_accuracy"]
    assert frame["epochs_run"].tolist() == [2, 1]
    assert frame["pruned_at"].tolist()[1] == 1


def test_multi_objective_columns_and_pareto_front(make_study):
    study = make_study("pareto", objectives=2)
    frame = tables.trials_frame(study)
    assert "train_seconds" in frame.columns
    best = record.best_params(study)
    front = {t.number for t in study.best_trials}
    assert {p["trial"] for p in best["pareto_front"]} == front
    assert all(set(p["values"]) == {"val_accuracy", "train_seconds"} for p in best["pareto_front"])


def test_summary_has_one_value_per_metric(study):
    summary = tables.summary_frame(study).set_index("metric")["value"]
    assert summary.index.is_unique
    assert summary["trials"] == len(study.trials)
    assert summary["best_trial"] == record.best_trial(study).number
    confirmed = f"confirm_cpu_trial_{record.best_trial(study).number}_"
    assert summary[confirmed + "seeds"] == 5 and summary[confirmed + "p_value"] < 0.05
    assert summary["verdict"] == "confirmed" and summary["verdict_profile"] == "cpu"
