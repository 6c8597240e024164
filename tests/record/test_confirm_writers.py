"""Confirm runs as stored: two confirms of one study at one profile writing at the same time lose nothing, on a
journal file, SQLite and PostgreSQL; studies stored in the older formats are still read."""

from __future__ import annotations

import threading
import uuid

import optuna
import pytest

from hpsearch.record import confirms, keys
from hpsearch.record.storage import open_storage
from tests.storages import KINDS, storage_url


def _run(trial, seed):
    return {"trial": trial, "seed": seed, confirms.METRIC: 0.7 + seed / 1000 + (trial or 0) / 100}


@pytest.mark.parametrize("kind", KINDS)
def test_two_confirms_writing_at_once_keep_every_run(kind, tmp_path):
    """Two writers, each with its own storage handle (as two processes have), in lockstep: each has read the
    stored study before the other writes (the interleaving that lost runs when a profile's runs were one attr
    read, extended and written back)."""
    url, name = storage_url(kind, tmp_path), f"s-{uuid.uuid4().hex[:8]}"
    optuna.create_study(study_name=name, storage=open_storage(url))
    together = threading.Barrier(2, timeout=60)
    plans = {"a": (None, [42, 43, 44]), "b": (1, [42, 43, 44])}  # the baseline's and trial 1's seed runs
    errors = []

    def writer(arm: str) -> None:
        try:
            study = optuna.load_study(study_name=name, storage=open_storage(url))
            write = study.set_user_attr

            def in_step(key, value):
                together.wait()  # both have done whatever reading add_run does; now both write
                write(key, value)

            study.set_user_attr = in_step
            trial, seeds = plans[arm]
            for seed in seeds:
                confirms.add_run(study, "smoke", _run(trial, seed), seeds=seeds, trials=[1])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
            together.abort()

    threads = [threading.Thread(target=writer, args=(arm,)) for arm in plans]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    study = optuna.load_study(study_name=name, storage=open_storage(url))
    assert confirms.done(study, "smoke") == {(t, s) for t in (None, 1) for s in (42, 43, 44)}
    record = confirms.stored(study)["smoke"]
    assert record["seeds"] == [42, 43, 44] and record["trials"] == [1]
    # seed by seed, the baseline first, whatever order the writers' attrs were stored in
    assert [(r["trial"], r["seed"]) for r in record["runs"]] == [(t, s) for s in (42, 43, 44) for t in (None, 1)]
    [comparison] = confirms.comparisons(study)
    assert comparison.baseline == [_run(None, s)[confirms.METRIC] for s in (42, 43, 44)]
    assert comparison.best == [_run(1, s)[confirms.METRIC] for s in (42, 43, 44)]


def test_a_run_stored_again_replaces_the_earlier_one():
    study = optuna.create_study()
    confirms.add_run(study, "smoke", _run(None, 42), seeds=[42], trials=[1])
    confirms.add_run(study, "smoke", dict(_run(None, 42), test_accuracy_tta=0.5), seeds=[42], trials=[1])
    assert confirms.stored(study)["smoke"]["runs"] == [{"trial": None, "seed": 42, confirms.METRIC: 0.5}]


def test_the_older_formats_are_read_and_a_newer_run_wins():
    """0.2 - 0.2.1 stored a profile's runs as one record ("confirm:<profile>"); before 0.2, one result
    ("confirm"). Both still read; a run stored since, of the same trial and seed, replaces the older one."""
    study = optuna.create_study()
    study.set_user_attr(keys.PROFILE, "cpu")
    old_runs = [_run(None, 42), _run(3, 42)]
    study.set_user_attr(
        keys.confirm_key("smoke"),
        {"profile": "smoke", "metric": confirms.METRIC, "seeds": [42], "trials": [3], "runs": old_runs},
    )
    study.set_user_attr(keys.CONFIRM, {"best_trial": 2, "seeds": [7, 8], "baseline": [0.6, 0.61], "best": [0.7, 0.72]})
    newer = dict(_run(3, 42), test_accuracy_tta=0.9)
    confirms.add_run(study, "smoke", newer, seeds=[42, 43], trials=[3])
    confirms.add_run(study, "smoke", _run(None, 43), seeds=[42, 43], trials=[3])
    found = confirms.stored(study)
    assert found["smoke"]["runs"] == [_run(None, 42), newer, _run(None, 43)]
    assert found["smoke"]["seeds"] == [42, 43] and found["smoke"]["trials"] == [3]
    assert [r[confirms.METRIC] for r in found["cpu"]["runs"]] == [0.6, 0.61, 0.7, 0.72]
    assert confirms.done(study, "smoke") == {(None, 42), (3, 42), (None, 43)}
