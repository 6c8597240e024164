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
import numpy as np
import plotly.graph_objects as go
from optuna.trial import FrozenTrial, TrialState

from hpsearch.numbers import AXIS_PERCENT, param, pct
from hpsearch.record import confirms, keys, significance
from hpsearch.record import trials as record

TEMPLATE = "plotly_white"
HEIGHT = 420
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
    ranked = importances(view)
    panels = [
        history_panel(view),
        learning_curves_panel(study),
        importances_panel(view, ranked),
        *parallel_panels(view, ranked),
        slice_panel(view),
        timeline_panel(study),
    ]
    confirm = confirm_panel(study)
    if confirm is not None:
        panels.insert(0, confirm)
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


@dataclass
class Importances:
    """Optuna's default importance evaluator (PED-ANOVA in Optuna 5) on the completed trials, and the spread of
    each parameter's importance over BOOTSTRAPS resamples of those trials (seeded: the same page every time).
    PED-ANOVA itself has no random seed, so "a few evaluator seeds" are resampling seeds here."""

    values: dict[str, float]  # parameter -> importance (normalised to sum 1), most important first
    spread: dict[str, float]  # parameter -> standard deviation over the resamples
    trials: int  # completed trials they rest on


MIN_IMPORTANCE_TRIALS = 10  # below this many completed trials no importance is drawn
INDICATIVE_TRIALS = 30  # below this many, importances are labelled indicative
BOOTSTRAPS = 5


def importances(study: optuna.Study) -> Importances | None:
    """The parameters' importances (see Importances); None with under MIN_IMPORTANCE_TRIALS completed trials,
    nothing varied, or when Optuna cannot compute them."""
    done = _completed(study)
    params = varying_params(study)
    if len(done) < MIN_IMPORTANCE_TRIALS or not params:
        return None
    target = _importance_target(study)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "too few trials" warnings: the caption gives the count
            values = optuna.importance.get_param_importances(study, params=params, target=target)
            rng = np.random.default_rng(0)
            draws = [
                optuna.importance.get_param_importances(
                    _resampled(study, [done[i] for i in rng.integers(0, len(done), len(done))]),
                    params=params,
                    target=target,
                )
                for _ in range(BOOTSTRAPS)
            ]
    except (ValueError, RuntimeError, ZeroDivisionError):  # e.g. every value identical
        return None
    spread = {p: float(np.std([d.get(p, 0.0) for d in draws])) for p in values}
    return Importances(dict(values), spread, len(done))


def _importance_target(study: optuna.Study) -> Callable[[FrozenTrial], float] | None:
    """None for one objective (the evaluator reads the direction); PED-ANOVA takes a given target as lower is
    better, so a maximised val accuracy of a multi-objective study is negated."""
    if len(study.directions) == 1:
        return None
    index, sign = record.objective_index(study), -1.0 if record.maximizes(study) else 1.0
    return lambda t: sign * t.values[index]


def _resampled(study: optuna.Study, trials: list[FrozenTrial]) -> optuna.Study:
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        copy = optuna.create_study(directions=study.directions)
    finally:
        optuna.logging.set_verbosity(verbosity)
    copy.add_trials(trials)
    return copy


def importances_panel(study: optuna.Study, found: Importances | None = None) -> Panel:
    panel = Panel("Parameter importances", "")
    n = len(_completed(study))
    if n < MIN_IMPORTANCE_TRIALS:
        panel.note = (
            f"Not drawn: importances need at least {MIN_IMPORTANCE_TRIALS} completed trials and this study has {n}; "
            "from fewer they rank noise."
        )
        return panel
    found = found or importances(study)
    if found is None:
        panel.note = "Not drawn: the completed trials' parameters do not differ, or Optuna could not rank them."
        return panel
    indicative = found.trials < INDICATIVE_TRIALS
    if indicative:
        panel.title += " (indicative)"
    panel.caption = (
        f"How much each parameter matters for reaching the best val accuracies (Optuna's default evaluator, "
        f"PED-ANOVA, over {found.trials} completed trials; error bars: the spread over {BOOTSTRAPS} resamples of "
        "those trials). Importance is not direction: see the slices."
    )
    if indicative:
        panel.caption += (
            f" Indicative only: under {INDICATIVE_TRIALS} completed trials the ranking moves with a few trials."
        )
    names = list(found.values)[::-1]  # plotly draws the first bar at the bottom
    fig = go.Figure(
        go.Bar(
            x=[found.values[p] for p in names],
            y=names,
            orientation="h",
            error_x=dict(type="data", array=[found.spread[p] for p in names], visible=True),
            marker_color=COLORS["COMPLETE"],
            hovertemplate="%{y}: %{x:.2f}<extra></extra>",
        )
    )
    fig.update_xaxes(title="importance (share, sums to 1)", rangemode="tozero")
    fig.update_yaxes(automargin=True)
    panel.figure = style(fig, max(260, 32 * len(names) + 120))
    return panel


PARALLEL_AXES = 8  # parameters in the first parallel-coordinates figure (the most important); the rest follow


def parallel_panels(study: optuna.Study, ranked: Importances | None = None) -> list[Panel]:
    """Parallel coordinates: val accuracy and the PARALLEL_AXES most important parameters (by `ranked`, else by
    name), then the other parameters in a second figure. Drawn with plotly's parcoords rather than Optuna's plot:
    a parameter a trial did not use (conditional) sits on its own "inactive" tick instead of "None" (or the trial
    dropped), and the axes are chosen."""
    params = varying_params(study)
    if not params:
        return [
            Panel(
                "Parallel coordinates",
                "",
                note="Needs at least two completed trials whose parameters differ.",
            )
        ]
    order = [p for p in (ranked.values if ranked else ()) if p in params]
    order += [p for p in params if p not in order]
    first, rest = order[:PARALLEL_AXES], order[PARALLEL_AXES:]
    ranked_by = "most important" if ranked else "first"
    panels = [
        _parallel(
            study,
            first,
            "Parallel coordinates",
            f"One line per completed trial, coloured by val accuracy, across the {len(first)} {ranked_by} "
            'parameters: follow the bright lines to see which settings travel together. "inactive": the trial '
            "did not use that (conditional) parameter.",
        )
    ]
    if rest:
        panels.append(
            _parallel(study, rest, "Parallel coordinates: the other parameters", "The same lines, the other axes.")
        )
    return panels


def _parallel(study: optuna.Study, names: list[str], title: str, caption: str) -> Panel:
    done = [t for t in _completed(study) if record.trial_value(t, record.objective_index(study)) is not None]
    values = [record.trial_value(t, record.objective_index(study)) for t in done]
    dimensions = [dict(label=record.OBJECTIVE.replace("_", " "), values=values, tickformat=AXIS_PERCENT)]
    dimensions += [_axis(name, done) for name in names]
    fig = go.Figure(
        go.Parcoords(
            line=dict(
                color=values,
                colorscale="Blues",
                showscale=True,
                colorbar=dict(title=dict(text="val acc", side="right"), tickformat=AXIS_PERCENT, thickness=12),
            ),
            dimensions=dimensions,
            labelfont=dict(size=11),
            tickfont=dict(size=10),
            rangefont=dict(size=1, color="rgba(0,0,0,0)"),
        )
    )
    panel = Panel(title, caption, figure=style(fig))
    fig.update_layout(margin=dict(l=50, r=40, t=60, b=30))
    panel.min_width = 105 * (len(names) + 1) + 80  # ~105 px an axis and the colour bar; below that the page scrolls
    return panel


INACTIVE = "inactive"


def _axis(name: str, trials: list[FrozenTrial]) -> dict[str, Any]:
    """One parcoords dimension: categories as ticks, numbers on their (log) scale, and trials without the
    parameter on an "inactive" tick of their own (below the numbers, or after the categories)."""
    dist = next(t.distributions[name] for t in trials if name in t.distributions)
    raw = [t.params.get(name) for t in trials]
    missing = any(v is None for v in raw)
    label = name if len(name) <= 18 else name[:17] + "…"
    if isinstance(dist, optuna.distributions.CategoricalDistribution):
        cats = [param(c) for c in dist.choices] + ([INACTIVE] if missing else [])
        index = {param(c): i for i, c in enumerate(dist.choices)}
        coded = [index[param(v)] if v is not None else len(cats) - 1 for v in raw]
        return dict(label=label, values=coded, tickvals=list(range(len(cats))), ticktext=cats)
    log = bool(getattr(dist, "log", False))
    scaled = [math.log10(v) if (v is not None and log) else v for v in raw]
    present = [v for v in scaled if v is not None]
    low, high = min(present), max(present)
    span = (high - low) or 1.0
    ticks = [low + span * i / 4 for i in range(5)] if high > low else [low]
    text = [param(10**v if log else v) for v in ticks]
    if missing:
        below = low - 0.2 * span
        scaled = [below if v is None else v for v in scaled]
        ticks, text = [below, *ticks], [INACTIVE, *text]
    return dict(label=label, values=scaled, tickvals=ticks, ticktext=text)


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


def confirm_panel(study: optuna.Study) -> Panel | None:
    """The confirm runs at the verdict's profile: each seed's test accuracy per arm (dots), grey lines joining
    the same seed across arms (the paired design), and each arm's mean with its 95 % interval. None before any
    confirm."""
    headline = confirms.headline_comparison(study)
    if headline is None:
        return None
    shown = [c for c in confirms.comparisons(study) if c.profile == headline.profile]
    panel = Panel(
        f"Confirm runs at {headline.profile}, seed by seed",
        "Test accuracy with TTA of every confirm run: one dot per seed, grey lines join the same seed in both "
        "arms (the paired test compares along them), black bars: each arm's mean with its 95% interval.",
    )
    arms = [("baseline", headline.baseline, headline.baseline_seeds)]
    arms += [(f"trial {c.trial}", c.best, c.best_seeds) for c in shown]
    fig = go.Figure()
    base_by_seed = dict(zip(headline.baseline_seeds, headline.baseline))
    for c in shown:
        for seed, value in zip(c.best_seeds, c.best):
            if seed in base_by_seed:
                fig.add_trace(
                    go.Scatter(
                        x=["baseline", f"trial {c.trial}"],
                        y=[base_by_seed[seed], value],
                        mode="lines",
                        line=dict(color="#b0b7bf", width=1),
                        showlegend=False,
                        hoverinfo="skip",
                    )
                )
    for label, values, seeds in arms:
        color = COLORS["baseline"] if label == "baseline" else COLORS["best"]
        fig.add_trace(
            go.Scatter(
                x=[label] * len(values),
                y=values,
                mode="markers",
                marker=dict(color=color, size=9, opacity=0.8),
                name=f"{label} seeds",
                customdata=list(seeds),
                hovertemplate=f"{label}, seed %{{customdata}}: %{{y:{AXIS_PERCENT}}}<extra></extra>",
            )
        )
        mean, low, high = significance.mean_interval(values)
        fig.add_trace(
            go.Scatter(
                x=[label],
                y=[mean],
                mode="markers",
                marker=dict(symbol="line-ew-open", size=28, color="#111111", line=dict(width=3)),
                error_y=dict(type="data", symmetric=False, array=[high - mean], arrayminus=[mean - low], width=10)
                if low is not None
                else None,
                name=f"{label} mean",
                showlegend=False,
                hovertemplate=f"{label} mean %{{y:{AXIS_PERCENT}}}<extra></extra>",
            )
        )
    fig.update_yaxes(title="test accuracy (TTA)", tickformat=AXIS_PERCENT)
    fig.update_layout(showlegend=False)
    panel.figure = style(fig, 380)
    return panel


def timeline_panel(study: optuna.Study) -> Panel:
    """Every trial as a bar from its start to its end, one row per worker process (the user attr the worker
    set when it claimed the trial), coloured by state."""
    panel = Panel(
        "Trials per worker over time",
        "Each bar is one trial from its start to its end (a running one up to now), one row per worker process, "
        "coloured by state: blue completed, orange pruned, grey failed, green running.",
    )
    timed = [t for t in study.trials if t.datetime_start is not None]
    if not timed:
        panel.note = "No trial has started yet."
        return panel
    origin = min(t.datetime_start for t in timed)
    now = max((t.datetime_complete or t.datetime_start) for t in timed)
    workers = [str(t.user_attrs.get(keys.WORKER) or "unknown") for t in timed]
    hosts = {w.rpartition(":")[0] for w in workers if ":" in w}
    names = [f"pid {w.rpartition(':')[2]}" if len(hosts) == 1 and ":" in w else w for w in workers]
    fig = go.Figure()
    for state in ("COMPLETE", "PRUNED", "FAIL", "RUNNING"):
        rows = [(t, n) for t, n in zip(timed, names) if t.state.name == state]
        if not rows:
            continue
        start = [(t.datetime_start - origin).total_seconds() / 60 for t, _ in rows]
        end = [((t.datetime_complete or now) - origin).total_seconds() / 60 for t, _ in rows]
        fig.add_trace(
            go.Bar(
                base=start,
                x=[max(e - b, 0.02) for b, e in zip(start, end)],
                y=[n for _, n in rows],
                orientation="h",
                name=_curve_legend(state),
                marker_color=COLORS[state],
                customdata=[t.number for t, _ in rows],
                hovertemplate="trial %{customdata}: from minute %{base:.1f}, for %{x:.1f} min<extra></extra>",
            )
        )
    fig.update_xaxes(title="minutes since the first trial started", rangemode="tozero")
    fig.update_yaxes(title=None, automargin=True, type="category")
    panel.figure = style(fig, max(220, 40 * len(set(names)) + 140))
    fig.update_layout(barmode="overlay", legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0))
    return panel


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
