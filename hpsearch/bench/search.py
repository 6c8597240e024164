"""The search benchmark (not a test): which strategy finds the most per epoch, on one profile and one data set.

    hpsearch bench --search [--profile mini] [--trials 16] [--repeats 3] [--strategies random/none,tpe/asha,...]
                            [--spec default] [--data-dir DIR | --synthetic] [--out bench-search]

Every strategy (a sampler and a pruner, search/strategies.py) gets the same budget of epochs: --trials times the
profile's epochs, what the unpruned search spends. A pruning strategy stops trials early and so runs more of
them within it. Each (strategy, repeat) is a real study (`run_study`, one worker, trial 0 the baseline) with
sampler seed = the repeat number, so repeat r of every strategy starts from the same random trials; a
strategy's difference from the no-pruning random search is taken within each repeat, then summarised.

What it writes under --out, as each study finishes (a rerun skips what is there, and an interrupted study starts
over, replaying what it had trained: an interrupted benchmark resumes): results.jsonl (one line per study: its trials in order, with the epochs each trained and its value),
replay.jsonl (see below), studies/<strategy>-r<repeat>.journal (each study, for `hpsearch report`); and, at the
end, search-bench.csv (one row per strategy), units.csv (one row per study) and search-bench.html (anytime
curves: the best validation accuracy so far against the epochs spent, median and min-max over repeats).

Replay: training is deterministic (same config, seed, machine and backend give the same numbers), and the
strategies share trials: repeat r's random search and its asha variant sample the same configurations, and
TPE's first 10 trials are random ones. So a configuration trained once is not trained again: its epochs are
replayed from replay.jsonl to the study's pruner, exactly as training would report them. The epochs a study
spends are counted the same either way; only the wall time is saved (units.csv says how many were replayed).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import math
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from hpsearch.errors import HpsearchError

DEFAULT_STRATEGIES = ("random/none", "tpe/none", "tpe/baseline", "tpe/asha", "random/asha")
REFERENCE = "random/none"  # what every strategy is compared with
RESULTS, REPLAY = "results.jsonl", "replay.jsonl"


# --- strategies and the replaying trainer ----------------------------------------------------------------------


@dataclass(frozen=True)
class Strategy:
    sampler: str
    pruner: str
    floor: bool = False

    @property
    def name(self) -> str:
        return f"{self.sampler}/{self.pruner}" + ("+floor" if self.floor else "")


def parse_strategies(text: str) -> list[Strategy]:
    """ "random/none,tpe/asha+floor" -> strategies; one line naming the problem otherwise."""
    from hpsearch.search.strategies import PRUNERS, SAMPLERS

    out = []
    for item in (t.strip() for t in text.split(",") if t.strip()):
        sampler, _, pruner = item.partition("/")
        pruner, floor = (pruner[: -len("+floor")], True) if pruner.endswith("+floor") else (pruner, False)
        if sampler not in SAMPLERS or pruner not in PRUNERS:
            raise HpsearchError(
                f"--strategies: {item!r} is not SAMPLER/PRUNER[+floor] with a sampler from {', '.join(SAMPLERS)} "
                f"and a pruner from {', '.join(PRUNERS)}, e.g. tpe/asha"
            )
        out.append(Strategy(sampler, pruner, floor))
    if not out:
        raise HpsearchError("--strategies names no strategy; e.g. --strategies random/none,tpe/asha")
    return list(dict.fromkeys(out))


def config_key(config) -> str:
    return hashlib.sha256(json.dumps(config.to_dict(), sort_keys=True, default=str).encode()).hexdigest()[:20]


class ReplayTrainer:
    """`train` with a memory: a configuration trained to its end before is replayed, epoch by epoch, to the
    trial's on_epoch (which may prune it, as it would have pruned the training); one stopped early is replayed
    as far as it got, then trained for real if the trial goes on (the epochs already reported are not reported
    again: by determinism they are the same). What it trains is appended to `path` at once.

    Several benchmark processes may share one `path` (e.g. `--strategies` split over two commands on one
    --out): a process re-reads what the others appended before training, and a configuration another process
    is training (its "claim" line, fresh) is waited for rather than trained twice."""

    CLAIM_SECONDS = 900.0  # a claim older than this is a process that died: train it here

    def __init__(self, path: Path, train: Callable[..., Any], poll: float = 2.0) -> None:
        self.path, self.train, self.poll = path, train, poll
        self.runs: dict[str, dict] = {}
        self.claims: dict[str, tuple[str, float]] = {}  # key -> (owner, time claimed)
        self.owner = f"{os.uname().nodename}:{os.getpid()}"
        self.replayed, self._offset = 0, 0
        self._read_new()

    def _read_new(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("rb") as f:
            f.seek(self._offset)
            chunk = f.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]  # a line still being written is read next time
        self._offset += len(complete)
        for line in complete.decode("utf-8", "replace").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:  # a line cut by an interrupted write: that run is trained again
                continue
            if not isinstance(row, dict) or not isinstance(row.get("key"), str):
                continue
            if "claim" in row:
                self.claims[row["key"]] = (str(row["claim"]), float(row.get("time", 0)))
            else:
                self._keep(row)

    def _keep(self, row: dict) -> None:
        old = self.runs.get(row["key"])
        if old is None or row.get("result") or len(row.get("epochs", [])) > len(old.get("epochs", [])):
            self.runs[row["key"]] = row
        self.claims.pop(row["key"], None)

    def _append(self, row: dict) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        if "claim" not in row:
            self._keep(row)

    def _known(self, key: str) -> dict:
        """What is known of `key`, after waiting for another process that is training it."""
        self._read_new()
        while key not in self.runs and key in self.claims:
            owner, since = self.claims[key]
            if owner == self.owner or time.time() - since > self.CLAIM_SECONDS:
                break
            time.sleep(self.poll)
            self._read_new()
        return self.runs.get(key, {})

    def __call__(self, config, data, on_epoch=None, **kwargs):
        from hpsearch.core.result import RunResult

        key = config_key(config)
        known = self._known(key)
        epochs = list(known.get("epochs", []))
        for number, row in enumerate(epochs, start=1):
            if on_epoch is not None:
                on_epoch(number, row)  # TrialPruned propagates: pruned within what is known
        if known.get("result"):
            self.replayed += 1
            result = dict(known["result"])
            return RunResult(config=config, **{k: result[k] for k in _RESULT_FIELDS if k in result})
        seen: list[dict] = []
        self._append({"key": key, "claim": self.owner, "time": time.time()})

        def record(number: int, row: dict) -> None:
            seen.append(row)
            if number > len(epochs) and on_epoch is not None:
                try:
                    on_epoch(number, row)
                except BaseException:
                    self._append({"key": key, "epochs": seen})
                    raise

        result = self.train(config, data, on_epoch=record, **kwargs)
        self._append({"key": key, "epochs": seen, "result": {k: getattr(result, k) for k in _RESULT_FIELDS}})
        return result


_RESULT_FIELDS = ("device", "epochs", "val_accuracy", "train_seconds", "images_per_second", "stopped_reason", "backend")


# --- running the studies ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    profile: str
    spec: str
    trials: int  # the budget, in trials of the profile's full length
    repeats: int
    strategies: tuple[Strategy, ...]

    def units(self) -> list[tuple[Strategy, int]]:
        """Repeat by repeat, so that an interrupted benchmark has every strategy for the repeats it finished."""
        return [(s, r) for r in range(self.repeats) for s in self.strategies]


def run_search_bench(plan: Plan, data, out: Path, say: Callable[[str], None] = print, train=None) -> list[dict]:
    """Run what results.jsonl does not hold yet; returns every unit's record (those there and the new)."""
    import optuna
    from rich.console import Console

    from hpsearch.core.train import train as real_train

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    out.mkdir(parents=True, exist_ok=True)
    done = {(u["strategy"], u["repeat"]): u for u in read_results(out / RESULTS) if _same_plan(u, plan)}
    trainer = ReplayTrainer(out / REPLAY, train or real_train)
    quiet = Console(file=open(os.devnull, "w"))  # noqa: SIM115 - the studies' own lines; one line per study here
    for strategy, repeat in plan.units():
        if (strategy.name, repeat) in done:
            continue
        journal = out / "studies" / f"{strategy.name.replace('/', '-').replace('+', '-')}-r{repeat}.journal"
        journal.parent.mkdir(exist_ok=True)
        with _unit_lock(journal) as mine:
            if not mine:
                say(f"{strategy.name} repeat {repeat}: another process is running it; skipped here")
                continue
            if (strategy.name, repeat) in {(u["strategy"], u["repeat"]) for u in read_results(out / RESULTS)}:
                continue  # another process finished it meanwhile
            done[(strategy.name, repeat)] = _run_unit(plan, strategy, repeat, journal, data, out, trainer, quiet, say)
    for unit in read_results(out / RESULTS):  # what other processes finished too
        if _same_plan(unit, plan):
            done.setdefault((unit["strategy"], unit["repeat"]), unit)
    return [done[(s.name, r)] for s, r in plan.units() if (s.name, r) in done]


@contextlib.contextmanager
def _unit_lock(journal: Path) -> Iterator[bool]:
    """Whether this process may run the study of `journal`: an exclusive lock, so that several benchmark
    processes on one --out never run (or reset) the same study at once; released when the study ends."""
    with open(journal.with_name(journal.name + ".unit.lock"), "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run_unit(plan, strategy, repeat, journal: Path, data, out: Path, trainer, quiet, say) -> dict:
    """One (strategy, repeat) study from its start (an interrupted one starts over: its trained trials replay);
    appended to results.jsonl when it ends."""
    from hpsearch.core.config import TrainConfig
    from hpsearch.core.device import backend
    from hpsearch.search import specs
    from hpsearch.search.optuna_engine import run_study
    from hpsearch.search.study import max_epochs

    spec, base = specs.load(plan.spec), TrainConfig.from_profile(plan.profile)
    epochs = max_epochs(spec, base)
    budget = plan.trials * epochs
    started, replayed = time.monotonic(), trainer.replayed
    for stale in (journal, journal.with_name(journal.name + ".workers.lock")):
        stale.unlink(missing_ok=True)
    study = run_study(
        spec,
        data,
        trials=budget,  # a cap never reached: the budget in epochs ends the study
        profile=plan.profile,
        base=base,
        storage=str(journal),
        study_name=f"bench-{strategy.name}-r{repeat}",
        out=out,
        seed=repeat,
        sampler=strategy.sampler,
        pruner=strategy.pruner,
        prune_floor=strategy.floor,
        epoch_budget=budget,
        console=quiet,
        trainer=trainer,
    )
    unit = _unit_record(study, plan, strategy, repeat, epochs, budget, backend())
    unit.update(seconds=round(time.monotonic() - started, 1), replayed=trainer.replayed - replayed)
    with (out / RESULTS).open("a", encoding="utf-8") as f:
        f.write(json.dumps(unit) + "\n")
    best = final_best(unit)
    say(
        f"{strategy.name} repeat {repeat}: {len(unit['trials'])} trials, {spent(unit)} epochs, best "
        f"{'-' if best is None else f'{100 * best:.1f} %'}, {unit['seconds'] / 60:.1f} min "
        f"({unit['replayed']} trials replayed)"
    )
    return unit


def _same_plan(unit: dict, plan: Plan) -> bool:
    return (unit.get("profile"), unit.get("spec"), unit.get("budget_trials")) == (plan.profile, plan.spec, plan.trials)


def _unit_record(study, plan: Plan, strategy: Strategy, repeat: int, epochs: int, budget: int, backend: str) -> dict:
    from optuna.trial import TrialState

    from hpsearch.record import keys

    rows = []
    for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        if t.state not in (TrialState.COMPLETE, TrialState.PRUNED):
            continue
        rows.append(
            {
                "number": t.number,
                "state": t.state.name,
                "epochs": int(t.user_attrs.get(keys.EPOCHS_RUN) or 0),
                "value": t.values[0] if t.state == TrialState.COMPLETE else None,
                "baseline": bool(t.user_attrs.get(keys.IS_BASELINE)),
                "pruned_by": t.user_attrs.get(keys.PRUNED_BY),
            }
        )
    return {
        "strategy": strategy.name,
        "repeat": repeat,
        "seed": repeat,
        "profile": plan.profile,
        "spec": plan.spec,
        "budget_trials": plan.trials,
        "epochs_per_trial": epochs,
        "budget_epochs": budget,
        "backend": backend,
        "trials": rows,
    }


def read_results(path: Path) -> list[dict]:
    """results.jsonl's units; a line cut by an interrupted write is skipped (that study runs again)."""
    if not path.exists():
        return []
    units = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            unit = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(unit, dict) and isinstance(unit.get("trials"), list):
            units.append(unit)
    return units


# --- what the units say ---------------------------------------------------------------------------------------


def anytime(unit: dict) -> list[tuple[int, float | None]]:
    """(epochs spent, best validation accuracy of a completed trial so far) after each trial, within the budget."""
    points, total, best = [], 0, None
    for trial in unit["trials"]:
        total += trial["epochs"]
        if total > unit["budget_epochs"]:
            break
        if trial["value"] is not None:
            best = trial["value"] if best is None else max(best, trial["value"])
        points.append((total, best))
    return points


def spent(unit: dict) -> int:
    return sum(t["epochs"] for t in unit["trials"])


def final_best(unit: dict) -> float | None:
    curve = anytime(unit)
    return curve[-1][1] if curve else None


def best_at(unit: dict, epochs: float) -> float | None:
    """The best so far once `epochs` were spent."""
    best = None
    for total, value in anytime(unit):
        if total > epochs:
            break
        best = value
    return best


def epochs_to_reach(unit: dict, target: float | None) -> int | None:
    """The epochs spent when the best so far first reached `target` (None: never, within the budget)."""
    if target is None:
        return None
    for total, best in anytime(unit):
        if best is not None and best >= target - 1e-9:
            return total
    return None


def epochs_saved(unit: dict) -> float:
    """The fraction of its trials' epochs that pruning did not train: 1 - spent / (trials x epochs)."""
    trials = unit["trials"]
    return 1 - spent(unit) / (len(trials) * unit["epochs_per_trial"]) if trials else 0.0


@dataclass
class Row:
    strategy: str
    repeats: int
    final_best: list[float]
    trials: list[int]
    epochs_saved: list[float]
    delta: list[float]  # final best minus the reference's, in the same repeat
    to_reach: list[int | None]  # epochs to reach the reference's final best, in the same repeat
    budget: int


def summarise(units: list[dict], reference: str = REFERENCE) -> list[Row]:
    by_strategy: dict[str, dict[int, dict]] = {}
    for unit in units:
        by_strategy.setdefault(unit["strategy"], {})[unit["repeat"]] = unit
    ref = by_strategy.get(reference, {})
    rows = []
    for name, repeats in by_strategy.items():
        finals, deltas, reach = [], [], []
        for r, unit in sorted(repeats.items()):
            best = final_best(unit)
            finals.append(best)
            target = final_best(ref[r]) if r in ref else None
            if best is not None and target is not None:
                deltas.append(best - target)
            if r in ref:
                reach.append(epochs_to_reach(unit, target))
        rows.append(
            Row(
                name,
                len(repeats),
                [f for f in finals if f is not None],
                [len(u["trials"]) for u in repeats.values()],
                [epochs_saved(u) for u in repeats.values()],
                deltas,
                reach,
                next(iter(repeats.values()))["budget_epochs"],
            )
        )
    return rows


def median_span(values: list[float], scale: float = 1.0, digits: int = 1) -> str:
    """ "median (min-max)" of the values, or "-" without any."""
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    fmt = f"{{:.{digits}f}}"
    med, lo, hi = (fmt.format(scale * v) for v in (statistics.median(values), min(values), max(values)))
    return med if len(values) == 1 else f"{med} ({lo}-{hi})"


def delta_text(deltas: list[float]) -> str:
    """The mean difference in points with its standard error over repeats (the noise of the difference)."""
    if not deltas:
        return "-"
    mean = statistics.fmean(deltas)
    if len(deltas) < 2:
        return f"{100 * mean:+.1f}"
    se = statistics.stdev(deltas) / math.sqrt(len(deltas))
    return f"{100 * mean:+.1f} ± {100 * se:.1f}"


def reach_text(reach: list[int | None], budget: int) -> str:
    """Median epochs to reach the reference's best, as epochs and as a share of the budget; never reached
    counts as past the budget."""
    if not reach:
        return "-"
    known = [r if r is not None else math.inf for r in reach]
    med = statistics.median(known)
    missed = sum(r is None for r in reach)
    text = "not reached" if math.isinf(med) else f"{med:.0f} ({100 * med / budget:.0f} %)"
    return text + (f", {missed} of {len(reach)} never" if missed else "")


COLUMNS = (
    "strategy",
    "repeats",
    "final best val %",
    "minus random/none, pts",
    "trials run",
    "epochs saved %",
    "epochs to reach random/none's best",
)


def table_rows(rows: list[Row]) -> list[list[str]]:
    return [
        [
            r.strategy,
            str(r.repeats),
            median_span(r.final_best, 100),
            "reference" if r.strategy == REFERENCE else delta_text(r.delta),
            median_span(r.trials, digits=0),
            median_span(r.epochs_saved, 100, 0),
            reach_text(r.to_reach, r.budget),
        ]
        for r in rows
    ]


def summary_numbers(row: Row) -> dict:
    """One strategy's figures as numbers (search-bench.csv): accuracies as fractions, differences in points."""

    def med(values):
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else None

    reach = [math.inf if r is None else r for r in row.to_reach]
    reached = med(reach) if reach else None
    return {
        "strategy": row.strategy,
        "repeats": row.repeats,
        "final_best_median": med(row.final_best),
        "final_best_min": min(row.final_best, default=None),
        "final_best_max": max(row.final_best, default=None),
        "minus_reference_pts_mean": 100 * statistics.fmean(row.delta) if row.delta else None,
        "minus_reference_pts_se": 100 * statistics.stdev(row.delta) / math.sqrt(len(row.delta))
        if len(row.delta) > 1
        else None,
        "trials_median": med(row.trials),
        "epochs_saved_median": med(row.epochs_saved),
        "epochs_to_reach_reference_median": None if reached is None or math.isinf(reached) else reached,
        "reached_reference_in": sum(r is not None for r in row.to_reach),
        "budget_epochs": row.budget,
    }


def noise_floor(units: list[dict], val_size: int) -> float:
    """One standard error, in points, of the difference of two validation accuracies on `val_size` images at
    the benchmark's accuracy level (binomial): what a single comparison cannot resolve."""
    finals = [f for f in map(final_best, units) if f is not None]
    p = statistics.fmean(finals) if finals else 0.5
    return 100 * math.sqrt(2 * p * (1 - p) / val_size)


# --- writing it down ---------------------------------------------------------------------------------------


def write_outputs(units: list[dict], out: Path, plan: Plan, val_size: int, machine: str) -> list[Path]:
    import pandas as pd

    from hpsearch.files import write_csv, write_text

    rows = summarise(units)
    summary = pd.DataFrame(table_rows(rows), columns=list(COLUMNS))
    numbers = pd.DataFrame([summary_numbers(r) for r in rows])
    per_unit = pd.DataFrame(
        [
            {
                "strategy": u["strategy"],
                "repeat": u["repeat"],
                "trials": len(u["trials"]),
                "epochs_spent": spent(u),
                "budget_epochs": u["budget_epochs"],
                "final_best_val_accuracy": final_best(u),
                "epochs_saved": round(epochs_saved(u), 4),
                "seconds": u.get("seconds"),
                "replayed_trials": u.get("replayed"),
                "backend": u.get("backend"),
            }
            for u in units
        ]
    )
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "search-bench.csv", out / "units.csv", out / "search-bench.html"]
    write_csv(paths[0], numbers)
    write_csv(paths[1], per_unit)
    write_text(paths[2], html_page(units, summary, plan, val_size, machine))
    return paths


def anytime_figure(units: list[dict]):
    """Best validation accuracy so far against epochs spent: per strategy, the median over repeats as a line
    and the min-max as a band, on a grid of every epoch of the budget."""
    import plotly.graph_objects as go

    fig = go.Figure()
    palette = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
    by_strategy: dict[str, list[dict]] = {}
    for unit in units:
        by_strategy.setdefault(unit["strategy"], []).append(unit)
    for i, (name, group) in enumerate(by_strategy.items()):
        colour = palette[i % len(palette)]
        budget = group[0]["budget_epochs"]
        grid = list(range(1, budget + 1))
        lows, meds, highs, xs = [], [], [], []
        for x in grid:
            values = [best_at(u, x) for u in group]
            if any(v is None for v in values):
                continue
            xs.append(x)
            lows.append(100 * min(values))
            meds.append(100 * statistics.median(values))
            highs.append(100 * max(values))
        fig.add_trace(
            go.Scatter(
                x=xs + xs[::-1],
                y=highs + lows[::-1],
                fill="toself",
                fillcolor=colour,
                opacity=0.15,
                line={"width": 0},
                hoverinfo="skip",
                showlegend=False,
                legendgroup=name,
            )
        )
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=meds,
                mode="lines",
                line={"shape": "hv", "color": colour, "width": 2},
                name=f"{name} (n={len(group)})",
                legendgroup=name,
            )
        )
    fig.update_layout(
        xaxis_title="epochs spent",
        yaxis_title="best validation accuracy so far, %",
        template="plotly_white",
        height=480,
        margin={"l": 60, "r": 20, "t": 30, "b": 50},
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


def html_page(units: list[dict], summary, plan: Plan, val_size: int, machine: str) -> str:
    from html import escape

    figure = anytime_figure(units).to_html(full_html=False, include_plotlyjs=True, config={"responsive": True})
    noise = noise_floor(units, val_size)
    head = "".join(f"<th>{escape(str(c))}</th>" for c in summary.columns)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in row) + "</tr>" for row in summary.values)
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>hpsearch search benchmark</title>
<style>body{{font-family:system-ui,sans-serif;margin:1.5rem;max-width:1100px;color:#222}}
.scroll{{overflow-x:auto}} table{{border-collapse:collapse;font-size:.9rem}}
td,th{{border-bottom:1px solid #ddd;padding:.35rem .6rem;text-align:left;vertical-align:top}}
.note{{color:#555;font-size:.9rem}}</style></head><body>
<h1>Search benchmark: best validation accuracy per epoch spent</h1>
<p>Profile <b>{escape(plan.profile)}</b>, spec <b>{escape(plan.spec)}</b>, a budget of {plan.trials} trials x
{units[0]["epochs_per_trial"] if units else "?"} epochs for every strategy, {plan.repeats} repeat(s) (sampler seed = repeat).
Machine: {escape(machine)}. One standard error of the difference of two validation accuracies on {val_size} images at
this accuracy: {noise:.1f} points.</p>
<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>
<p class="note">Cells: median (min-max) over repeats. "Epochs saved": the share of its trials' epochs that pruning did not train. "Minus random/none":
each repeat's final best minus the no-pruning random search's in the same repeat, mean ± its standard error over
repeats. "Epochs to reach": the epochs spent when the best so far first reached the no-pruning random search's
final best in the same repeat (median over repeats; never reached counts as past the budget).</p>
{figure}
<p class="note">Lines: the median over repeats of the best validation accuracy of a completed trial so far;
bands: min-max over repeats. A ranking at a small profile need not hold at <code>full</code>: rerun this
command with <code>--profile full</code> on a GPU to check it.</p></body></html>"""


# --- the command ----------------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--search",
        action="store_true",
        help="instead: which search strategy finds the most per epoch (R repeats of each, the same budget of "
        "epochs); with --trials (default 16: the budget in full-length trials), --repeats (default 3), --profile "
        "(default mini)",
    )
    parser.add_argument(
        "--strategies",
        default=",".join(DEFAULT_STRATEGIES),
        help=f"with --search: SAMPLER/PRUNER[+floor] list (default {','.join(DEFAULT_STRATEGIES)}); every strategy "
        "is compared with random/none; several commands with other --strategies may share one --out (at once too)",
    )
    parser.add_argument("--spec", default="default", help="with --search: the search space (default default)")
    parser.add_argument(
        "--out",
        default="bench-search",
        help="with --search: the folder for results, replays and the page (default bench-search; rerunning "
        "resumes there)",
    )


def run(args) -> int:
    from hpsearch.bench.workers import synthetic_data_dir
    from hpsearch.core.config import TrainConfig, profile_overrides
    from hpsearch.core.data import load_cifar10
    from hpsearch.core.device import detect

    profile = args.profile or "mini"
    profile_overrides(profile)  # an unknown profile: one line
    trials = 16 if args.trials is None else args.trials
    repeats = 3 if args.repeats is None else args.repeats
    if trials < 2 or repeats < 1:
        raise HpsearchError("bench --search needs --trials 2 or more and --repeats 1 or more")
    strategies = parse_strategies(args.strategies)
    plan = Plan(profile, args.spec, trials, repeats, tuple(strategies))
    out = Path(args.out)
    kind, device = detect()
    machine = f"{kind} ({device})"
    base = TrainConfig.from_profile(profile)
    print(
        f"hpsearch bench --search: profile {profile}, spec {args.spec}, budget {trials} trials x {base.epochs} "
        f"epochs per study, {repeats} repeat(s) of {', '.join(s.name for s in strategies)}; {machine}; "
        f"results in {out}/ (rerun to resume)",
        flush=True,
    )
    if args.synthetic:
        data_dir = synthetic_data_dir(out / "synthetic-data", base)
    else:
        data_dir = args.data_dir
    data = load_cifar10(data_dir)
    units = run_search_bench(plan, data, out, say=lambda line: print(line, flush=True))
    print_table(units, base.val_size or 0)
    for path in write_outputs(units, out, plan, base.val_size or 0, machine):
        print(f"wrote {path}")
    return 0


def print_table(units: list[dict], val_size: int) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title="search benchmark: median (min-max) over repeats; differences: mean ± SE; epochs to reach: median "
        "(share of the budget)"
    )
    for column in COLUMNS:
        table.add_column(column, overflow="fold")
    for row in table_rows(summarise(units)):
        table.add_row(*row)
    console = Console()
    console.print(table)
    console.print(
        f"one standard error of a difference of two val accuracies on {val_size} images: "
        f"{noise_floor(units, val_size):.1f} points",
        highlight=False,
    )
