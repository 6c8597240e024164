"""Every option of `baseline`, `study` and `bench` reaches what it drives: a walk over the commands' own parsers, so
a new option is walked too. Each command runs up to the call that would train (run_baseline, run_study,
run_kt_study: replaced by a recorder, nothing trains), once with base arguments and once with the option
changed; what the call received (its config, trials, seed, pruner, storage, names, folders, data folder)
must differ. An option missing from the table fails the walk: give it another value, or an entry in
ELSEWHERE saying which test covers it."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import pytest
from optuna.storages import InMemoryStorage

from hpsearch.cli import build_parser
from hpsearch.commands import baseline as baseline_command
from hpsearch.commands import study as study_command


class _Called(Exception):
    def __init__(self, what: str, args: tuple, kwargs: dict):
        super().__init__(what)
        self.what, self.args_, self.kwargs = what, args, kwargs


def _recorder(what: str):
    def record(*args, **kwargs):
        raise _Called(what, args, kwargs)

    return record


class _Data:
    """What the commands read from the loaded data before training: where it came from."""

    def __init__(self, source):
        self.source = source


def _plain(value):
    """What a call received, as comparable data (configs as dicts, specs by path, consoles dropped)."""
    if isinstance(value, _Data):
        return {"data": value.source}
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if dataclasses.is_dataclass(value):  # the search benchmark's plan and strategies
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "params") and hasattr(value, "path"):
        return {"spec": value.path}
    if isinstance(value, (list, tuple)):  # callbacks and hooks by their kind (two instances never compare equal)
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool, type(None), list, tuple, dict)):
        return value
    return type(value).__name__


# option: (another value, extra base arguments it needs)
BASELINE = {
    "--profile": ("cpu", []),
    "--data-dir": ("other-data", []),
    "--seed": ("5", []),
    "--epochs": ("3", []),
    "--out": ("other-out", []),
    "--name": ("named-run", []),
    "--params": ("params.json", []),
    "--summary": (None, []),
    "--no-tensorboard": (None, []),
}
STUDY = {
    "--spec": ("architecture", []),
    "--trials": ("5", []),
    "--profile": ("cpu", []),
    "--data-dir": ("other-data", []),
    "--storage": ("other.journal", []),
    "--study-name": ("named-study", []),
    "--engine": ("keras-tuner", []),
    "--tuner": ("bayesian", ["--engine", "keras-tuner"]),
    "--seed": ("5", []),
    "--timeout": ("60", []),
    "--out": ("other-out", []),
    "--objectives": ("accuracy,train_seconds", []),
    "--sampler": ("random", []),
    "--pruner": ("median", []),
    "--prune-floor": (None, ["--pruner", "median"]),
    "--prune-margin": ("0.1", []),
    "--prune-warmup": ("2", []),
    "--no-prune": (None, []),
    "--keep-models": ("0", []),
    "--no-tensorboard": (None, []),
}
# options whose effect lies before or beyond the recorded call, and the tests that cover them there
ELSEWHERE = {
    "--verbose": "read by cli.py before the command runs (tests/test_cli.py)",
    "--backend": "read by cli.py before Keras loads (tests/test_cli.py, tests/core/test_backends.py)",
    "--cache-dir": "read by cli.py before Keras loads (tests/test_cli.py)",
    "--workers": "starts worker processes (tests/search/test_workers.py)",
    "--gpus": "starts worker processes (tests/search/test_workers.py)",
    "--worker-number": "set by the parent for its workers (tests/search/test_workers.py)",
    "--mlflow": "logs to a tracking server, checked before training (tests/track/test_mlflow.py)",
}


def _options(command: str) -> list[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return [
        a.option_strings[-1]
        for a in sub.choices[command]._actions
        if a.option_strings and not isinstance(a, argparse._HelpAction)
    ]


def _argv(base: list[str], option: str, table: dict, tmp_path) -> list[str]:
    value, needs = table[option]
    extra = [option] if value is None else [option, str(tmp_path / value) if "other" in value else value]
    if option == "--params":
        (tmp_path / "params.json").write_text(json.dumps({"label_smoothing": 0.2}))
        extra = [option, str(tmp_path / "params.json")]
    return base + needs + extra


def _observe(module, argv: list[str], monkeypatch, capsys) -> dict:
    """What the command hands to the call that would train (or prints, for --summary)."""
    seen = {}
    monkeypatch.setattr(module, "load_cifar10", lambda data_dir=None, **_: _Data(seen.setdefault("data_dir", data_dir)))
    monkeypatch.setattr("hpsearch.baseline.run_baseline", _recorder("run_baseline"))
    # the default run name holds the time of day: one without it, so that two calls compare
    monkeypatch.setattr("hpsearch.baseline.run_name", lambda config, profile: f"baseline-{profile}-seed{config.seed}")
    monkeypatch.setattr("hpsearch.search.optuna_engine.run_study", _recorder("run_study"))
    monkeypatch.setattr("hpsearch.search.kt_engine.run_kt_study", _recorder("run_kt_study"))
    # where the study would be stored is recorded; an empty in-memory storage stands in for it (the default pruner
    # is looked up there: a new study)
    monkeypatch.setattr(
        study_command, "open_storage", lambda where: (seen.setdefault("storage", where), InMemoryStorage())[1]
    )
    args = build_parser().parse_args(argv)
    capsys.readouterr()
    try:
        seen["returned"] = module.run(args)
    except _Called as call:
        seen["call"] = call.what
        seen["args"] = [_plain(a) for a in call.args_]
        seen["kwargs"] = {k: _plain(v) for k, v in call.kwargs.items() if k not in ("console", "progress", "data")}
    seen["printed"] = "summary" if "Total params" in capsys.readouterr().out else ""
    return seen


def _changed(a: dict, b: dict) -> list[str]:
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))


@pytest.mark.parametrize(
    "command, module, table, base",
    [
        ("baseline", baseline_command, BASELINE, ["baseline", "--profile", "smoke"]),
        ("study", study_command, STUDY, ["study", "--spec", "lr_schedule", "--profile", "smoke", "--trials", "3"]),
    ],
)
def test_every_option_reaches_what_it_drives(command, module, table, base, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    base = base + ["--out", str(tmp_path / "out")]
    _walk(command, table, base, lambda argv: _observe(module, argv, monkeypatch, capsys), tmp_path)


def _walk(command: str, table: dict, base: list[str], observe, tmp_path) -> None:
    """Every option of `command` in `table`, given another value, changes what `observe(argv)` records, against
    the base arguments (with what the option needs); an option in neither table nor ELSEWHERE fails."""
    options = _options(command)
    missing = [o for o in options if o not in table and o not in ELSEWHERE]
    assert not missing, f"{command} options without an entry (a value, or ELSEWHERE with the test): {missing}"
    bases: dict[tuple, dict] = {}
    silent = []
    for option in (o for o in options if o in table):
        needs = tuple(table[option][1])
        if needs not in bases:
            bases[needs] = observe(base + list(needs))
            assert bases[needs].get("call"), f"{command} {needs} never reached its call: {bases[needs]}"
        after = observe(_argv(base, option, table, tmp_path))
        if not _changed(bases[needs], after):
            silent.append(option)
    assert not silent, f"{command}: these options change nothing the command hands on: {silent}"


def test_the_tuner_reaches_the_keras_tuner_engine_not_only_the_study_name(tmp_path, monkeypatch, capsys):
    """--tuner also names the study (default-smoke-bayesian), so the walk above would see a change even if the
    engine never got it: the engine's own argument is checked here."""
    monkeypatch.chdir(tmp_path)
    argv = ["study", "--spec", "lr_schedule", "--profile", "smoke", "--trials", "3", "--out", str(tmp_path / "out")]
    seen = _observe(study_command, [*argv, "--engine", "keras-tuner", "--tuner", "bayesian"], monkeypatch, capsys)
    assert seen["call"] == "run_kt_study" and seen["kwargs"]["tuner"] == "bayesian"


def test_verbose_lets_keras_tuner_speak_and_its_absence_keeps_it_quiet(tmp_path, monkeypatch, capsys):
    """--verbose is read by cli.py before the command runs, and once more by the study: KerasTuner's own display
    is shown only with it (kt_engine's `verbose`), so both sides of the flag are checked at the engine's call."""
    monkeypatch.chdir(tmp_path)
    argv = ["study", "--spec", "lr_schedule", "--profile", "smoke", "--trials", "3", "--out", str(tmp_path / "out")]
    argv += ["--engine", "keras-tuner"]
    quiet = _observe(study_command, argv, monkeypatch, capsys)
    loud = _observe(study_command, [*argv, "--verbose"], monkeypatch, capsys)
    assert quiet["call"] == loud["call"] == "run_kt_study"
    assert quiet["kwargs"]["verbose"] is False and loud["kwargs"]["verbose"] is True


# bench's options: (another value, extra base arguments it needs); the speed benchmark by default, --study and
# --search are the two others (the options shared with --study are walked under --search, where their reads are)
BENCH = {
    "--images": ("256", []),
    "--batch-size": ("64", []),
    "--rounds": ("3", []),
    "--epochs": ("3", []),
    "--study": (None, []),
    "--search": (None, []),
    "--workers": ("3", ["--study"]),
    "--trials": ("5", ["--search"]),
    "--profile": ("smoke", ["--search"]),
    "--data-dir": ("other-data", ["--search"]),
    "--repeats": ("2", ["--search"]),
    "--synthetic": (None, ["--search"]),
    "--strategies": ("random/none,tpe/asha", ["--search"]),
    "--spec": ("lr_schedule", ["--search"]),
    "--out": ("other-out", ["--search"]),
    "--backend": ("jax", ["--study"]),  # and the speed benchmark times it alone: checked below
    "--cache-dir": ("other-cache", ["--study"]),
}


def _observe_bench(argv: list[str], monkeypatch, capsys) -> dict:
    """What `hpsearch bench` hands to the call that would time or train: the speed benchmark's runner, each
    `hpsearch study` run of --study (recorded, not started), or the search benchmark's plan, data and folder."""
    from hpsearch.bench import search as bench_search
    from hpsearch.bench import throughput
    from hpsearch.bench import workers as bench_workers
    from hpsearch.commands import bench as bench_command
    from hpsearch.core import data as core_data

    monkeypatch.setattr(throughput, "run_bench", _recorder("run_bench"))
    monkeypatch.setattr(throughput, "run_each_backend", _recorder("run_each_backend"))
    monkeypatch.setattr(
        bench_workers,
        "_side",
        lambda tmp, workers, args, profile, data_dir, console: {
            "workers": workers,
            "argv": bench_workers.study_argv(Path("run"), workers, args, profile, data_dir)[3:],
        },
    )
    monkeypatch.setattr(bench_workers, "_pool", lambda runs: list(runs))
    monkeypatch.setattr(bench_workers, "print_results", _recorder("bench --study"))
    monkeypatch.setattr(bench_workers, "synthetic_data_dir", lambda folder, config: f"synthetic in {folder.name}")
    monkeypatch.setattr(core_data, "load_cifar10", lambda data_dir=None, **_: _Data(data_dir))
    monkeypatch.setattr(bench_search, "run_search_bench", _recorder("run_search_bench"))
    args = build_parser().parse_args(argv)
    capsys.readouterr()
    seen = {}
    try:
        seen["returned"] = bench_command.run(args)
    except _Called as call:
        seen["call"] = call.what
        seen["args"] = [_plain(a) for a in call.args_]
        seen["kwargs"] = {k: _plain(v) for k, v in call.kwargs.items() if k != "say"}
    capsys.readouterr()
    return seen


def test_every_bench_option_reaches_what_it_drives(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)

    def observe(argv: list[str]) -> dict:
        seen = _observe_bench(argv, monkeypatch, capsys)
        assert seen.get("call"), f"{' '.join(argv)} never reached its call: {seen}"
        return seen

    _walk("bench", BENCH, ["bench"], observe, tmp_path)
    # the three benchmarks each get what they are given, not only something different
    seen = _observe_bench(["bench", "--images", "256", "--batch-size", "64", "--rounds", "3"], monkeypatch, capsys)
    assert seen["call"] == "run_each_backend" and seen["args"][:3] == [256, 64, 3]
    seen = _observe_bench(["bench", "--cache-dir", "c"], monkeypatch, capsys)
    assert seen["call"] == "run_each_backend" and seen["args"][-1] == "c"
    seen = _observe_bench(["bench", "--backend", "jax"], monkeypatch, capsys)
    assert seen["call"] == "run_bench"  # the one backend already loaded, in this process
    argv = ["bench", "--study", "--workers", "3", "--trials", "5", "--profile", "smoke", "--backend", "jax"]
    seen = _observe_bench([*argv, "--cache-dir", "c", "--synthetic"], monkeypatch, capsys)
    assert seen["call"] == "bench --study"
    (one,), (three,) = seen["args"][0]
    assert (one["workers"], three["workers"]) == (1, 3)
    for side in (one, three):
        command = side["argv"]
        assert command[:1] == ["study"] and command[command.index("--workers") + 1] == str(side["workers"])
        assert command[command.index("--trials") + 1] == "5" and command[command.index("--profile") + 1] == "smoke"
        assert command[command.index("--backend") + 1] == "jax" and command[command.index("--cache-dir") + 1] == "c"
        assert command[command.index("--data-dir") + 1].startswith("synthetic in ")
    argv = ["bench", "--search", "--profile", "smoke", "--trials", "5", "--repeats", "2", "--spec", "lr_schedule"]
    seen = _observe_bench([*argv, "--out", str(tmp_path / "o"), "--data-dir", "d"], monkeypatch, capsys)
    plan, data, out = seen["args"]
    assert (plan["profile"], plan["spec"], plan["trials"], plan["repeats"]) == ("smoke", "lr_schedule", 5, 2)
    assert data == {"data": "d"} and out == str(tmp_path / "o")
    seen = _observe_bench([*argv, "--synthetic", "--strategies", "random/none,tpe/asha"], monkeypatch, capsys)
    assert seen["args"][1] == {"data": "synthetic in synthetic-data"}
    assert [(s["sampler"], s["pruner"]) for s in seen["args"][0]["strategies"]] == [("random", "none"), ("tpe", "asha")]
