"""The evidence as plotly figures: Optuna's own plots for a study, plotly for the rest.

Every builder returns `Panel`s: a heading, one line on how to read it, and a figure or, when the data
cannot support the plot yet (one completed trial, nothing varied, no test metrics), a note saying why.
Headings and notes go into the HTML (escaped there); figures carry no user text in their titles.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import optuna
import plotly.graph_objects as go
from optuna.importance import FanovaImportanceEvaluator, PedAnovaImportanceEvaluator
from optuna.trial import FrozenTrial, TrialState

from hpsearch.numbers import AXIS_PERCENT, pct
from hpsearch.record import keys
from hpsearch.record import trials as record

TEMPLATE = "plotly_white"
HEIGHT = 420
FEW_TRIALS = 10  # below this many completed trials, importances are flagged as unreliable
COLORS = {
    "baseline": "#111111",
    "best": "#d62728",
    "COMPLETE": "#1f77b4",
    "PRUNED": "#ff7f0e",
    "RUNNING": "#2ca02c",
    "FAIL": "#7f7f7f",
}


@dataclass
class Panel:
    title: str
    caption: str
    figure: go.Figure | None = None
    note: str = ""  # why there is no figure
    grid: list[go.Figure] = field(default_factory=list)  # small figures laid out by the page (CSS grid) instead
    min_width: int = 0  # px below which the figure scrolls sideways rather than squeezing its axes


def style(fig: go.Figure, height: int = HEIGHT) -> go.Figure:
    """One look for every figure: white template, no figure title (the page has the heading), page width."""
    fig.update_layout(
        template=TEMPLATE,
        title=None,
        height=height,
        autosize=True,
        margin=dict(l=60, r=30, t=30, b=50),
        legend=dict(orientation="h", y=-0.18),
    )
    fig.layout.width = None
    return fig


# ---------------------------------------------------------------------------------------------- study


def study_panels(study: optuna.Study) -> list[Panel]:
    """Optimisation history, learning curves vs the baseline, importances, parallel coordinates, slices,
    and the Pareto front when the study has more than one objective."""
    view = with_baseline_params(study)
    panels = [
        history_panel(view),
        learning_curves_panel(study),
        importances_panel(view),
        parallel_panel(view),
        slice_panel(view),
    ]
    if len(study.directions) > 1:
        panels.append(pareto_panel(view))
    return panels


def with_baseline_params(study: optuna.Study) -> optuna.Study:
    """An in-memory copy of the study in which the baseline trial (which samples nothing) carries the
    values of its stored config for every parameter of the space that can hold them, so Optuna's plots
    show it as the point it is instead of leaving it out or drawing it at "None"."""
    trials = study.get_trials(deepcopy=True)
    base = record.baseline_trial(study)
    spaces: dict[str, Any] = {}
    for trial in trials:
        for name, dist in trial.distributions.items():
            spaces.setdefault(name, dist)
    for trial in trials:
        if base is not None and trial.number == base.number and not trial.params:
            params, dists = {}, {}
            for name, dist in spaces.items():
                value = record.param_value(study, trial, name)
                if value is not None and _within(dist, value):
                    params[name], dists[name] = value, dist
            trial.distributions, trial.params = dists, params
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "A new study created in memory" line
    try:
        view = optuna.create_study(directions=study.directions, study_name=study.study_name)
    finally:
        optuna.logging.set_verbosity(verbosity)
    view.add_trials(trials)
    for key, value in study.user_attrs.items():
        view.set_user_attr(key, value)
    return view


def _target(study: optuna.Study) -> dict[str, Any]:
    """Optuna plot arguments that pick val accuracy. A single-objective study passes no target, so Optuna
    keeps what it draws only then (the best-so-far line of the history)."""
    if len(study.directions) == 1:
        return {"target_name": record.OBJECTIVE}
    index = record.objective_index(study)
    target: Callable[[FrozenTrial], float] = lambda t: t.values[index]  # noqa: E731
    return {"target": target, "target_name": record.OBJECTIVE}


def _completed(study: optuna.Study) -> list[FrozenTrial]:
    return [t for t in study.trials if t.state == TrialState.COMPLETE and t.values]


def varying_params(study: optuna.Study, shared: bool = False) -> list[str]:
    """Parameters that take at least two values over the completed trials. shared=True: only those every
    completed non-baseline trial has (what importance evaluators need; conditional ones drop out)."""
    trials = [t for t in _completed(study) if t.params]
    if len(trials) < 2:
        return []
    names = set().union(*(t.params for t in trials))
    if shared:
        sampled = [t for t in trials if not t.user_attrs.get(keys.IS_BASELINE)] or trials
        names = set.intersection(*(set(t.params) for t in sampled))
    return sorted(p for p in names if len({repr(t.params[p]) for t in trials if p in t.params}) > 1)


def history_panel(study: optuna.Study) -> Panel:
    panel = Panel(
        "Optimisation history",
        "Each completed trial's val accuracy in the order it ran, the best so far, and the baseline's (dashed).",
    )
    if not _completed(study):
        panel.note = "No completed trial yet."
        return panel
    fig = optuna.visualization.plot_optimization_history(study, **_target(study))
    base = record.baseline_trial(study)
    base_value = record.trial_value(base, record.objective_index(study)) if base else None
    if base_value is not None:
        fig.add_hline(
            y=base_value,
            line=dict(color=COLORS["baseline"], dash="dash", width=1),
            annotation_text="baseline",
            annotation_position="bottom right",
        )
    numbers = [t.number for t in study.trials]
    fig.update_xaxes(tickformat="d", dtick=max(1, math.ceil((max(numbers) + 1) / 12)))  # whole trial numbers
    fig.update_yaxes(tickformat=AXIS_PERCENT, hoverformat=AXIS_PERCENT)
    panel.figure = style(fig)
    return panel


def learning_curves_panel(study: optuna.Study) -> Panel:
    """Every trial's val accuracy per epoch against the baseline's; pruned trials end in a cross."""
    panel = Panel(
        "Learning curves against the baseline",
        "Val accuracy per epoch for every trial. Black: the baseline. Red: the best trial. "
        "Orange crosses: where a pruned trial was stopped. Green dotted: still running.",
    )
    trials = [t for t in study.trials if record.curve(t)]
    if not trials:
        panel.note = "No trial has reported an epoch yet."
        return panel
    best = record.best_trial(study)
    fig = go.Figure()
    shown: set[str] = set()
    for trial in sorted(trials, key=lambda t: (t.user_attrs.get(keys.IS_BASELINE, False), t == best)):
        kind = _curve_kind(trial, best)
        x, y = zip(*record.curve(trial))
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                mode="lines+markers" if kind in ("baseline", "best") else "lines",
                name=_curve_legend(kind),
                legendgroup=kind,
                showlegend=kind not in shown,
                line=dict(
                    color=COLORS[kind],
                    width=3 if kind in ("baseline", "best") else 1.2,
                    dash="dot" if kind == "RUNNING" else "solid",
                ),
                opacity=1.0 if kind in ("baseline", "best") else 0.55,
                hovertemplate=f"trial {trial.number} ({trial.state.name})<br>epoch %{{x}}: %{{y:{AXIS_PERCENT}}}<extra></extra>",
            )
        )
        shown.add(kind)
    ends = [(t.number, *record.curve(t)[-1]) for t in trials if t.state == TrialState.PRUNED]
    if ends:
        fig.add_trace(
            go.Scatter(
                x=[e[1] for e in ends],
                y=[e[2] for e in ends],
                mode="markers",
                name="pruned here",
                marker=dict(symbol="x", size=10, color=COLORS["PRUNED"], line=dict(width=1)),
                customdata=[e[0] for e in ends],
                hovertemplate=f"trial %{{customdata}} pruned after epoch %{{x}}: %{{y:{AXIS_PERCENT}}}<extra></extra>",
            )
        )
    fig.update_xaxes(title="epoch", dtick=1)
    fig.update_yaxes(title="val accuracy", tickformat=AXIS_PERCENT)
    panel.figure = style(fig, 460)
    return panel


def _curve_kind(trial: FrozenTrial, best: FrozenTrial | None) -> str:
    if trial.user_attrs.get(keys.IS_BASELINE):
        return "baseline"
    if best is not None and trial.number == best.number:
        return "best"
    return trial.state.name if trial.state.name in COLORS else "FAIL"


def _curve_legend(kind: str) -> str:
    return {
        "baseline": "baseline",
        "best": "best trial",
        "COMPLETE": "completed",
        "PRUNED": "pruned",
        "RUNNING": "running",
        "FAIL": "failed",
    }[kind]


def importance_evaluator() -> tuple[optuna.importance.BaseImportanceEvaluator, str]:
    """fANOVA (Optuna's default; needs scikit-learn), else PED-ANOVA (Optuna's own, no extra dependency)."""
    try:
        return FanovaImportanceEvaluator(seed=0), "fANOVA"
    except ImportError:
        return PedAnovaImportanceEvaluator(), "PED-ANOVA (install scikit-learn for fANOVA)"


def importances_panel(study: optuna.Study) -> Panel:
    panel = Panel("Parameter importances", "")
    params = varying_params(study, shared=True)
    usable = [t for t in _completed(study) if all(p in t.params for p in params)]
    if not params or len(usable) < 2:
        panel.note = "Needs at least two completed trials whose parameters differ."
        return panel
    evaluator, name = importance_evaluator()
    panel.caption = (
        f"How much of the variation in val accuracy each parameter explains (Optuna's {name} over "
        f"{len(usable)} completed trials). Importance is not direction: see the slices."
    )
    if len(usable) < FEW_TRIALS:
        panel.caption += f" With fewer than {FEW_TRIALS} completed trials these numbers are close to noise."
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "too few trials" warnings: the caption gives the count
            fig = optuna.visualization.plot_param_importances(
                study, evaluator=evaluator, params=params, **_target(study)
            )
    except (ValueError, RuntimeError, ZeroDivisionError) as exc:  # e.g. every value identical
        panel.note = f"Optuna could not compute importances: {exc}"
        return panel
    panel.figure = style(fig, max(260, 40 * len(params) + 120))
    return panel


def parallel_panel(study: optuna.Study) -> Panel:
    panel = Panel(
        "Parallel coordinates",
        "One line per completed trial across the parameters, coloured by "
        "val accuracy: follow the bright lines to see which settings travel together.",
    )
    params = varying_params(study)
    if not params:
        panel.note = "Needs at least two completed trials whose parameters differ."
        return panel
    fig = optuna.visualization.plot_parallel_coordinate(study, params=params, **_target(study))
    panel.figure = style(_objective_in_percent(fig))
    panel.min_width = 110 * (len(params) + 1)  # labels need ~110 px an axis; below that the page scrolls
    return panel


def _objective_in_percent(fig: go.Figure) -> go.Figure:
    """Optuna's parallel coordinates with the objective's axis, hover text and colour bar in per cent, as on
    every other chart. Optuna 4 draws one `parcoords` trace (a tickformat does it); Optuna 5 draws scatter
    lines whose axis labels are annotations at x = 0 (the objective's axis) and whose hover text is customdata
    [name, value], so those texts are rewritten."""
    for trace in fig.data:
        if trace.type == "parcoords" and trace.dimensions:
            trace.dimensions[0].tickformat = AXIS_PERCENT
            trace.line.colorbar.tickformat = AXIS_PERCENT
        elif trace.type == "scatter":
            if trace.customdata is not None:
                trace.customdata = [
                    [name, _percent_text(value)] if name == record.OBJECTIVE else [name, value]
                    for name, value in trace.customdata
                ]
            if trace.marker is not None and trace.marker.colorbar is not None:
                trace.marker.colorbar.tickformat = AXIS_PERCENT
    for note in fig.layout.annotations:
        if note.x == 0:
            note.text = _percent_text(note.text)
    return fig


def _percent_text(text: Any) -> Any:
    """The text "0.652" -> "65.2%"; anything that is not a number is left as it is."""
    try:
        return pct(float(text))
    except (TypeError, ValueError):
        return text


def slice_panel(study: optuna.Study) -> Panel:
    """One small Optuna slice plot per parameter, laid out by the page as a grid (one column on a phone)."""
    panel = Panel("Slices", "Val accuracy against each parameter on its own; darker dots ran later.")
    params = varying_params(study)
    if not params:
        panel.note = "Needs at least two completed trials whose parameters differ."
        return panel
    for name in params:
        fig = optuna.visualization.plot_slice(study, params=[name], **_target(study))
        fig.update_layout(showlegend=False)
        fig.update_traces(marker=dict(showscale=False), selector=dict(type="scatter"))
        fig.update_yaxes(title="val accuracy", tickformat=AXIS_PERCENT)
        fig.update_xaxes(title=name)
        panel.grid.append(style(fig, 280))
    return panel


def pareto_panel(study: optuna.Study) -> Panel:
    """Every completed trial by its first two objectives: Optuna's Pareto set (study.best_trials) in red and
    joined, the others grey, the baseline a black diamond where it stands (and said to be on the set or not)."""
    names = record.objectives(study)
    panel = Panel(
        "Pareto front",
        f"{names[0]} against {names[1]} for every completed trial. Red, joined: the "
        "Pareto set (no other trial is better on every objective, as Optuna's study.best_trials says); "
        "grey: the other trials; black diamond: the baseline.",
    )
    done = _completed(study)
    if not done:
        panel.note = "No completed trial yet."
        return panel
    front = {t.number for t in _best_trials(study)}
    base = record.baseline_trial(study)
    fig = go.Figure()
    others = [t for t in done if t.number not in front]
    on = sorted((t for t in done if t.number in front), key=lambda t: t.values[1])
    for trials, name, color, mode in (
        (others, "other trials", "#9aa0a6", "markers"),
        (on, "Pareto set", COLORS["best"], "lines+markers"),
    ):
        if trials:
            fig.add_trace(
                go.Scatter(
                    x=[t.values[1] for t in trials],
                    y=[t.values[0] for t in trials],
                    mode=mode,
                    name=name,
                    marker=dict(color=color, size=9),
                    line=dict(color=color, width=1),
                    customdata=[t.number for t in trials],
                    hovertemplate=_pareto_hover(names),
                )
            )
    if base is not None and base.state == TrialState.COMPLETE and base.values:
        where = "on the Pareto set" if base.number in front else "not on the Pareto set"
        fig.add_trace(
            go.Scatter(
                x=[base.values[1]],
                y=[base.values[0]],
                mode="markers",
                name=f"baseline ({where})",
                marker=dict(symbol="diamond", size=14, color=COLORS["baseline"], line=dict(color="white", width=1)),
                customdata=[base.number],
                hovertemplate=_pareto_hover(names),
            )
        )
    fig.update_xaxes(title=names[1])
    fig.update_yaxes(title=names[0], tickformat=AXIS_PERCENT if names[0] == record.OBJECTIVE else None)
    panel.figure = style(fig)
    return panel


def _pareto_hover(names: list[str]) -> str:
    y = f"%{{y:{AXIS_PERCENT}}}" if names[0] == record.OBJECTIVE else "%{y}"
    return f"trial %{{customdata}}<br>{names[0]} {y}<br>{names[1]} %{{x:.4g}}<extra></extra>"


def _best_trials(study: optuna.Study) -> list[FrozenTrial]:
    try:
        return list(study.best_trials)
    except (ValueError, RuntimeError):
        return []


# ------------------------------------------------------------------------------------------------ run


def run_panels(metrics: dict[str, Any]) -> list[Panel]:
    """A baseline run: loss and accuracy curves, LR per epoch, test plain vs TTA, per-class, confusion."""
    epochs = [e for e in metrics.get("epochs") or [] if isinstance(e, dict)]
    panels = [
        _curves(epochs, "Loss", ("loss", "val_loss"), "Training and validation loss per epoch."),
        _curves(
            epochs,
            "Accuracy",
            ("accuracy", "val_accuracy"),
            "Training and validation accuracy per epoch "
            "(training accuracy is on augmented images with label smoothing).",
        ),
        _curves(epochs, "Learning rate", ("lr",), "The learning rate recorded for each epoch (log scale).", log=True),
        test_panel(metrics),
        per_class_panel(metrics),
        confusion_panel(metrics),
    ]
    return panels


def _curves(epochs: list[dict], title: str, keys: tuple[str, ...], caption: str, log: bool = False) -> Panel:
    panel = Panel(title, caption)
    present = [k for k in keys if any(e.get(k) is not None for e in epochs)]
    if not present:
        panel.note = "No per-epoch values stored."
        return panel
    fig = go.Figure()
    for key in present:
        points = [(e["epoch"], e[key]) for e in epochs if e.get(key) is not None]
        fig.add_trace(
            go.Scatter(
                x=[p[0] for p in points], y=[p[1] for p in points], mode="lines+markers", name=key.replace("_", " ")
            )
        )
    fig.update_xaxes(title="epoch", dtick=1)
    fig.update_yaxes(
        title=title.lower(), type="log" if log else "linear", tickformat=AXIS_PERCENT if title == "Accuracy" else None
    )
    panel.figure = style(fig, 340)
    return panel


def test_panel(metrics: dict[str, Any]) -> Panel:
    panel = Panel(
        "Test accuracy: plain vs TTA",
        "The held-out test set, once, after training: one view per "
        "image, and test-time augmentation (flips and shifts averaged).",
    )
    plain, tta = metrics.get("test_accuracy"), metrics.get("test_accuracy_tta")
    bars = [(name, v) for name, v in (("plain", plain), ("TTA", tta)) if v is not None]
    if not bars:
        panel.note = "This run stored no test accuracy."
        return panel
    fig = go.Figure(
        go.Bar(
            x=[b[0] for b in bars],
            y=[b[1] for b in bars],
            text=[pct(b[1]) for b in bars],
            textposition="outside",
            marker_color=["#1f77b4", "#2ca02c"][: len(bars)],
        )
    )
    fig.update_yaxes(title="test accuracy", range=[0.0, 1.05], tickformat=AXIS_PERCENT)  # bars start at zero
    panel.figure = style(fig, 320)
    return panel


def per_class_panel(metrics: dict[str, Any]) -> Panel:
    panel = Panel("Per-class test accuracy", "Test accuracy of each class (TTA predictions).")
    values = metrics.get("test_per_class_accuracy")
    if not values:
        panel.note = "This run stored no per-class accuracy."
        return panel
    names = _class_names(metrics, len(values))
    fig = go.Figure(go.Bar(x=names, y=values, text=[pct(v) for v in values], textposition="outside"))
    fig.update_yaxes(title="accuracy", range=[0, 1.05], tickformat=AXIS_PERCENT)
    panel.figure = style(fig, 340)
    return panel


def confusion_panel(metrics: dict[str, Any]) -> Panel:
    panel = Panel(
        "Confusion matrix",
        "Rows: the true class; columns: the predicted class (TTA). The diagonal "
        "is right; bright cells off it are the classes the model mixes up.",
    )
    matrix = metrics.get("test_confusion")
    if not matrix:
        panel.note = "This run stored no confusion matrix."
        return panel
    names = _class_names(metrics, len(matrix))
    fig = go.Figure(
        go.Heatmap(
            z=matrix,
            x=names,
            y=names,
            colorscale="Blues",
            texttemplate="%{z}",
            hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>",
        )
    )
    fig.update_xaxes(title="predicted", side="bottom")
    fig.update_yaxes(title="true", autorange="reversed")
    panel.figure = style(fig, 520)
    return panel


def _class_names(metrics: dict[str, Any], n: int) -> list[str]:
    names = metrics.get("class_names") or []
    return [str(x) for x in names] if len(names) == n else [str(i) for i in range(n)]


def _within(dist: optuna.distributions.BaseDistribution, value: Any) -> bool:
    """`value` is one `dist` can take (its choices, or between its bounds): shown with the sampled trials."""
    if isinstance(dist, optuna.distributions.CategoricalDistribution):
        return value in dist.choices
    return isinstance(value, (int, float)) and not isinstance(value, bool) and dist.low <= value <= dist.high
