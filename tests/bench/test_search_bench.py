"""The search benchmark (hpsearch/bench/search.py): its arithmetic on hand-made studies, its replays, and that an
interrupted benchmark resumes to the same results."""

from __future__ import annotations

import json
import threading
import time

import pytest

from hpsearch.bench import search as bench
from hpsearch.cli import main
from hpsearch.core.config import TrainConfig
from tests.search.test_optuna_engine import FakeTrain

SPEC = """
[params]
peak_lr = { type = "float", low = 1e-6, high = 1e-2, log = true }
lr_schedule = { type = "categorical", choices = ["triangular", "one_cycle"] }
"""


def unit(strategy, repeat, trials, epochs_per_trial=4, budget_trials=4):
    """trials: (epochs run, value or None for pruned)."""
    return {
        "strategy": strategy,
        "repeat": repeat,
        "epochs_per_trial": epochs_per_trial,
        "budget_epochs": budget_trials * epochs_per_trial,
        "trials": [{"number": i, "epochs": e, "value": v} for i, (e, v) in enumerate(trials)],
    }


# --- arithmetic ---------------------------------------------------------------------------------------------


def test_anytime_counts_epochs_and_keeps_the_best_completed_value_within_the_budget():
    u = unit("x", 0, [(4, 0.5), (1, None), (4, 0.7), (3, None), (4, 0.6), (4, 0.9)])
    assert bench.anytime(u) == [(4, 0.5), (5, 0.5), (9, 0.7), (12, 0.7), (16, 0.7)]  # the 0.9 is past 16 epochs
    assert bench.final_best(u) == 0.7
    assert bench.best_at(u, 8) == 0.5 and bench.best_at(u, 9) == 0.7 and bench.best_at(u, 3) is None
    assert bench.epochs_to_reach(u, 0.7) == 9 and bench.epochs_to_reach(u, 0.71) is None
    assert bench.spent(u) == 20
    assert bench.epochs_saved(u) == pytest.approx(1 - 20 / 24)


def test_summary_compares_each_repeat_with_the_reference_of_that_repeat():
    units = [
        unit("random/none", 0, [(4, 0.5)] * 4),
        unit("random/none", 1, [(4, 0.6)] * 4),
        unit("tpe/asha", 0, [(1, None), (4, 0.55), (1, None), (4, 0.52), (4, 0.4)]),  # reaches 0.5 at 5
        unit("tpe/asha", 1, [(1, None), (1, None), (4, 0.58), (4, 0.59), (4, 0.3)]),  # never reaches 0.6
    ]
    rows = {r.strategy: r for r in bench.summarise(units)}
    asha = rows["tpe/asha"]
    assert asha.delta == pytest.approx([0.05, -0.01])
    assert asha.to_reach == [5, None]
    assert asha.final_best == [0.55, 0.59]
    assert rows["random/none"].to_reach == [4, 4] and rows["random/none"].delta == [0, 0]
    table = {row[0]: row for row in bench.table_rows(list(rows.values()))}
    assert table["tpe/asha"][3] == "+2.0 ± 3.0"  # mean of +5 and -1 points, SE = stdev / sqrt(2)
    assert "1 of 2 never" in table["tpe/asha"][6]
    numbers = bench.summary_numbers(asha)
    assert numbers["minus_reference_pts_mean"] == pytest.approx(2.0)
    assert numbers["epochs_to_reach_reference_median"] is None  # median of 5 and never is past the budget
    assert numbers["reached_reference_in"] == 1


def test_strategies_are_parsed_or_refused_in_one_line():
    parsed = bench.parse_strategies("random/none, tpe/asha+floor,random/none")
    assert [s.name for s in parsed] == ["random/none", "tpe/asha+floor"] and parsed[1].floor
    for bad in ("tpe", "tpe/nope", "bogus/none", " , "):
        with pytest.raises(bench.HpsearchError):
            bench.parse_strategies(bad)


def test_a_bad_strategy_on_the_command_line_is_one_line_and_exit_2(capsys, tmp_path):
    assert main(["bench", "--search", "--strategies", "tpe/sometimes", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "tpe/sometimes" in err


# --- running it --------------------------------------------------------------------------------------------


class CountingTrain(FakeTrain):
    """The engine's fake training (accuracy grows with log(lr)), counting the runs, optionally interrupted."""

    def __init__(self, interrupt_at: int | None = None):
        super().__init__()
        self.calls, self.interrupt_at = 0, interrupt_at

    def __call__(self, config, data, on_epoch=None, **kwargs):
        self.calls += 1
        if self.interrupt_at is not None and self.calls == self.interrupt_at:
            raise KeyboardInterrupt
        return super().__call__(config, data, on_epoch=on_epoch)


@pytest.fixture
def plan(tmp_path, monkeypatch):
    monkeypatch.setattr("gc.collect", lambda *args: 0)  # a second a trial with a backend loaded; fakes hold nothing
    spec = tmp_path / "lr.toml"
    spec.write_text(SPEC)
    strategies = bench.parse_strategies("random/none,random/asha,tpe/baseline")
    return bench.Plan("smoke", str(spec), trials=4, repeats=2, strategies=tuple(strategies))


def comparable(units):
    return [(u["strategy"], u["repeat"], [(t["number"], t["epochs"], t["value"]) for t in u["trials"]]) for u in units]


def test_an_interrupted_benchmark_resumes_to_the_same_results(tmp_path, plan):
    straight = CountingTrain()
    expected = bench.run_search_bench(plan, None, tmp_path / "straight", say=lambda line: None, train=straight)
    assert len(expected) == 6 and all(bench.spent(u) >= 4 * 4 for u in expected)
    assert any(t["value"] is None for u in expected for t in u["trials"]), "asha or the baseline rule pruned"

    out = tmp_path / "interrupted"
    with pytest.raises(KeyboardInterrupt):
        bench.run_search_bench(plan, None, out, say=lambda line: None, train=CountingTrain(interrupt_at=9))
    kept = bench.read_results(out / bench.RESULTS)
    assert 0 < len(kept) < 6
    again = CountingTrain()
    resumed = bench.run_search_bench(plan, None, out, say=lambda line: None, train=again)
    assert comparable(resumed) == comparable(expected)
    assert again.calls < straight.calls  # what was trained before the interrupt is replayed, not trained again


def test_replays_share_trials_between_strategies(tmp_path, plan):
    train = CountingTrain()
    units = bench.run_search_bench(plan, None, tmp_path, say=lambda line: None, train=train)
    trials = sum(len(u["trials"]) for u in units)
    assert train.calls < trials  # random/asha samples what random/none did; every study starts with the baseline
    assert sum(u["replayed"] for u in units) > 0
    random_none = [u for u in units if u["strategy"] == "random/none" and u["repeat"] == 0][0]
    random_asha = [u for u in units if u["strategy"] == "random/asha" and u["repeat"] == 0][0]
    by_number = {t["number"]: t for t in random_none["trials"]}
    for t in random_asha["trials"]:  # the same configuration gives the same value, replayed or trained
        if t["value"] is not None and t["number"] in by_number:
            assert t["value"] == by_number[t["number"]]["value"]


def test_a_configuration_another_process_is_training_is_waited_for(tmp_path):
    path = tmp_path / "replay.jsonl"
    first, second = CountingTrain(), CountingTrain()
    a = bench.ReplayTrainer(path, first, poll=0.01)
    b = bench.ReplayTrainer(path, second, poll=0.01)
    b.owner = "another process"
    config = TrainConfig.from_profile("smoke", lr_schedule="one_cycle", peak_lr=3e-3)
    path.write_text(json.dumps({"key": bench.config_key(config), "claim": a.owner, "time": time.time()}) + "\n")
    rows = []
    waiter = threading.Thread(target=lambda: rows.append(b(config, None)))
    waiter.start()
    time.sleep(0.1)
    assert waiter.is_alive()  # waiting for the claim
    result = a(config, None)
    waiter.join(5)
    assert second.calls == 0 and first.calls == 1
    assert rows[0].val_accuracy == result.val_accuracy and rows[0].epochs == result.epochs


def test_the_outputs_are_written_with_numbers_and_escaped_names(tmp_path):
    units = [unit("random/none", 0, [(4, 0.5)] * 4), unit("tpe/asha", 0, [(1, None), (4, 0.6), (4, 0.55), (4, 0.5)])]
    plan = bench.Plan("<mini>", "default", 4, 1, tuple(bench.parse_strategies("random/none,tpe/asha")))
    csv, per_unit, page = bench.write_outputs(units, tmp_path, plan, 1000, "CPU <test>")
    text = csv.read_text()
    assert text.splitlines()[0].startswith("strategy,repeats,final_best_median")
    assert "tpe/asha,1,0.6," in text
    html = page.read_text()
    assert "&lt;mini&gt;" in html and "<mini>" not in html and "CPU &lt;test&gt;" in html
    assert "plotly" in html.lower() and "tpe\\u002fasha (n=1)" in html  # a legend entry (plotly's JSON escapes /)


def test_a_study_another_process_runs_is_skipped_not_reset(tmp_path, plan):
    """Two benchmark commands on one --out: the one that finds a study locked leaves its journal alone."""
    import fcntl

    journal = tmp_path / "out" / "studies" / "random-none-r0.journal"
    journal.parent.mkdir(parents=True)
    journal.write_text("another process's study\n")
    lines = []
    with open(journal.with_name(journal.name + ".unit.lock"), "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # flock locks are per open file: this one stands for another process
        units = bench.run_search_bench(plan, None, tmp_path / "out", say=lines.append, train=CountingTrain())
    assert journal.read_text() == "another process's study\n"
    assert "random/none repeat 0: another process is running it; skipped here" in lines
    assert ("random/none", 0) not in {(u["strategy"], u["repeat"]) for u in units} and len(units) == 5


def test_the_command_runs_repeats_of_each_strategy_on_synthetic_data(tmp_path, monkeypatch, capsys):
    """`bench --search --synthetic --repeats 2`: generated images (no CIFAR-10: --data-dir names none), two
    repeats of each strategy, the table printed and the files written."""
    monkeypatch.setattr("gc.collect", lambda *args: 0)
    monkeypatch.setattr("hpsearch.core.train.train", CountingTrain())
    (tmp_path / "lr.toml").write_text(SPEC)
    out = tmp_path / "bench"
    argv = ["bench", "--search", "--synthetic", "--data-dir", str(tmp_path / "no-cifar-here"), "--profile", "smoke"]
    argv += ["--trials", "2", "--repeats", "2", "--strategies", "random/none,random/asha"]
    assert main([*argv, "--spec", str(tmp_path / "lr.toml"), "--out", str(out)]) == 0
    units = bench.read_results(out / bench.RESULTS)
    assert sorted((u["strategy"], u["repeat"]) for u in units) == [
        ("random/asha", 0),
        ("random/asha", 1),
        ("random/none", 0),
        ("random/none", 1),
    ]
    assert (out / "synthetic-data" / "cifar-10-batches-py" / "data_batch_1").is_file()
    assert all(u["budget_trials"] == 2 for u in units)
    assert (out / "search-bench.csv").is_file() and "random/asha" in capsys.readouterr().out
