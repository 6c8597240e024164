"""Kept models: the top K trials by val accuracy keep their best checkpoint in Optuna's artifact store; a trial
pushed out of the top K has its file deleted; a resumed study keeps counting; export writes one out or names
the command that retrains it. A stand-in for train() writes a small file per trial: no network here."""

import json
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from rich.console import Console

from hpsearch.cli import main
from hpsearch.commands.baseline import config_from_args
from hpsearch.core.config import TrainConfig
from hpsearch.record import keys
from hpsearch.record.storage import open_storage
from hpsearch.record.models import artifact_store, kept_models, top_trials
from hpsearch.search import optuna_engine as engine
from hpsearch.search.confirm import trial_config
from hpsearch.search.keep import KeepModels
from hpsearch.search.space import parse_spec
from tests.fakes import fake_result

optuna.logging.set_verbosity(optuna.logging.WARNING)
BASE = TrainConfig.from_profile("smoke", epochs=2)
SPEC = parse_spec('[params]\nlabel_smoothing = { type = "float", low = 0.0, high = 0.3 }\n', "ls.toml")


class CheckpointingTrain:
    """Stands in for train(): val accuracy from the config, and out_dir/best.keras holding the config's text."""

    def __init__(self):
        self.written = []  # the checkpoint bytes, in trial order

    def __call__(self, config, data, on_epoch=None, out_dir=None, callbacks=()):
        value = 0.5 + config.label_smoothing  # trials differ; the baseline (0.2) sits at 0.7
        epochs = [
            {
                "epoch": e,
                "loss": 1.0,
                "accuracy": value,
                "val_loss": 1.0,
                "val_accuracy": value,
                "lr": 0.01,
                "seconds": 0.1,
            }
            for e in (1, 2)
        ]
        for row in epochs:
            on_epoch(row["epoch"], dict(row))
        result = fake_result(config, epochs, 0.1)
        if out_dir is not None:
            body = f"model of label_smoothing={config.label_smoothing!r}".encode()
            (Path(out_dir) / "best.keras").write_bytes(body)
            result.model_path = str(Path(out_dir) / "best.keras")
            self.written.append(body)
        return result


@pytest.fixture(autouse=True)
def _copied_as_they_are(monkeypatch, request):
    """The stand-in checkpoints are not Keras files: kept as they are (the real re-save: the slow test below)."""
    import shutil

    if request.node.get_closest_marker("slow"):
        return

    from hpsearch.core import model
    from hpsearch.search import keep

    monkeypatch.setattr(keep, "save_for_inference", shutil.copyfile)
    monkeypatch.setattr(model, "save_for_inference", shutil.copyfile)


def _run(tmp_path, trials, keep=2):
    store = artifact_store(tmp_path)
    return engine.run_study(
        SPEC,
        None,
        trials=trials,
        profile="smoke",
        base=BASE,
        storage=str(tmp_path / "s.journal"),
        study_name="s",
        prune_margin=None,
        console=Console(file=open("/dev/null", "w")),
        hooks=[KeepModels(store, keep)],
        scratch=tmp_path / "artifacts",
    )


def _stored(tmp_path) -> set[str]:
    return {p.name for p in (tmp_path / "artifacts").iterdir()}


def test_the_top_k_keep_their_models_and_the_rest_are_deleted(tmp_path, monkeypatch):
    fake = CheckpointingTrain()
    monkeypatch.setattr(engine, "train", fake)
    study = _run(tmp_path, trials=6)
    complete = {t.number: t.values[0] for t in study.trials if t.state == TrialState.COMPLETE}
    best_two = sorted(complete, key=lambda n: -complete[n])[:2]
    kept = kept_models(study)
    assert sorted(kept) == sorted(best_two) == sorted(top_trials(study, 2))
    assert _stored(tmp_path) == set(kept.values())  # the others' files deleted, no temporary folder left
    store = artifact_store(tmp_path)
    for number, artifact in kept.items():
        with store.open_reader(artifact) as reader:
            assert reader.read() == fake.written[number]  # each trial's own checkpoint
        assert study.trials[number].user_attrs[keys.MODEL_ARTIFACT] == artifact
        listed = optuna.artifacts.get_all_artifact_meta(
            study.trials[number], storage=open_storage(tmp_path / "s.journal")
        )
        (meta,) = listed  # what optuna-dashboard lists on the trial's page
        assert meta.artifact_id == artifact and meta.filename == f"trial-{number}.keras"

    resumed = _run(tmp_path, trials=10)  # a resumed study ranks the earlier trials too
    complete = {t.number: t.values[0] for t in resumed.trials if t.state == TrialState.COMPLETE}
    assert sorted(kept_models(resumed)) == sorted(sorted(complete, key=lambda n: (-complete[n], n))[:2])
    assert _stored(tmp_path) == set(kept_models(resumed).values())


def test_keep_zero_keeps_nothing_and_trains_without_a_checkpoint(tmp_path, monkeypatch):
    fake = CheckpointingTrain()
    monkeypatch.setattr(engine, "train", fake)
    study = _run(tmp_path, trials=3, keep=0)
    assert fake.written == [] and kept_models(study) == {}


def test_export_of_a_trial_without_a_model_names_the_command_that_retrains_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(engine, "train", CheckpointingTrain())
    study = _run(tmp_path, trials=4, keep=1)
    (kept,) = kept_models(study)
    other = next(t for t in study.trials if t.number != kept and t.state == TrialState.COMPLETE)
    to = tmp_path / "m.keras"
    argv = ["export", "--storage", str(tmp_path / "s.journal"), "--out", str(tmp_path), "--to", str(to)]
    assert main([*argv, "--trial", str(other.number)]) == 2
    err = capsys.readouterr().err
    assert f"trial {other.number} (COMPLETE) has no kept model" in err and f"kept now: {kept}" in err
    params = tmp_path / "reports" / "s" / f"trial-{other.number}-params.json"
    assert f"hpsearch baseline --params {params} --out {tmp_path}" in err and not to.exists()
    args = type("Args", (), {"params": str(params), "profile": None, "seed": None, "epochs": None})
    assert config_from_args(args)[0] == trial_config(study, other)  # the command retrains that very trial
    assert json.loads(params.read_text())["trial"] == other.number


@pytest.mark.parametrize("to, message", [("m.h5", "must end in .keras")])
def test_export_refuses_a_file_that_is_not_keras(tmp_path, to, message, capsys):
    assert main(["export", "--out", str(tmp_path), "--to", str(tmp_path / to)]) == 2
    assert message in capsys.readouterr().err


def test_confirm_keeps_the_best_seeds_model_of_each_arm(tmp_path, monkeypatch):
    from hpsearch.commands import confirm as confirm_command
    from hpsearch.record.models import confirm_models
    from hpsearch.search import confirm as confirm_module
    from tests.search.test_confirm import make_study

    def score(config, data, out_dir=None):
        value = 0.5 + 0.1 * (config.seed == 43) + config.label_smoothing  # seed 43 beats 42 and 44
        (Path(out_dir) / "best.keras").write_bytes(f"{config.label_smoothing} {config.seed}".encode())
        return {"test_accuracy_tta": value, "test_accuracy": value, "val_accuracy": value, "seconds": 1.0}

    journal = str(tmp_path / "tiny.journal")
    make_study(journal)
    monkeypatch.setattr(confirm_module, "score_on_test", score)
    monkeypatch.setattr(confirm_command, "load_cifar10", lambda data_dir: None)
    argv = ["confirm", "--study-name", "tiny", "--storage", journal, "--seeds", "3", "--out", str(tmp_path)]
    assert main(argv) == 0
    arms = confirm_models(optuna.load_study(study_name="tiny", storage=open_storage(journal)))
    assert sorted(arms) == ["smoke/1", "smoke/baseline"] and {a["seed"] for a in arms.values()} == {43}
    store = artifact_store(tmp_path)
    with store.open_reader(arms["smoke/1"]["artifact_id"]) as reader:
        assert reader.read() == b"0.0 43"
    assert _stored(tmp_path) == {a["artifact_id"] for a in arms.values()}  # the other seeds' models deleted


@pytest.mark.slow
def test_a_real_study_keeps_models_that_export_predicts_as_trained_and_logs_tensorboard(
    tmp_path, cifar_dir, monkeypatch, capsys
):
    import numpy as np
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from hpsearch.core.model import load_model
    from hpsearch.record.paths import tensorboard_dir

    real, predicted, sizes = engine.train, [], []
    images = np.random.default_rng(0).normal(size=(8, 32, 32, 3)).astype("float32")

    def checkpointed(config, data, **kwargs):  # the trial's checkpoint, read before the study keeps it
        result = real(config, data, **kwargs)
        predicted.append(load_model(result.model_path).predict(images, verbose=0))
        sizes.append(Path(result.model_path).stat().st_size)
        return result

    monkeypatch.setattr(engine, "train", checkpointed)
    spec = tmp_path / "ls.toml"
    spec.write_text(SPEC.text)
    out = tmp_path / "out"
    argv = ["study", "--spec", str(spec), "--profile", "smoke", "--trials", "2", "--no-prune"]
    assert main([*argv, "--data-dir", str(cifar_dir), "--out", str(out)]) == 0
    study = optuna.load_study(study_name="ls-smoke", storage=open_storage(out / "studies" / "ls-smoke.journal"))
    assert sorted(kept_models(study)) == [0, 1]  # both, under the default K = 3
    capsys.readouterr()

    to = tmp_path / "exported" / "trial1.keras"
    assert (
        main(["export", "--out", str(out), "--trial", "1", "--to", str(to), "--evaluate", "--data-dir", str(cifar_dir)])
        == 0
    )
    printed = capsys.readouterr().out
    assert "study ls-smoke: read" in printed and "trial 1 of study ls-smoke" in printed and "test accuracy" in printed
    np.testing.assert_array_equal(load_model(to).predict(images, verbose=0), predicted[1])
    assert to.stat().st_size < 0.8 * sizes[1]  # kept without the optimiser's state

    events = EventAccumulator(str(tensorboard_dir(out, "ls-smoke") / "trial-1"), size_guidance={"scalars": 0})
    events.Reload()
    epochs = study.trials[1].user_attrs[keys.EPOCHS_RUN]
    assert [s.step for s in events.Scalars("val_accuracy")] == list(range(1, epochs + 1))
    curve = study.trials[1].user_attrs[keys.curve_key("val_accuracy")]
    assert [s.value for s in events.Scalars("val_accuracy")] == pytest.approx(curve, abs=1e-6)
