"""The trial hook that keeps the best models: each COMPLETE trial's best checkpoint (by val accuracy, the one
train() writes to its out_dir), re-saved without the optimiser's state, is uploaded to the artifact store while
the trial ranks among the study's top K by val accuracy (record/models.py does the bookkeeping)."""

from __future__ import annotations

from rich.console import Console

from hpsearch.core.model import save_for_inference
from hpsearch.record.models import keep_trial_model, kept_file, top_trials
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
        if trial.number not in top_trials(study, self.keep, (trial.number, result.val_accuracy)):
            return  # (ranked again under the lock: another worker may finish a better trial meanwhile)
        model = kept_file(result.model_path, trial.number)
        try:
            save_for_inference(result.model_path, model)  # outside the lock: seconds at full width
            with worker_lock(storage):
                artifact, dropped = keep_trial_model(study, trial, result.val_accuracy, model, self.store, self.keep)
        except Exception as exc:  # disk full, a read-only store, an unreadable checkpoint: the trial still counts
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else f"{type(exc).__name__}: {exc}"
            self.console.print(
                f"trial {trial.number}: its model was not kept ({reason})",
                markup=False,
                highlight=False,
                soft_wrap=True,
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
