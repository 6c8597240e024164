"""The stored schema's keys, defined once: Optuna user attrs of a study and of its trials.

Search writes them (search/study.py), report and confirm read them (record/trials.py); nothing else spells them.
"""

from __future__ import annotations

# --- a study's user attrs: how it was made (written once, when the study is created) ---------------------
ENGINE = "engine"  # "optuna" | "keras-tuner"
BACKEND = "backend"  # the Keras backend every trial trained on (one of core/device.py's BACKENDS)
PROFILE = "profile"  # the run-size profile every trial trained at
SPEC_PATH = "spec_path"  # the search space: where it came from ...
SPEC_TEXT = "spec_text"  # ... and its TOML text, so a study can be resumed or confirmed without the file
DESCRIPTION = "description"
OBJECTIVES = "objectives"  # ["val_accuracy", ...], in the order of trial.values
DIRECTIONS = "directions"
PRUNER = "pruner"  # the pruner's settings, or None
SAMPLER = "sampler"  # {"name": ..., "seed": ...}
MAX_EPOCHS = "max_epochs"
BASE_CONFIG = "base_config"  # TrainConfig.to_dict() of the baseline every trial starts from
VERSIONS = "versions"
CONFIRM = "confirm"  # the old single confirm result (read for studies confirmed before CONFIRM_PREFIX)
CONFIRM_PREFIX = "confirm:"  # before 0.2.2: one attr per profile, "confirm:<profile>" (read, no longer written)
CONFIRM_RUN_PREFIX = "confirm_run:"  # one attr per confirm seed run -> record/confirms.py


KEPT_MODELS = "kept_models"  # {trial number: artifact id} of the top-K trials' kept models (record/models.py)
CONFIRM_MODELS = "confirm_models"  # {"<profile>/<trial or baseline>": {artifact_id, seed, val_accuracy}}


def confirm_key(profile: str) -> str:
    """The study user attr that held all the confirm runs at `profile` before 0.2.2 (still read)."""
    return CONFIRM_PREFIX + profile


def confirm_run_key(profile: str, trial: int | None, seed: int) -> str:
    """The study user attr holding one confirm seed run: "confirm_run:<profile>:<trial or baseline>:<seed>".
    One attr a run, written once and never read-modified-written, so confirms running at once (same study,
    same profile, any storage) never overwrite each other's runs."""
    return f"{CONFIRM_RUN_PREFIX}{profile}:{'baseline' if trial is None else trial}:{seed}"


# --- a trial's user attrs ----------------------------------------------------------------------------------
IS_BASELINE = "is_baseline"  # the study's reference trial: TrainConfig at the profile (params: its own values)
CONFIG = "config"  # the TrainConfig fields the trial set differently from the study's BASE_CONFIG (so the
#                    baseline's is {}); studies made before 0.2 stored the whole config: read both with
#                    record/trials.py's stored_config
EPOCHS = "epochs"  # before 0.2: one dict per epoch run (RunResult.epochs rows); now the CURVE_PREFIX attrs
CURVE_PREFIX = "curve:"  # one attr per per-epoch column, "curve:val_loss" -> [value of epoch 1, 2, ...]
CURVE_COLUMNS = ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds")  # RunResult.epochs' columns
EPOCHS_RUN = "epochs_run"
PRUNED_AT = "pruned_at"  # the epoch a PRUNED trial stopped at, else None
TRAIN_SECONDS = "train_seconds"
FAIL_REASON = "fail_reason"  # why a FAIL trial failed, one line
WORKER = "worker"  # host:pid of the process running the trial ...
WORKER_STARTED = "worker_started"  # ... and when that process started (a reused pid is not mistaken for it)
STRATEGY = "strategy"  # "<sampler>/<pruner>" that produced the trial (a resume may change them)
PRUNED_BY = "pruned_by"  # the rule that stopped a PRUNED trial: "baseline", "asha", ..., "baseline floor"
RETRY_OF = "retry_of"  # the number of the dead worker's trial this one retries
MODEL_ARTIFACT = "model_artifact"  # the artifact id its best model was uploaded under (kept while in KEPT_MODELS)


def curve_key(column: str) -> str:
    """The trial user attr holding one per-epoch column: short lists that optuna-dashboard shows whole (it
    cuts any attr at 1,024 characters, which ten epochs of whole rows passed)."""
    return CURVE_PREFIX + column


# --- the objective every study has first ---------------------------------------------------------------
VAL_ACCURACY = "val_accuracy"


# --- best_params.json (record/trials.py best_params), read back by `hpsearch baseline --params` ----------
# besides PROFILE, BASE_CONFIG, SPEC_PATH and SPEC_TEXT above (the study's, copied so the file stands alone)
STUDY = "study"
TRIAL = "trial"
PARAMS = "params"  # the TrainConfig fields the trial set differently from the baseline
SAMPLED = "sampled"  # Optuna's parameters, at the space's scale (widths at the full-size baseline's)

# --- a run's metrics.json: what a `baseline --params` run reproduces -----------------------------------------
REPRODUCES = "reproduces"
REPRODUCES_STUDY = "study"
REPRODUCES_TRIAL = "trial"
REPRODUCES_PROFILE = "study_profile"
RESCALED_TO = "rescaled_to"  # the profile it was re-scaled to, or None at the study's own

# --- MLflow run tags (hpsearch/track/mlflow.py), beside MLflow's own mlflow.parentRunId and IS_BASELINE ------
MLFLOW_ROLE = "hpsearch.role"  # "study" (a study's parent run), "trial" (a trial's run, nested), "run" (baseline)
MLFLOW_STUDY = "hpsearch.study"  # the study's name, on its parent run and on every trial's run
MLFLOW_STUDY_ID = "hpsearch.study_id"  # a hash of the name, what the parent is found by (a filter quotes no name)
MLFLOW_TRIAL = "hpsearch.trial"  # the trial's number
MLFLOW_STATE = "hpsearch.state"  # how the trial ended: COMPLETE, PRUNED or FAIL
MLFLOW_REASON = "hpsearch.reason"  # why a trial was pruned (its epoch and rule) or failed (its FAIL_REASON)
