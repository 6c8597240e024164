"""Trial hooks: what a study does beside training each trial, handed to the engine by the command (the engine
knows only this interface). search/keep.py keeps the top-K models; hpsearch/track/ writes TensorBoard logs.

A hook may do nothing in any of its steps. Its errors must not cost a finished trial: a hook that writes files
catches its own OSErrors and says so (only an interrupt goes through).
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Any, Protocol

import optuna
from optuna.trial import TrialState

from hpsearch.core.result import RunResult


class TrialHook(Protocol):
    wants_model: bool  # whether train() should checkpoint the trial's best model for `completed`

    def callbacks(self, study: optuna.Study, trial: optuna.Trial, config) -> list[Any]:
        """Keras callbacks for this trial's train() (run after the core's own)."""

    def completed(self, study: optuna.Study, trial: optuna.Trial, result: RunResult, storage) -> None:
        """The trial trained to its end and is about to be told COMPLETE (it is still RUNNING: its attrs and
        artifacts can still be written). result.model_path is its best checkpoint when `wants_model`."""

    def finished(self, trial: optuna.trial.FrozenTrial | optuna.Trial, state: TrialState, epochs: list[dict]) -> None:
        """The trial was told `state` (COMPLETE, PRUNED or FAIL); `epochs`: its epoch rows."""


def wants_model(hooks) -> bool:
    return any(getattr(hook, "wants_model", False) for hook in hooks)


def model_folder(hooks, root: Path):
    """A temporary folder under `root` for the trial's best checkpoint when a hook wants it, else None."""
    if not wants_model(hooks):
        return contextlib.nullcontext(None)
    root.mkdir(parents=True, exist_ok=True)
    return tempfile.TemporaryDirectory(prefix=".trial-", dir=root)
