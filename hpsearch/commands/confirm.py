"""hpsearch confirm: is the study's winner real? Retrain it and the baseline over seeds, at any profile.

    hpsearch confirm --study-name default-cpu --seeds 5
    hpsearch confirm --study-name default-cpu --profile full --seeds 2     # search on cpu, confirm on a GPU
    hpsearch confirm --study-name shared --storage postgresql://user:PASSWORD@db-host/hpsearch --top 3

Reads the study from OUT/studies/<name>.journal (or --storage). Each finished seed run is stored in the study
at once, under its own user attr ("confirm_run:<profile>:<trial>:<seed>", record/confirms.py): an interrupt
keeps it, running the same command again continues, skipping the stored seeds, and two confirms running at
once never overwrite each other's runs. The best seed's model of each arm (by val accuracy) is kept in the
artifact store OUT/artifacts/ (record/models.py, study user attr "confirm_models"). Then rewrites
OUT/reports/<name>/ (confirm.json, best_params.json, the page), the same --out as the `hpsearch study` that
ran it.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from rich.console import Console

from hpsearch.commands.common import (
    add_data_dir_argument,
    add_out_argument,
    add_study_arguments,
    check_writable,
    find_study,
    positive_int,
    print_written,
    profile_choices,
    writing,
)
from hpsearch.core.config import TrainConfig
from hpsearch.core.data import load_cifar10
from hpsearch.core.device import out_of_memory
from hpsearch.errors import HpsearchError
from hpsearch.interrupts import Interrupted, interrupts_deferred
from hpsearch.numbers import pct
from hpsearch.record import confirms, keys
from hpsearch.record.models import artifact_store, keep_confirm_model
from hpsearch.record.paths import artifact_dir
from hpsearch.record.storage import load_study

# The layers that load Keras and its backend (search.confirm) and the report layer (plotly,
# pandas) are imported inside run(): `hpsearch --help` and argument errors stay instant.


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_study_arguments(parser, "to confirm")
    parser.add_argument(
        "--profile",
        metavar=profile_choices(),
        help="the run size to confirm at (default: the study's own); e.g. search at cpu, confirm at "
        "full on a GPU. Each profile's confirmation is stored beside the others",
    )
    parser.add_argument(
        "--seeds",
        type=positive_int,
        default=3,
        metavar="N",
        help="how many seeds (a count, not a seed value): runs per configuration with seeds base+0 .. base+N-1 "
        "(default 3; a t-test needs >= 2, and under 3 a side the interval is too wide to decide anything); "
        "seeds already stored at this profile are skipped",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--trial", type=int, help="confirm this trial number instead of the best one")
    which.add_argument(
        "--top",
        type=positive_int,
        help="confirm the K best trials by val accuracy (each against the same baseline runs)",
    )
    add_data_dir_argument(parser)
    add_out_argument(parser)


def run(args) -> int:
    from hpsearch.core.callbacks import TrainingDiverged
    from hpsearch.report import write_study_reports
    from hpsearch.report.console import confirm_table, evidence_table, seeds_warning, verdict_text
    from hpsearch.search import confirm as confirm_module
    from hpsearch.search.confirm import pick_trials, planned_seeds, run_confirm, study_profile

    console = Console()
    storage, name = find_study(args, lambda line: console.print(line, markup=False, highlight=False, soft_wrap=True))
    study = load_study(storage, name)
    chosen = pick_trials(study, args.trial, args.top)  # a study with nothing to confirm fails before data or training
    profile = args.profile or study_profile(study)
    TrainConfig.from_profile(profile)  # an unknown --profile fails here, naming the known ones
    seeds = planned_seeds(study, args.seeds)
    numbers = [t.number for t in chosen]
    stored = confirms.done(study, profile)
    skip = {(n, s) for n in [None, *numbers] for s in seeds if (n, s) in stored}
    todo = (len(numbers) + 1) * len(seeds) - len(skip)
    console.print(
        f"confirm {study.study_name}: trial(s) {', '.join(map(str, numbers))} vs the baseline, seeds "
        f"{', '.join(map(str, seeds))}, at profile {profile} (the search ran at {study_profile(study)}), "
        f"scored on the test set with TTA; {len(skip)} run(s) already stored, {todo} to train",
        markup=False,
        highlight=False,
    )
    check_writable(args.out)
    data = load_cifar10(args.data_dir) if todo else None

    store = artifact_store(args.out)
    folder = Path(tempfile.mkdtemp(prefix=".confirm-", dir=artifact_dir(args.out)))  # each run's best checkpoint

    def stored(run: dict) -> None:
        with interrupts_deferred():  # a Ctrl-C meanwhile waits until the finished run is stored
            confirms.add_run(study, profile, run, seeds=seeds, trials=numbers)
        label = "baseline" if run["trial"] is None else f"trial {run['trial']}"
        kept = _keep(study, profile, run, folder / "best.keras", store)
        console.print(
            f"  {label:9s} seed {run['seed']}: test TTA {pct(run[confirms.METRIC])} "
            f"(val {pct(run['val_accuracy'])}, {run['seconds']:.1f} s), stored{kept}",
            highlight=False,
        )

    def score(config, data):  # looked up at each call, so that tests can stand in for it
        return confirm_module.score_on_test(config, data, out_dir=str(folder))

    try:
        run_confirm(study, data, chosen, profile=profile, seeds=args.seeds, skip=skip, on_run=stored, score=score)
    except KeyboardInterrupt:
        raise Interrupted(
            "the finished seed runs are stored in the study; run the same command again to train the rest"
        ) from None
    except TrainingDiverged as exc:
        raise HpsearchError(
            f"a confirm run diverged at profile {profile}: {exc}; the finished runs are stored in the study; "
            f"confirm another trial (--trial N) or at another --profile"
        ) from None
    except Exception as exc:
        if out_of_memory(exc):
            raise HpsearchError(
                f"{out_of_memory(exc)} at profile {profile}; the finished runs are stored in the study; "
                f"confirm at a smaller --profile, or free the device"
            ) from None
        raise
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    for comparison in confirms.comparisons(study):
        if comparison.profile == profile and comparison.trial in numbers:
            console.print(confirm_table(comparison))
            warning = seeds_warning(comparison)
            if warning is not None:
                console.print(warning)
    evidence = evidence_table(study)
    if evidence is not None:
        console.print(evidence)
    where = f"the study (user attrs {keys.CONFIRM_RUN_PREFIX}{profile}:...)"
    with writing(args.out, kept=f"the confirm runs are stored in {where}"):
        page = write_study_reports(storage, name, args.out, study=study)
    console.print(f"stored in {where}", markup=False, highlight=False)
    print_written(console, page.parent)
    console.print(verdict_text(study))
    return 0


def _keep(study, profile: str, run: dict, checkpoint: Path, store) -> str:
    """Keep the run's model if it is its arm's best seed so far (by val accuracy); what to add to its line."""
    from hpsearch.core.model import save_for_inference

    arm = checkpoint.with_name(f"confirm-{profile}-{'baseline' if run['trial'] is None else run['trial']}.keras")
    try:
        if checkpoint.is_file():
            save_for_inference(checkpoint, arm)
        artifact = keep_confirm_model(study, profile, run, arm, store)
    except Exception as exc:  # the run itself is stored: a model that cannot be kept costs nothing else
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else f"{type(exc).__name__}: {exc}"
        return f"; its model not kept ({reason})"
    return f"; model kept (the arm's best seed so far, artifact {artifact})" if artifact else ""
