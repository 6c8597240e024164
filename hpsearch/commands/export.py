"""hpsearch export: write a kept model (a trial's best weights) out as a .keras file.

    hpsearch export --to model.keras                            # the only study's best trial
    hpsearch export --study-name default-cpu --trial 7 --to t7.keras --evaluate --data-dir ~/data

The models are kept by `hpsearch study --keep-models K` (the top K trials by val accuracy) in the artifact
store OUT/artifacts/ (record/models.py). The file is written atomically and opened again with
hpsearch.core.model.load_model (Keras's safe mode) before the command says it is done. A trial whose model
was not kept: the command says so, writes the trial's parameters file and prints the `hpsearch baseline
--params` command that retrains it.
"""

from __future__ import annotations

import argparse
import functools
import shlex
from pathlib import Path

from optuna.artifacts.exceptions import ArtifactNotFound
from rich.console import Console

from hpsearch.commands.common import add_data_dir_argument, add_out_argument, add_study_arguments, find_study, writing
from hpsearch.core.result import jsonable
from hpsearch.errors import HpsearchError
from hpsearch.files import write_json
from hpsearch.numbers import pct
from hpsearch.record import keys
from hpsearch.record.models import artifact_store, download_model, kept_models
from hpsearch.record.paths import artifact_dir, study_report_dir
from hpsearch.record.storage import load_study
from hpsearch.record.trials import best_trial, trial_params

# Keras (the model's check, --evaluate) and the confirm layer are imported inside run(): `--help` stays instant.


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_study_arguments(parser, "whose model to export")
    parser.add_argument("--trial", type=int, help="the trial whose model to export (default: the best by val accuracy)")
    parser.add_argument("--to", required=True, help="the .keras file to write (replaced whole if it exists)")
    parser.add_argument(
        "--evaluate", action="store_true", help="print the model's test accuracy, plain and with TTA (loads CIFAR-10)"
    )
    add_data_dir_argument(parser)
    add_out_argument(parser)


def run(args) -> int:
    console = Console()
    say = functools.partial(console.print, markup=False, highlight=False, soft_wrap=True)
    if not args.to.endswith(".keras"):
        raise HpsearchError(f"--to {args.to}: a Keras model file must end in .keras; pass e.g. --to model.keras")
    storage, name = find_study(args, say)
    study = load_study(storage, name)
    trial = _pick(study, args.trial)
    artifact = kept_models(study).get(trial.number)
    if artifact is None:
        raise HpsearchError(_not_kept(study, trial, args.out))
    with writing(Path(args.to).parent):
        try:
            download_model(artifact_store(args.out), artifact, args.to)
        except ArtifactNotFound:
            raise HpsearchError(
                f"trial {trial.number}'s model (artifact {artifact}) is missing from {artifact_dir(args.out)}; "
                f"pass the --out the study wrote to"
            ) from None
    from hpsearch.core.model import load_model

    model = load_model(args.to)
    size = Path(args.to).stat().st_size
    value = trial.values[0] if trial.values else None
    say(
        f"wrote {args.to} ({size / 1e6:.1f} MB): trial {trial.number} of study {name}, val accuracy "
        f"{pct(value) if value is not None else 'n/a'}, {model.count_params():,} parameters"
    )
    if args.evaluate:
        _evaluate(console, model, study, trial, args.data_dir)
    return 0


def _pick(study, number: int | None):
    if number is None:
        trial = best_trial(study)
        if trial is None:
            raise HpsearchError(f"study {study.study_name!r} has no COMPLETE trial yet; run `hpsearch study` first")
        return trial
    trial = next((t for t in study.trials if t.number == number), None)
    if trial is None:
        raise HpsearchError(
            f"study {study.study_name!r} has no trial {number} (trials 0..{len(study.trials) - 1}); pass another --trial"
        )
    return trial


def _not_kept(study, trial, out) -> str:
    """Why there is no model, and the command that retrains it (its parameters file is written for it)."""
    kept = sorted(kept_models(study))
    why = (
        f"trial {trial.number} ({trial.state.name}) has no kept model: `hpsearch study --keep-models K` keeps the "
        f"top K COMPLETE trials by val accuracy (kept now: {', '.join(map(str, kept)) or 'none'})"
    )
    params = study_report_dir(out, study.study_name) / f"trial-{trial.number}-params.json"
    content = {keys.STUDY: study.study_name, keys.PROFILE: study.user_attrs.get(keys.PROFILE)}
    content.update(trial_params(study, trial))
    try:
        params.parent.mkdir(parents=True, exist_ok=True)
        write_json(params, jsonable(content))
    except (OSError, HpsearchError) as exc:  # WriteError is one line already
        return f"{why}; its parameters file could not be written ({exc})"
    command = f"hpsearch baseline --params {shlex.quote(str(params))} --out {shlex.quote(str(out))}"
    return f"{why}; retrain it with: {command}"


def _evaluate(console, model, study, trial, data_dir) -> None:
    from hpsearch.core.data import load_cifar10, split
    from hpsearch.core.evaluate import evaluate
    from hpsearch.search.confirm import trial_config

    config = trial_config(study, trial)
    splits = split(load_cifar10(data_dir), config)
    plain = evaluate(model, splits.test, splits.mean, splits.std, config)["accuracy"]
    tta = evaluate(model, splits.test, splits.mean, splits.std, config, tta=True)["accuracy"]
    console.print(
        f"test accuracy {pct(plain)}, with TTA {pct(tta)} ({len(splits.test.labels):,} test images, "
        f"profile {study.user_attrs.get(keys.PROFILE)})",
        markup=False,
        highlight=False,
    )
