"""One self-contained HTML page per study and per run (jinja2, autoescaping on; plotly.js embedded once).

The page makes no network request: plotly.js sits in one inline <script>, each figure's JSON in a
<script type="application/json"> block that one small script hands to Plotly.newPlot. Everything that
comes from the user or the storage goes through jinja2's autoescaping; the figure JSON is marked safe
only after every <, > and & in it is \\u-escaped, so no stored string can close a tag.
"""

from __future__ import annotations

import math
import shlex
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import optuna
import pandas as pd
import plotly.io as pio
import plotly.offline

from hpsearch import __version__
from hpsearch.core.config import TrainConfig, profile_descriptions, profiles
from hpsearch.record import keys
from hpsearch.record import trials as record
from hpsearch.numbers import is_number as _num
from hpsearch.numbers import p_value as _p
from hpsearch.numbers import param, pct, pts, spread
from hpsearch.record import confirms
from hpsearch.report import figures, tables
from hpsearch.report.figures import Panel
from hpsearch.report.verdict import EVIDENCE_COLUMNS, evidence_rows, study_verdict, test_label

TOP_TRIALS = 10


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("hpsearch.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


def figure_json(fig) -> str:
    """The figure as JSON that is safe inside a <script> element."""
    text = pio.to_json(fig, validate=False, pretty=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _panels(panels: list[Panel]) -> list[dict[str, Any]]:
    out = []
    for i, panel in enumerate(panels):
        figs = [panel.figure] if panel.figure is not None else list(panel.grid)
        out.append(
            {
                "title": panel.title,
                "caption": panel.caption,
                "note": panel.note,
                "grid": bool(panel.grid),
                "min_width": panel.min_width,
                "figs": [{"id": f"fig-{i}-{j}", "json": figure_json(f)} for j, f in enumerate(figs)],
            }
        )
    return out


def _common() -> dict[str, Any]:
    return {
        "plotly_js": plotly.offline.get_plotlyjs(),
        "hpsearch_version": __version__,
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


# ---------------------------------------------------------------------------------------------- format


def fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return param(value)
    if isinstance(value, (list, tuple)):
        return ", ".join(f"({fmt(v)})" if isinstance(v, (list, tuple)) else fmt(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={fmt(v)}" for k, v in value.items())
    return str(value)


def seconds(value: Any) -> str:
    if not _num(value):
        return "—"
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"


# ---------------------------------------------------------------------------------------------- study


def render_study(study: optuna.Study, storage_label: str = "STORAGE", out: str | Path = ".") -> str:
    """The study's page; its "rewrite this page" command writes to the same OUT/reports/<study>/ (`out`)."""
    frame = tables.trials_frame(study)
    head = tables.headline(study)
    attrs = study.user_attrs
    panels = _panels(figures.study_panels(study))
    context = {
        **_common(),
        "study_name": study.study_name,
        "description": attrs.get(keys.DESCRIPTION) or "",
        "source": "what the study stored (writing this page trains nothing)",
        "status_line": _status_line(study, frame),
        **_headline_context(study, head),
        "multi_objective_note": _multi_note(study),
        "running_note": _running_note(frame),
        **_best_params_context(study, head),
        "panels": panels,
        **_trials_context(study, frame, head),
        **_savings_context(study, frame),
        "spec_text": attrs.get(keys.SPEC_TEXT) or "",
        "spec_path": attrs.get(keys.SPEC_PATH) or "",
        "settings": _settings(study),
        "profile": _profile(attrs.get(keys.PROFILE)),
        "versions": {k: fmt(v) for k, v in (attrs.get(keys.VERSIONS) or {}).items()},
        "dashboard_command": f"optuna-dashboard {shlex.quote(storage_label)}",
        "report_command": f"hpsearch report --storage {shlex.quote(storage_label)} "
        f"--study-name {shlex.quote(study.study_name)} --out {shlex.quote(str(Path(out).resolve()))}",
    }
    return environment().get_template("study.html").render(**context)


def _status_line(study: optuna.Study, frame: pd.DataFrame) -> str:
    counts = ", ".join(f"{n} {state.lower()}" for state, n in tables.state_counts(frame).items())
    parts = [f"{len(frame)} trials ({counts})" if len(frame) else "no trials yet"]
    attrs = study.user_attrs
    parts += [f"{key}: {fmt(attrs[key])}" for key in ("engine", "profile") if attrs.get(key)]
    parts.append(
        "objectives: "
        + ", ".join(f"{n} ({d.name.lower()})" for n, d in zip(record.objectives(study), study.directions))
    )
    return " · ".join(parts)


def _headline_context(study: optuna.Study, head: dict[str, Any]) -> dict[str, Any]:
    """The verdict (report.verdict, the same words as the console and summary.csv) and the headline cards."""
    verdict = study_verdict(study)
    base, best, diff = head["baseline_val_accuracy"], head["best_val_accuracy"], head["difference"]
    better = diff is not None and (diff > 0 if record.maximizes(study) else diff < 0)
    comparison = confirms.headline_comparison(study)
    card = _confirm_card(comparison, verdict)
    return {
        "badge": verdict.badge,
        "badge_color": verdict.badge_color,
        "verdict": verdict.text,
        "verdict_class": verdict.css,
        "baseline_value": pct(base),
        "best_value": pct(best),
        "diff_value": pts(diff),
        # a val lead is never coloured as a win: only the verdict (a confirmed, significant gain) is
        "diff_class": "neg" if diff is not None and diff != 0 and not better else "",
        "baseline_sub": f"trial {head['baseline_trial']}"
        if head["baseline_trial"] is not None
        else "no baseline trial",
        "best_sub": (f"trial {head['best_trial']}" + (" (the baseline)" if head["best_is_baseline"] else ""))
        if head["best_trial"] is not None
        else "no completed trial",
        **card,
        "test_note": _test_note(comparison),
        "evidence_columns": [{"label": c, "cls": "text" if c == "fidelity" else ""} for c in EVIDENCE_COLUMNS],
        "evidence_rows": [{"cls": "", "cells": [r[c] for c in EVIDENCE_COLUMNS]} for r in evidence_rows(study)],
    }


def _confirm_card(comparison: confirms.Comparison | None, verdict) -> dict[str, str]:
    """The confirm card: "confirmed difference" and the difference only when the verdict's test found it
    significant; otherwise "difference (not significant)" with the interval as its main figure."""
    if comparison is None:
        return {
            "confirm_label": "Confirmed difference",
            "confirm_value": "not yet",
            "confirm_class": "",
            "confirm_sub": "run hpsearch confirm on this study",
        }
    test = comparison.test()
    where = f"at {comparison.profile} · trial {comparison.trial} · {len(comparison.best)} seeds"
    if test is None:
        return {
            "confirm_label": "Difference (untested)",
            "confirm_value": pts(comparison.difference),
            "confirm_class": "",
            "confirm_sub": f"{where} · too few seeds for a t-test",
        }
    label = f"{test_label(comparison)} p = {_p(test.p)}"
    if verdict.state in ("confirmed", "confirmed_worse"):
        return {
            "confirm_label": "Confirmed difference",
            "confirm_value": pts(comparison.difference),
            "confirm_class": verdict.css,
            "confirm_sub": f"{where} · 95% CI {pts(test.low)} to {pts(test.high)} · {label}",
        }
    return {
        "confirm_label": "Difference (not significant)",
        "confirm_value": f"{pts(test.low)} to {pts(test.high)}",
        "confirm_class": "interval",
        "confirm_sub": f"95% interval · mean {pts(comparison.difference)} · {where} · {label}",
    }


def _test_note(comparison: confirms.Comparison | None) -> str:
    """Which test the verdict rests on, and why (paired when every seed ran in both arms)."""
    test = comparison.test() if comparison is not None else None
    if test is None:
        return ""
    why = (
        "every seed ran in both arms, and a seed sets the shuffle, the augmentation and the test subset of both"
        if test.kind == "paired"
        else "not every seed ran in both arms"
    )
    detectable = comparison.detectable()
    return (
        f"Test: {test.name} (scipy.stats; {why}); two-sided 95% interval. "
        f"Smallest difference these seeds detect with 80% power at the {_p(comparison.alpha)} level, from the "
        f"observed spread: {spread(detectable)}."
    )


def _best_params_context(study: optuna.Study, head: dict[str, Any]) -> dict[str, Any]:
    """The TrainConfig fields the best trial changed, beside the baseline's values (as trained: widths at the
    profile's scale, the full-scale ones beside them where they differ)."""
    base, best = record.baseline_trial(study), record.best_trial(study)
    base_config = (record.stored_config(study, base) or {}) if base else {}

    def shown(trial, key: str, value: Any) -> str:
        if key != "widths" or trial is None:
            return fmt(value)
        full = [record.full_scale_value(study, trial, n) for n in record.WIDTH_NAMES[:3]]
        if all(v is not None for v in full) and [int(v) for v in full] != list(value or []):
            return f"{fmt(value)} ({fmt(full)} at full scale)"
        return fmt(value)

    rows = [
        {"cls": "", "cells": [k, shown(best, k, v), shown(base, k, base_config.get(k))]}
        for k, v in head["best_overrides"].items()
    ]
    columns = [
        {"label": "TrainConfig field", "cls": "text"},
        {"label": f"best (trial {head['best_trial']})", "cls": ""},
        {"label": "baseline", "cls": ""},
    ]
    return {"best_params_columns": columns, "best_params_rows": rows}


def _multi_note(study: optuna.Study) -> str:
    names = record.objectives(study)
    if len(names) < 2:
        return ""
    return (
        f"This study has {len(names)} objectives ({', '.join(names)}): its answer is a Pareto set, not one "
        f"best trial. The cards and the top-trials table rank by {record.OBJECTIVE} alone; the Pareto front "
        "below shows the trade-off."
    )


def _running_note(frame: pd.DataFrame) -> str:
    running = int((frame["state"] == "RUNNING").sum())
    if not running:
        return ""
    return (
        f"{running} trial(s) still running (or interrupted without being marked failed): "
        "the numbers on this page can still change."
    )


def _trials_context(study: optuna.Study, frame: pd.DataFrame, head: dict[str, Any]) -> dict[str, Any]:
    top = tables.top_trials(frame, study, TOP_TRIALS)
    base_rows = frame[frame["is_baseline"] & (frame["state"] == "COMPLETE")]
    if len(base_rows) and base_rows.index[0] not in top.index:
        top = pd.concat([top, base_rows.head(1)])
    param_cols = [c for c in frame.columns if c.startswith(tables.PARAM_PREFIX)]
    extra_objectives = [c for c in record.objectives(study) if c != record.OBJECTIVE]

    def columns(full: bool) -> list[dict[str, str]]:
        """The top table (COMPLETE trials only) leaves out state, pruned-at and the failure reason."""
        cols = ["trial"] + (["state"] if full else []) + ["val acc", "Δ baseline", *extra_objectives, "epochs"]
        cols += (["pruned at"] if full else []) + ["time"] + [c[len(tables.PARAM_PREFIX) :] for c in param_cols]
        out = [{"label": c, "cls": "text nowrap" if c in ("trial", "state") else ""} for c in cols]
        return out + ([{"label": "failure", "cls": "text"}] if full else [])

    def rows(part: pd.DataFrame, full: bool) -> list[dict[str, Any]]:
        out = []
        for _, r in part.iterrows():
            diff = r["delta_baseline"] if _num(r["delta_baseline"]) else None
            cells = [f"{r['number']}" + (" · baseline" if r["is_baseline"] else "")]
            cells += [r["state"]] if full else []
            cells += [
                pct(r[record.OBJECTIVE]),
                pts(diff) if not r["is_baseline"] else "",
                *[fmt(r[c]) for c in extra_objectives],
                fmt(r["epochs_run"]),
            ]
            cells += [fmt(r["pruned_at"])] if full else []
            cells += [seconds(r["seconds"]), *[tables.param_text(r, c, fmt) for c in param_cols]]
            cells += [r["fail_reason"]] if full else []
            cls = "baseline" if r["is_baseline"] else ("best" if r["number"] == head["best_trial"] else "")
            out.append({"cls": cls, "cells": cells})
        return out

    failed = [
        {"number": r["number"], "reason": r["fail_reason"] or "(no reason stored)"}
        for _, r in frame[frame["state"] == "FAIL"].iterrows()
    ]
    return {
        "top_columns": columns(False),
        "top_rows": rows(top, False),
        "all_columns": columns(True),
        "all_rows": rows(frame, True),
        "failed": failed,
    }


def _savings_context(study: optuna.Study, frame: pd.DataFrame) -> dict[str, Any]:
    s = tables.pruning_savings(study, frame)
    if not s["pruned_trials"]:
        text = "No trial was pruned, so pruning saved nothing" + (
            " (this study ran without a pruner)." if not study.user_attrs.get(keys.PRUNER) else " yet."
        )
    else:
        text = (
            f"Pruning stopped {s['pruned_trials']} trial(s) early and skipped {s['epochs_saved']} of the "
            f"{s['epochs_full']} epochs the finished trials would have run without it: "
            f"{pct(s['fraction_saved'])} of the compute."
        )
    savings = {
        "max epochs per trial": fmt(s["max_epochs"]),
        "epochs run": fmt(s["epochs_run"]),
        "epochs without pruning": fmt(s["epochs_full"]),
        "epochs saved": fmt(s["epochs_saved"]),
        "fraction saved": pct(s["fraction_saved"]),
    }
    rungs = [
        {"cls": "", "cells": [str(epoch), str(rung["trials"]), str(rung["epochs_saved"])]}
        for epoch, rung in s["by_epoch"].items()
    ]
    columns = [{"label": c, "cls": ""} for c in ("stopped after epoch", "trials pruned there", "epochs saved")]
    return {"savings_text": text, "savings": savings, "rung_columns": columns, "rung_rows": rungs}


def _settings(study: optuna.Study) -> dict[str, str]:
    attrs = study.user_attrs
    out = {
        "engine": fmt(attrs.get(keys.ENGINE)),
        "objectives": ", ".join(f"{n} ({d.name.lower()})" for n, d in zip(record.objectives(study), study.directions)),
        "sampler": fmt(attrs.get(keys.SAMPLER)) if attrs.get(keys.SAMPLER) else "—",
        "pruner": fmt(attrs.get(keys.PRUNER)) if attrs.get(keys.PRUNER) else "none",
        "max epochs": fmt(attrs.get(keys.MAX_EPOCHS)),
    }
    runs = record.strategy_runs(study)
    if runs:  # sampler/pruner per trial: a resume may have changed them
        out["strategy by trial"] = "; ".join(
            f"{name}: trial{'s' if first != last else ''} {first}{'–' + str(last) if last != first else ''}"
            for name, first, last in runs
        )
    return out


def _profile(name: Any) -> dict[str, str]:
    if not name:
        return {"profile": "—"}
    out = {"profile": str(name)}
    desc = profile_descriptions().get(str(name))
    if desc:
        out["description"] = desc
    for key, value in (profiles().get(str(name)) or {}).items():
        out[key] = fmt(value)
    return out


# ------------------------------------------------------------------------------------------------ run


def render_run(metrics: dict[str, Any], name: str = "run") -> str:
    panels = _panels(figures.run_panels(metrics))
    tta, plain = metrics.get("test_accuracy_tta"), metrics.get("test_accuracy")
    train_s = metrics.get("train_seconds")
    epochs_run = metrics.get("epochs_run") or len(metrics.get("epochs") or [])
    if _num(tta) or _num(plain):
        verdict = (
            f"Test accuracy {pct(tta if _num(tta) else plain)}"
            + (f" with TTA ({pct(plain)} plain)" if _num(tta) and _num(plain) else "")
            + f" after {epochs_run} epochs in {seconds(train_s)}."
        )
    else:
        verdict = (
            f"Best val accuracy {pct(metrics.get('val_accuracy'))} after {epochs_run} epochs in {seconds(train_s)}."
        )
    ips = metrics.get("images_per_second")
    run_info = {k: fmt(metrics.get(k)) for k in ("profile", "device", "created", "model_path", "stopped_reason")}
    run_info.update(
        {
            "train seconds": fmt(train_s),
            "first epoch seconds (compiles)": fmt(metrics.get("first_epoch_seconds")),
            "steady epoch seconds": fmt(metrics.get("steady_epoch_seconds")),
            "images per second": fmt(ips),
        }
    )
    config = metrics.get("config") or {}
    context = {
        **_common(),
        "name": str(metrics.get("name") or name),
        "created": fmt(metrics.get("created")),
        "source": "the run's metrics.json",
        "profile": fmt(metrics.get("profile")),
        "device": fmt(metrics.get("device")),
        "verdict": verdict,
        "test_tta": pct(tta),
        "test_plain": pct(plain),
        "val_accuracy": pct(metrics.get("val_accuracy")),
        "train_time": seconds(train_s),
        "epochs_run": fmt(epochs_run),
        "throughput": f"{ips:,.0f} images/s" if _num(ips) else "—",
        **_stopped(metrics, epochs_run),
        "panels": panels,
        **_config_context(config),
        "run_info": run_info,
        "versions": {k: fmt(v) for k, v in (metrics.get("versions") or {}).items()},
    }
    return environment().get_template("run.html").render(**context)


def _stopped(metrics: dict[str, Any], epochs_run: Any) -> dict[str, str]:
    reason = metrics.get("stopped_reason") or "completed"
    planned = (metrics.get("config") or {}).get("epochs")
    of = f"{fmt(epochs_run)} of {fmt(planned)} epochs" if planned else f"{fmt(epochs_run)} epochs"
    if reason == "completed":
        return {"stopped": "ran to the end", "stopped_sub": of}
    return {"stopped": "early", "stopped_sub": f"{of}: {reason}"}


def _config_context(config: dict[str, Any]) -> dict[str, Any]:
    """Every TrainConfig field; those that differ from TrainConfig() (the full-size baseline) highlighted."""
    defaults = TrainConfig().to_dict()
    rows = []
    for key, value in config.items():
        changed = key in defaults and fmt(defaults[key]) != fmt(value)
        rows.append(
            {"cls": "changed" if changed else "", "cells": [key, fmt(value), fmt(defaults[key]) if changed else ""]}
        )
    columns = [
        {"label": "field", "cls": "text"},
        {"label": "value", "cls": "text"},
        {"label": "TrainConfig() default, where different", "cls": "text"},
    ]
    return {"config_columns": columns, "config_rows": rows}
