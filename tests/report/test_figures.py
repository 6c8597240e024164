"""Study figures: which panels appear, and the guards that turn a plot into a note instead of an error."""
import optuna
from optuna.trial import TrialState, create_trial

from hpsearch.report import figures


def titles(panels):
    return [p.title for p in panels if p.figure is not None]


def test_single_objective_panels(make_study):
    panels = figures.study_panels(make_study("cpu-demo"))
    assert titles(panels) == ["Optimisation history", "Learning curves against the baseline",
                              "Parameter importances", "Parallel coordinates", "Slices"]


def test_multi_objective_adds_the_pareto_front(make_study):
    assert "Pareto front" in titles(figures.study_panels(make_study("pareto", objectives=2)))


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
