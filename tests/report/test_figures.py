"""Study figures: which panels appear, and the guards that turn a plot into a note instead of an error."""

import optuna
from optuna.trial import TrialState, create_trial

from hpsearch.report import figures


def titles(panels):
    return [p.title for p in panels if p.figure is not None or p.grid]


def test_single_objective_panels(make_study):
    panels = figures.study_panels(make_study("cpu-demo"))  # 9 completed trials: no importances yet
    assert titles(panels) == [
        "Confirm runs at cpu, seed by seed",
        "Optimisation history",
        "Learning curves against the baseline",
        "Parallel coordinates",
        "Slices",
        "Trials per worker over time",
    ]
    assert "Not drawn" in next(p.note for p in panels if p.title.startswith("Parameter importances"))


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


def conditional_study(n_params: int = 3, n_trials: int = 14) -> optuna.Study:
    """Trials over `n_params` float params plus a categorical "opt" whose conditional "momentum" only half use."""
    import random

    rng = random.Random(0)
    study = optuna.create_study(direction="maximize")
    for i in range(n_trials):
        dists = {f"p{k}": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True) for k in range(n_params)}
        dists["opt"] = optuna.distributions.CategoricalDistribution(["sgd", "adam"])
        params = {name: 10 ** rng.uniform(-4, -1) for name in dists if name != "opt"}
        params["opt"] = "sgd" if i % 2 else "adam"
        if params["opt"] == "sgd":
            dists["momentum"] = optuna.distributions.FloatDistribution(0.5, 0.99)
            params["momentum"] = rng.uniform(0.5, 0.99)
        study.add_trial(create_trial(value=0.5 + 0.02 * (i % 5), params=params, distributions=dists))
    return study


def test_parallel_coordinates_show_inactive_values_as_their_own_tick_and_the_objective_in_per_cent():
    study = conditional_study()
    (panel,) = figures.parallel_panels(study, figures.importances(study))
    (trace,) = panel.figure.data
    objective, *axes = trace.dimensions
    assert objective.tickformat == ".1%" and trace.line.colorbar.tickformat == ".1%"
    momentum = next(d for d in axes if d.label == "momentum")
    assert "inactive" in momentum.ticktext and "None" not in momentum.ticktext
    inactive = momentum.tickvals[list(momentum.ticktext).index("inactive")]
    used = [t.params.get("momentum") for t in study.trials]
    assert [v == inactive for v in momentum.values] == [u is None for u in used]
    assert all(v > inactive for v in momentum.values if v != inactive)  # its own tick, below the real values
    assert not any("None" in str(d.ticktext) for d in axes)


def test_parallel_coordinates_show_the_most_important_eight_and_the_rest_apart():
    study = conditional_study(n_params=10)
    ranked = figures.importances(study)
    first, rest = figures.parallel_panels(study, ranked)
    labels = [d.label for d in first.figure.data[0].dimensions[1:]]
    assert labels == list(ranked.values)[:8]
    assert {d.label for d in rest.figure.data[0].dimensions[1:]} == set(list(ranked.values)[8:])
    assert first.min_width <= 1180  # fits the page's column at 1,280 px


def test_importances_from_ten_completed_trials_indicative_under_thirty_with_error_bars():
    study = conditional_study(n_trials=9)
    panel = figures.importances_panel(study)
    assert panel.figure is None and "at least 10 completed trials" in panel.note and "has 9" in panel.note
    study = conditional_study(n_trials=14)
    panel = figures.importances_panel(study)
    (bar,) = panel.figure.data
    assert "(indicative)" in panel.title and "PED-ANOVA" in panel.caption
    assert len(bar.error_x.array) == len(bar.y) and any(e > 0 for e in bar.error_x.array)
    expected = optuna.importance.get_param_importances(study, params=figures.varying_params(study))
    assert dict(zip(bar.y, bar.x)) == expected  # Optuna's default evaluator, as it ranks them
    assert "(indicative)" not in figures.importances_panel(conditional_study(n_trials=32)).title


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


def test_importances_need_completed_trials_that_differ():
    study = optuna.create_study()
    dist = {"peak_lr": optuna.distributions.FloatDistribution(1e-4, 1e-2)}
    for _ in range(12):
        study.add_trial(create_trial(value=0.5, params={"peak_lr": 0.001}, distributions=dist))
    panel = figures.importances_panel(study)
    assert panel.figure is None and "do not differ" in panel.note


def test_the_confirm_figure_joins_each_seed_across_arms(make_study):
    study = make_study("cpu-demo")
    panel = figures.confirm_panel(study)
    lines = [t for t in panel.figure.data if t.mode == "lines"]
    dots = {t.name: t for t in panel.figure.data if t.name and t.name.endswith("seeds")}
    assert len(lines) == 5 and all(list(t.x) == ["baseline", list(dots)[1].removesuffix(" seeds")] for t in lines)
    assert list(dots["baseline seeds"].customdata) == [42, 43, 44, 45, 46]
    means = [t for t in panel.figure.data if t.name and t.name.endswith("mean")]
    assert all(t.error_y.array[0] > 0 for t in means)
    assert figures.confirm_panel(make_study("cpu-demo", confirm=False)) is None


def test_the_timeline_has_one_row_per_worker():
    import datetime

    study = optuna.create_study()
    start = datetime.datetime(2026, 1, 1, 10, 0)
    for i, worker in enumerate(["host:11", "host:12", "host:11"]):
        trial = create_trial(value=0.5, user_attrs={"worker": worker})
        trial.datetime_start = start + datetime.timedelta(minutes=i)
        trial.datetime_complete = trial.datetime_start + datetime.timedelta(minutes=3)
        study.add_trial(trial)
    fig = figures.timeline_panel(study).figure
    (bars,) = fig.data
    assert list(bars.y) == ["pid 11", "pid 12", "pid 11"] and list(bars.base) == [0, 1, 2] and list(bars.x) == [3] * 3


def test_run_panels_need_their_data():
    panels = figures.run_panels({"epochs": []})
    assert all(p.figure is None and p.note for p in panels)
