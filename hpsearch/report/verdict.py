"""The study's one verdict, and the evidence at each fidelity: what the console, summary.csv and the page say.

Order of authority: the confirm result at the highest profile confirmed (test accuracy over seeds; the paired
t-test's 95 % interval and p-value when every seed ran in both arms, Welch's otherwise, both SciPy's:
record/significance.py); otherwise "not yet confirmed" with the validation difference and its noise. A
result is coloured as a win only when it was confirmed, significant at 5 % and in the trial's favour; a lead
within the validation noise says so, and neither an unconfirmed lead nor an insignificant confirm is a win.
Every verdict carries a one-word badge (WIN, NO WIN, NOT SIGNIFICANT, NOT CONFIRMED YET, WORSE) and its colour.

Validation noise: a trial's val accuracy is a proportion measured on n images, so the difference of two of
them has a standard error of about sqrt(p1 (1 - p1) / n + p2 (1 - p2) / n) (both measured on the same n
images, which makes this, if anything, an overestimate). On 100 val images that is ~6 pts; on 2,000, ~1.4.
And the best of many trials is the maximum of noisy numbers, so its lead is biased upward: confirm retrains
it on new seeds and scores it on the test set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from hpsearch.record import confirms, keys, significance
from hpsearch.record import trials as record
from hpsearch.numbers import is_number, p_value, pct, pts, spread, stored

ALPHA = significance.ALPHA
NOISE_Z = 2.0  # a val lead under two standard errors is "within the noise"


# The one-word answer to "did anything win?" for each state, and its colour (page, console and summary.csv).
WIN, NO_WIN, NOT_SIGNIFICANT, NOT_CONFIRMED, WORSE = "WIN", "NO WIN", "NOT SIGNIFICANT", "NOT CONFIRMED YET", "WORSE"
BADGES = {
    "confirmed": WIN,
    "confirmed_worse": WORSE,
    "not_significant": NOT_SIGNIFICANT,
    "too_few_seeds": NOT_CONFIRMED,
    "not_confirmed": NOT_CONFIRMED,
    "within_noise": NOT_CONFIRMED,
    "no_gain": NO_WIN,
    "pareto": NOT_CONFIRMED,
    "waiting": NOT_CONFIRMED,
}
BADGE_COLORS = {  # hex: the page's CSS and rich's styles take the same colour
    WIN: "#1a7f37",
    WORSE: "#b42318",
    NO_WIN: "#b42318",
    NOT_SIGNIFICANT: "#9a6700",
    NOT_CONFIRMED: "#57606a",
}


@dataclass
class Verdict:
    state: str  # confirmed | confirmed_worse | not_significant | too_few_seeds | not_confirmed |
    # within_noise | no_gain | pareto | waiting
    text: str  # one or two sentences, plain text (escaped where shown)
    css: str = ""  # "good" only for a confirmed, significant gain; "bad" for a confirmed loss or no gain
    fields: dict[str, Any] = field(default_factory=dict)  # the numbers, for summary.csv (verdict_<name>)

    @property
    def is_win(self) -> bool:
        return self.css == "good"

    @property
    def badge(self) -> str:
        """WIN, NO WIN, NOT SIGNIFICANT, NOT CONFIRMED YET or WORSE."""
        return BADGES[self.state]

    @property
    def badge_color(self) -> str:
        return BADGE_COLORS[self.badge]


def val_noise(study: optuna.Study, p1: float, p2: float) -> float | None:
    """Standard error of the difference of two val accuracies measured on the study's val set."""
    n = val_size(study)
    if not n or not (is_number(p1) and is_number(p2)):
        return None
    return math.sqrt(p1 * (1 - p1) / n + p2 * (1 - p2) / n)


def val_size(study: optuna.Study) -> int | None:
    base = record.baseline_trial(study)
    config = (record.stored_config(study, base) if base else None) or study.user_attrs.get(keys.BASE_CONFIG) or {}
    value = config.get("val_size") if isinstance(config, dict) else None
    return int(value) if is_number(value) else None


def study_verdict(study: optuna.Study) -> Verdict:
    """The one verdict (see the module docstring)."""
    if len(study.directions) > 1:
        return _pareto_verdict(study)
    best = confirms.headline_comparison(study)
    if best is not None:
        return _confirmed_verdict(best)
    return _val_verdict(study)


def _confirmed_verdict(c: confirms.Comparison) -> Verdict:
    test = c.test()
    fields = {"source": f"confirm at {c.profile}", **c.row()}

    def arm(mean, std) -> str:
        return pct(mean) + (f" ± {spread(std)}" if std is not None else "")

    seeds = (
        f"{len(c.best)} seed{'s' if len(c.best) != 1 else ''} each"
        if len(c.best) == len(c.baseline)
        else f"{len(c.best)} and {len(c.baseline)} seeds"
    )
    arms = (
        f"trial {c.trial} {arm(c.best_mean, c.best_std)} vs the baseline {arm(c.baseline_mean, c.baseline_std)} "
        f"(test accuracy with TTA, mean ± std over {seeds})"
    )
    head = f"Confirmed at profile {c.profile}: {arms}; difference {pts(c.difference)}"
    if test is None:
        head = head.replace("Confirmed at profile", "Confirm started at profile", 1)
        return Verdict(
            "too_few_seeds",
            f"{head}. Too few seeds to test it (a t-test needs two or more a "
            f"side with some spread): not yet evidence of a gain. {seeds_advice(c)}",
            "",
            fields,
        )
    head += f" (95% interval {pts(test.low)} to {pts(test.high)}), {test_label(c)} p = {p_value(test.p)}"
    if c.family > 1:  # Bonferroni: the best of K confirmed trials was picked by the same numbers
        head += f" (the best of {c.family} trials confirmed here: significant below {p_value(c.alpha)}, Bonferroni)"
    if test.p >= c.alpha:
        return Verdict(
            "not_significant",
            f"{head}: not significant at the 5% level, so the difference may be noise. No win is claimed. "
            f"{detectable_text(c)}",
            "",
            fields,
        )
    if c.difference > 0:
        return Verdict("confirmed", f"{head}: trial {c.trial} beats the baseline at this profile.", "good", fields)
    return Verdict("confirmed_worse", f"{head}: the baseline is better at this profile.", "bad", fields)


def test_label(c: confirms.Comparison) -> str:
    """ "paired" (every seed ran in both arms: the test is on the per-seed differences) or "Welch"."""
    test = c.test()
    return "paired" if test is not None and test.kind == "paired" else "Welch"


def detectable_text(c: confirms.Comparison) -> str:
    """What these seeds could detect, and, under FEW_SEEDS a side, a warning with a seed count."""
    found = c.detectable()
    if found is None:
        return seeds_advice(c)
    text = (
        f"These seeds detect a true difference of {spread(found)} or more with 80% power "
        f"(at the {p_value(c.alpha)} level, from the observed spread)."
    )
    return f"{text} {seeds_advice(c)}" if c.few_seeds or found > abs(c.difference or 0) else text


def seeds_advice(c: confirms.Comparison) -> str:
    """How many seeds a side would answer: detect a difference as large as the one observed (>= MIN_EFFECT)."""
    n = c.suggested_seeds()
    target = spread(max(abs(c.difference or 0.0), confirms.MIN_EFFECT))
    least = min(len(c.best), len(c.baseline))
    few = (
        f"With {least} seed{'s' if least != 1 else ''} a side the interval is too wide to decide anything. "
        if c.few_seeds
        else ""
    )
    if c.test() is None:
        return f"{few}Run hpsearch confirm with --seeds 5 or more (the seeds already stored are kept)."
    if n is None:
        return f"{few}Detecting {target} would take more than {significance.MAX_SEEDS} seeds a side."
    return (
        f"{few}About {n} seeds a side would detect {target} with 80% power: "
        f"run hpsearch confirm --seeds {n} (the seeds already stored are kept)."
    )


def _val_verdict(study: optuna.Study) -> Verdict:
    index = record.objective_index(study)
    base, best = record.baseline_trial(study), record.best_trial(study)
    base_value = record.trial_value(base, index) if base else None
    best_value = record.trial_value(best, index) if best else None
    n_done = sum(t.state == TrialState.COMPLETE for t in study.trials)
    if best_value is None:
        return Verdict("waiting", "No trial has completed yet, so there is no answer yet.")
    if base_value is None:
        return Verdict(
            "waiting",
            f"Best val accuracy so far {pct(best_value)} (trial {best.number}); the baseline "
            "trial has not completed, so there is nothing to compare it with yet.",
            fields={"best_trial": best.number, "best_val_accuracy": best_value},
        )
    diff = stored(best_value - base_value)
    noise = val_noise(study, best_value, base_value)
    fields = {
        "source": "search (val)",
        "profile": study.user_attrs.get(keys.PROFILE),
        "trial": best.number,
        "baseline_val_accuracy": base_value,
        "best_val_accuracy": best_value,
        "difference": diff,
        "val_noise": noise,
        "val_size": val_size(study),
    }
    better = diff > 0 if record.maximizes(study) else diff < 0
    if best.user_attrs.get(keys.IS_BASELINE) or not better:
        text = (
            f"No completed trial beat the baseline: its {pct(base_value)} val accuracy is the best of "
            f"{n_done} completed trials."
        )
        ahead = ahead_at_same_epoch(study)
        if ahead:
            text += (
                " Stopped early but ahead of the baseline at the same epoch: "
                + "; ".join(f"trial {t} {pts(d)} at epoch {e}" for t, e, d in ahead[:3])
                + "."
            )
        return Verdict("no_gain", text, "bad", fields)
    noise_text = (
        (f"the noise of a difference on {val_size(study):,} val images is {spread(noise)} (one standard error)")
        if noise is not None
        else "its noise is unknown (no val size stored)"
    )
    lead = (
        f"Not yet confirmed: trial {best.number} leads the baseline by {pts(diff)} on val "
        f"({pct(best_value)} vs {pct(base_value)}); {noise_text}"
    )
    todo = (
        " The best of several trials is biased upward; run hpsearch confirm to retrain it and the baseline "
        "over seeds and test the difference."
    )
    if noise is not None and abs(diff) < NOISE_Z * noise:
        return Verdict("within_noise", f"{lead}, so the lead is within the noise.{todo}", "", fields)
    return Verdict("not_confirmed", f"{lead}.{todo}", "", fields)


def ahead_at_same_epoch(study: optuna.Study) -> list[tuple[int, int, float]]:
    """(trial, epoch, lead) of PRUNED trials whose last val accuracy beat the baseline's at that epoch, best
    first: a trial stopped early (by a pruner or a Hyperband budget) is compared with the baseline where it
    stopped, not with the baseline's final value."""
    base, out = record.baseline_trial(study), []
    for trial in study.trials:
        lead = record.baseline_delta(base, trial) if trial.state == TrialState.PRUNED else None
        if lead is not None and lead > 0:
            out.append((trial.number, record.curve(trial)[-1][0], lead))
    return sorted(out, key=lambda x: -x[2])


def pareto_trials(study: optuna.Study) -> list[FrozenTrial]:
    """Optuna's own Pareto set (study.best_trials), by trial number."""
    try:
        return sorted(study.best_trials, key=lambda t: t.number)
    except (ValueError, RuntimeError):
        return []


def _pareto_verdict(study: optuna.Study) -> Verdict:
    front = pareto_trials(study)
    names = record.objectives(study)
    base = record.baseline_trial(study)
    n_done = sum(t.state == TrialState.COMPLETE for t in study.trials)
    if not front:
        return Verdict("waiting", "No trial has completed yet, so there is no Pareto set yet.")
    numbers = [t.number for t in front]
    on_front = base is not None and base.number in numbers
    text = (
        f"Pareto set: trial{'s' if len(numbers) > 1 else ''} {', '.join(map(str, numbers))} "
        f"({len(numbers)} of {n_done} completed trials): none is beaten on every objective "
        f"({' and '.join(names)}) by another trial. "
    )
    if base is None or base.state != TrialState.COMPLETE:
        text += "The baseline trial has not completed."
    elif on_front:
        text += f"The baseline (trial {base.number}) is on it: no trial beats it on every objective."
    else:
        text += f"The baseline (trial {base.number}) is not on it: some trial beats it on every objective."
    return Verdict(
        "pareto",
        text,
        "",
        {"source": "pareto", "pareto_trials": " ".join(map(str, numbers)), "baseline_on_front": on_front},
    )


def evidence_rows(study: optuna.Study) -> list[dict[str, str]]:
    """The evidence side by side, one row per fidelity: the search's own (val, one seed) and each confirm."""
    rows = []
    index = record.objective_index(study)
    base, best = record.baseline_trial(study), record.best_trial(study)
    base_value = record.trial_value(base, index) if base else None
    best_value = record.trial_value(best, index) if best else None
    if base_value is not None and best_value is not None and not best.user_attrs.get(keys.IS_BASELINE):
        noise = val_noise(study, best_value, base_value)
        rows.append(
            {
                "fidelity": f"search at {study.user_attrs.get(keys.PROFILE) or '?'} (val, 1 run)",
                "trial": str(best.number),
                "best": pct(best_value),
                "baseline": pct(base_value),
                "difference": pts(best_value - base_value),
                "uncertainty": f"± {spread(noise)} (1 SE of val noise)" if noise is not None else "—",
                "p": "—",
            }
        )
    for c in confirms.comparisons(study):
        low, high, p = c.interval()
        rows.append(
            {
                "fidelity": f"confirmed at {c.profile} (test TTA, {len(c.best)} + {len(c.baseline)} seeds, "
                f"{test_label(c)})",
                "trial": str(c.trial),
                "best": f"{pct(c.best_mean)} ± {spread(c.best_std)}",
                "baseline": f"{pct(c.baseline_mean)} ± {spread(c.baseline_std)}",
                "difference": pts(c.difference),
                "uncertainty": f"95% CI {pts(low)} to {pts(high)}" if low is not None else "—",
                "p": p_value(p),
            }
        )
    return rows


EVIDENCE_COLUMNS = ("fidelity", "trial", "best", "baseline", "difference", "uncertainty", "p")
