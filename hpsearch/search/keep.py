"""The trial hook that keeps the best models: each COMPLETE trial's best checkpoint is uploaded to the artifact
store while the trial ranks among the study's top K by val accuracy (record/models.py does the bookkeeping)."""

from __future__ import annotations

from rich.console import Console

from hpsearch.record.models import keep_trial_model
from hpsearch.record.storage import worker_lock


class KeepModels:
    """`keep` models at most (0: none), in `store` (record.models.artifact_store)."""

    def __init__(self, store, keep: int, console: Console | None = None) -> None:
        self.store, self.keep, self.console = store, keep, console or Console()
        self.wants_model = keep > 0

    def callbacks(self, study, trial, config) -> list:
        return []

    def completed(self, study, trial, result, storage) -> None:
        if not self.keep or not result.model_path:
            return
        try:
            with worker_lock(storage):
                artifact, dropped = keep_trial_model(
                    study, trial, result.val_accuracy, result.model_path, self.store, self.keep
                )
        except OSError as exc:  # disk full, a read-only store: the trial's result still counts
            self.console.print(
                f"trial {trial.number}: its model was not kept ({exc.strerror or exc})", markup=False, highlight=False
            )
            return
        if artifact:
            gone = f"; deleted the model of trial(s) {', '.join(map(str, dropped))}" if dropped else ""
            self.console.print(
                f"trial {trial.number}: model kept (top {self.keep} by val accuracy; artifact {artifact}){gone}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )

    def finished(self, trial, state, epochs) -> None:
        pass
