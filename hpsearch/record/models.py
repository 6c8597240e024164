"""Kept models: the best weights (by val accuracy) of a study's top-K trials and of each confirm arm, stored
through Optuna's artifact API, so optuna-dashboard lists them on the trial's (or the study's) page.

The store is a file-system artifact store under the output root, OUT/artifacts/ (record.paths.artifact_dir).
Which models are kept now is the study's user attr KEPT_MODELS ({trial number: artifact id}): a finished
trial's own attrs can no longer change, the study's can. A trial that drops out of the top K has its file
deleted and its entry removed (Optuna keeps the artifact's metadata on the trial, so optuna-dashboard still
names it; its file is gone). Confirm's arms: CONFIRM_MODELS, {"<profile>/<trial number or baseline>": ...}.

Several workers of one study keep models under the storage's worker lock (one machine, a journal file); on a
database shared by machines two workers finishing at the same instant may each rewrite KEPT_MODELS, and one
entry can then be lost (its file stays on disk).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, BinaryIO

import optuna
from optuna.artifacts import FileSystemArtifactStore, download_artifact, upload_artifact
from optuna.artifacts.exceptions import ArtifactNotFound
from optuna.trial import TrialState

from hpsearch.files import replacing
from hpsearch.record import keys
from hpsearch.record.paths import artifact_dir

MIMETYPE = "application/x-keras"  # a .keras file is a zip; the name tells optuna-dashboard what it is


class AtomicArtifactStore(FileSystemArtifactStore):
    """Optuna's file-system store, but each file is written through hpsearch.files (a temporary name, then a
    rename): Optuna's own `write` copies in place, and a kill mid-copy would leave a torn model under a valid id."""

    def __init__(self, base_path: str | Path) -> None:
        Path(base_path).mkdir(parents=True, exist_ok=True)
        super().__init__(base_path)

    def write(self, artifact_id: str, content_body: BinaryIO) -> None:
        with replacing(self._get_filepath(artifact_id)) as temporary, open(temporary, "wb") as out:
            shutil.copyfileobj(content_body, out)


def artifact_store(out: str | Path) -> AtomicArtifactStore:
    """The study's artifact store under the output root `out`."""
    return AtomicArtifactStore(artifact_dir(out))


def kept_models(study: optuna.Study) -> dict[int, str]:
    """{trial number: artifact id} of the trials whose models are kept now."""
    stored = study.user_attrs.get(keys.KEPT_MODELS) or {}
    return {int(number): str(artifact) for number, artifact in stored.items()}


def top_trials(study: optuna.Study, keep: int, also: tuple[int, float] | None = None) -> list[int]:
    """The numbers of the `keep` best COMPLETE trials by val accuracy (ties: the earlier trial), counting
    `also` = (number, value), a trial about to complete."""
    values = {
        t.number: t.values[0] for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.values
    }
    if also is not None:
        values[also[0]] = also[1]
    return sorted(values, key=lambda n: (-values[n], n))[:keep]


def keep_trial_model(
    study: optuna.Study, trial: optuna.Trial, value: float, model_path: str | Path, store, keep: int
) -> tuple[str | None, list[int]]:
    """Before `trial` (RUNNING, about to complete with val accuracy `value`) is told: upload its model if it
    ranks among the top `keep`, and delete the kept models that it pushes out. Returns (its artifact id or
    None, the trial numbers whose models were deleted). The caller holds the storage's worker lock."""
    top = set(top_trials(study, keep, (trial.number, value)))
    kept = kept_models(study)
    artifact = None
    if trial.number in top and Path(model_path).is_file():
        artifact = upload_artifact(
            artifact_store=store, file_path=str(model_path), study_or_trial=trial, mimetype=MIMETYPE
        )
        trial.set_user_attr(keys.MODEL_ARTIFACT, artifact)
        kept[trial.number] = artifact
    dropped = sorted(n for n in kept if n not in top)
    for number in dropped:
        _remove(store, kept.pop(number))
    study.set_user_attr(keys.KEPT_MODELS, {str(n): a for n, a in sorted(kept.items())})
    return artifact, dropped


def confirm_arm(profile: str, trial: int | None) -> str:
    """The key of one confirm arm in CONFIRM_MODELS: "<profile>/<trial number>" or "<profile>/baseline"."""
    return f"{profile}/{'baseline' if trial is None else trial}"


def keep_confirm_model(
    study: optuna.Study, profile: str, run: dict[str, Any], model_path: str | Path, store
) -> str | None:
    """Keep a confirm run's model if it is its arm's best seed so far by val accuracy (replacing the previous
    one); returns the artifact id, or None when an earlier seed stays the best."""
    arms = dict(study.user_attrs.get(keys.CONFIRM_MODELS) or {})
    arm = confirm_arm(profile, run["trial"])
    previous = arms.get(arm)
    if not Path(model_path).is_file() or (previous and previous["val_accuracy"] >= run["val_accuracy"]):
        return None
    artifact = upload_artifact(artifact_store=store, file_path=str(model_path), study_or_trial=study, mimetype=MIMETYPE)
    arms[arm] = {"artifact_id": artifact, "seed": run["seed"], "val_accuracy": run["val_accuracy"]}
    study.set_user_attr(keys.CONFIRM_MODELS, arms)
    if previous:
        _remove(store, previous["artifact_id"])
    return artifact


def confirm_models(study: optuna.Study) -> dict[str, dict[str, Any]]:
    return dict(study.user_attrs.get(keys.CONFIRM_MODELS) or {})


def download_model(store, artifact_id: str, to: str | Path) -> None:
    """Write the stored model `artifact_id` to `to` atomically (a file already there is replaced whole).
    Raises WriteError (hpsearch.files) or ArtifactNotFound."""
    Path(to).parent.mkdir(parents=True, exist_ok=True)
    with replacing(to) as temporary:
        os.remove(temporary)  # download_artifact refuses to overwrite
        download_artifact(artifact_store=store, file_path=str(temporary), artifact_id=artifact_id)


def _remove(store, artifact_id: str) -> None:
    try:
        store.remove(artifact_id)
    except ArtifactNotFound:  # deleted by hand, or by another worker meanwhile
        pass


def kept_file(checkpoint: str | Path, number: int) -> Path:
    """Where trial `number`'s model is re-saved beside its checkpoint to be kept (the name optuna-dashboard
    shows); it stays there, with the checkpoint, until the trial is told (a tracker may log it meanwhile)."""
    return Path(checkpoint).with_name(f"trial-{number}.keras")
