"""Study figures: which panels appear, and the guards that turn a plot into a note instead of an error."""

import optuna
from optuna.trial import TrialState, create_trial

from hpsearch.report import figures


def titles(panels):
    return [p.title for p in panels if p.figure is not None or p.grid]


def test_single_objective_panels(make_study):
    panels = figures.study_panels(make_study("cpu-demo"))
    assert titles(panels) == [
        "Optimisation history",
        "Learning curves against the baseline",
        "Parameter importances",
        "Parallel coordinates",
        "Slices",
    ]


def test_multi_objective_adds_the_pareto_front(make_study):
    assert "Pareto front" in titles(figures.study_panels(make_study("pareto", objectives=2)))


def pareto_study(baseline_on_front: bool) -> optuna.Study:
    """Two objectives (val accuracy up, seconds down): the baseline is on the front unless one trial is both
    more accurate and faster."""
    study = optuna.create_study(directions=["maximize", "minimize"])
    study.set_user_attr("objectives", ["val_accuracy", "train_seconds"])
    study.add_trial(create_trial(values=[0.70, 50.0], user_attrs={"is_baseline": True}))
    study.add_trial(create_trial(values=[0.80, 160.0]))  # better, 3.2x slower
    study.add_trial(create_trial(values=[0.60, 40.0] if baseline_on_front else [0.72, 45.0]))
    study.add_trial(create_trial(values=[0.65, 90.0]))  # dominated
    return study


def test_the_pareto_page_marks_the_baseline_as_optuna_says():
    from hpsearch.report.verdict import study_verdict

    for on_front in (True, False):
        study = pareto_study(on_front)
        assert (0 in {t.number for t in study.best_trials}) == on_front  # what Optuna says
        fig = figures.pareto_panel(study).figure
        (base,) = [t for t in fig.data if t.name.startswith("baseline")]
        assert (base.x[0], base.y[0]) == (50.0, 0.70)  # drawn where it stands
        assert base.name == f"baseline ({'on' if on_front else 'not on'} the Pareto set)"
        front = next(t for t in fig.data if t.name == "Pareto set")
        assert sorted(front.customdata) == sorted(t.number for t in study.best_trials)  # red = Optuna's set
        text = study_verdict(study).text
        assert text.startswith("Pareto set: trials") and not study_verdict(study).is_win
        assert ("is on it" in text) == on_front and ("is not on it" in text) == (not on_front)


def test_slices_are_one_small_figure_per_parameter(make_study):
    study = figures.with_baseline_params(make_study("cpu-demo"))
    panel = figures.slice_panel(study)
    assert panel.figure is None and len(panel.grid) == len(figures.varying_params(study)) > 1
    assert all(f.layout.yaxis.tickformat == ".1%" for f in panel.grid)


def test_parallel_coordinates_read_the_objective_in_per_cent(make_study):
    study = figures.with_baseline_params(make_study("cpu-demo"))
    fig = figures.parallel_panel(study).figure
    values = [t.values[0] for t in study.trials if t.state == TrialState.COMPLETE]
    if any(t.type == "parcoords" for t in fig.data):  # Optuna 4: one parcoords trace
        (trace,) = fig.data
        assert trace.dimensions[0].tickformat == ".1%" and trace.line.colorbar.tickformat == ".1%"
        return
    ticks = [a.text for a in fig.layout.annotations if a.x == 0]  # Optuna 5: the objective axis's labels
    assert ticks and all(t.endswith("%") for t in ticks)
    low, high = (float(ticks[i].rstrip("%")) for i in (0, -1))
    assert abs(low - 100 * min(values)) < 0.06 and abs(high - 100 * max(values)) < 0.06
    hovers = [row for t in fig.data if t.customdata is not None for row in t.customdata if row[0] == "val_accuracy"]
    assert hovers and all(row[1].endswith("%") for row in hovers)
    other = [a.text for a in fig.layout.annotations if a.x != 0]  # parameter axes keep their own units
    assert other and not any(t.endswith("%") for t in other)
    assert any(t.marker.colorbar.tickformat == ".1%" for t in fig.data if t.mode == "markers")


def test_pruned_trials_are_marked_where_they_stopped(make_study):
    study = make_study("cpu-demo")
    fig = next(p.figure for p in figures.study_panels(study) if p.title.startswith("Learning curves"))
    marks = next(t for t in fig.data if t.name == "pruned here")
    pruned = [t for t in study.trials if t.state == TrialState.PRUNED]
    assert sorted(marks.x) == sorted(t.user_attrs["pruned_at"] for t in pruned)


def test_the_baseline_is_plotted_with_its_config_values(make_study):
    study = make_study("cpu-demo")
    view = figures.with_baseline_params(study)
    assert study.trials[0].params == {} and view.trials[0].params["lr_schedule"] == "step"
    assert len(view.trials) == len(study.trials)


def test_importances_need_two_completed_trials_that_differ():
    study = optuna.create_study()
    dist = {"peak_lr": optuna.distributions.FloatDistribution(1e-4, 1e-2)}
    study.add_trial(create_trial(value=0.5, params={"peak_lr": 0.001}, distributions=dist))
    panel = figures.importances_panel(study)
    assert panel.figure is None and "two completed trials" in panel.note
    study.add_trial(create_trial(value=0.6, params={"peak_lr": 0.001}, distributions=dist))
    assert figures.importances_panel(study).figure is None  # nothing varied


def test_importances_without_scikit_learn_use_ped_anova(make_study, monkeypatch):
    def no_sklearn(*args, **kwargs):
        raise ImportError("No module named 'sklearn'")

    monkeypatch.setattr(figures, "FanovaImportanceEvaluator", no_sklearn)
    panel = figures.importances_panel(figures.with_baseline_params(make_study("cpu-demo")))
    assert panel.figure is not None and "PED-ANOVA" in panel.caption


def test_run_panels_need_their_data():
    panels = figures.run_panels({"epochs": []})
    assert all(p.figure is None and p.note for p in panels)
