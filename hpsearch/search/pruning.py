"""BaselinePruner: stop a trial that falls clearly behind the baseline's own learning curve.

The reference is the per-epoch validation accuracy of the study's completed baseline trial (user attr
`is_baseline`, trial 0). After `warmup_epochs`, a trial whose accuracy at epoch e is more than `margin`
below the baseline's at e is pruned. Defaults, and why:
- margin = 0.05 (absolute accuracy): seed-to-seed noise of one epoch's validation accuracy is 1-2 points
  even on 5,000 images, and a different schedule (warm-up, one-cycle) can trail early and catch up; 5
  points behind is a trial that is losing, not one that is unlucky.
- warmup_epochs = 1: the first epoch says more about the warm-up than about the configuration.
Where the baseline stopped early, epochs beyond its last are compared with its last reported value.
No completed baseline yet (or a multi-objective study, where Optuna does not prune): never prunes.
"""

from __future__ import annotations

import math

import optuna
from optuna.trial import FrozenTrial, TrialState

from hpsearch.record import keys

DEFAULT_MARGIN = 0.05
DEFAULT_WARMUP_EPOCHS = 1


class BaselinePruner(optuna.pruners.BasePruner):
    def __init__(self, margin: float = DEFAULT_MARGIN, warmup_epochs: int = DEFAULT_WARMUP_EPOCHS) -> None:
        if not margin >= 0:
            raise ValueError(f"margin must be >= 0 (got {margin})")
        if warmup_epochs < 0:
            raise ValueError(f"warmup_epochs must be >= 0 (got {warmup_epochs})")
        self.margin = margin
        self.warmup_epochs = warmup_epochs
        self._reference: dict[str, dict[int, float]] = {}  # study name -> curve, once the baseline completed

    def settings(self) -> dict:
        """What the study records under user_attrs[keys.PRUNER]."""
        return {"name": "BaselinePruner", "margin": self.margin, "warmup_epochs": self.warmup_epochs}

    def reference(self, study: optuna.Study) -> dict[int, float] | None:
        """The baseline's {epoch: val_accuracy}, or None while no baseline trial has completed."""
        if study.study_name not in self._reference:
            for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
                if trial.user_attrs.get(keys.IS_BASELINE) and trial.intermediate_values:
                    self._reference[study.study_name] = dict(trial.intermediate_values)
                    break
        return self._reference.get(study.study_name)

    def threshold(self, study: optuna.Study, epoch: int) -> float | None:
        """The accuracy a trial must reach at `epoch` to go on, or None when there is no reference."""
        reference = self.reference(study)
        if not reference:
            return None
        earlier = [e for e in reference if e <= epoch]
        return reference[max(earlier)] - self.margin if earlier else None

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        epoch = trial.last_step
        if epoch is None or epoch <= self.warmup_epochs or trial.user_attrs.get(keys.IS_BASELINE):
            return False
        threshold = self.threshold(study, epoch)
        if threshold is None:
            return False
        value = trial.intermediate_values[epoch]
        return math.isnan(value) or value < threshold
