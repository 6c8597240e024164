"""Arguments and steps that several commands share."""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import tempfile
from pathlib import Path
from typing import Callable, Iterator

from hpsearch.core.config import profile_descriptions
from hpsearch.core.device import BACKENDS, DEFAULT_BACKEND
from hpsearch.errors import HpsearchError
from hpsearch.files import write_error
from hpsearch.record.paths import STUDIES, TENSORBOARD, journal_path
from hpsearch.record.storage import storage_label, study_names


def add_backend_argument(parser: argparse.ArgumentParser) -> None:
    """--backend, on every command (cli.py adds it to each); applied before Keras is first imported."""
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default=None,
        help=f"Keras backend (default: $KERAS_BACKEND, else {DEFAULT_BACKEND}); "
        f"the others need their pip extras (README)",
    )
    parser.add_argument(
        "--cache-dir",
        default=None,
        help="compiled programs are kept in CACHE_DIR/<backend> and reused by later runs of the same "
        "shapes (default: $HPSEARCH_CACHE_DIR, else ~/.cache/hpsearch); delete it to clear",
    )


def add_data_arguments(
    parser: argparse.ArgumentParser, default_profile: str | None = "full", default_help: str = ""
) -> None:
    """--profile (default `default_profile`; None: the command resolves it, `default_help` says how), --data-dir, --seed."""
    parser.add_argument(
        "--profile",
        default=default_profile,
        metavar=profile_choices(),
        help=f"run size (default {default_help or default_profile}); the profiles are listed below",
    )
    add_data_dir_argument(parser)
    parser.add_argument("--seed", type=int, default=None, help="random seed (default 42, the original's)")


def profile_choices() -> str:
    """--profile's metavar: the choices, so usage and help list them (checked by TrainConfig, whose error names
    them too)."""
    return "{" + ",".join(profile_descriptions()) + "}"


def add_data_dir_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        help="folder holding cifar-10-batches-py/ (or its files); default: "
        "$HPSEARCH_DATA_DIR, then the Keras cache, then a download",
    )


def add_out_argument(parser: argparse.ArgumentParser) -> None:
    """--out ROOT, the same for every command (record.paths): studies in ROOT/studies/, reports in ROOT/reports/."""
    parser.add_argument(
        "--out",
        default=".",
        help="output root, the same for every command (default: the current "
        "folder): study journals in OUT/studies/<study>.journal, study reports in "
        "OUT/reports/<study>/, run folders in OUT/reports/<run>/",
    )


def study_name(text: str) -> str:
    """An argparse type: a study name that is not empty (an empty one would silently mean the default)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("a study name cannot be empty; pass a name, or leave out --study-name")
    return text


def check_writable(out: str | Path) -> None:
    """Before any training: the output root (or the nearest folder that exists above it) takes a new file."""
    root = Path(out)
    try:
        existing = next(p for p in (root, *root.parents) if p.exists() or p == Path(p.anchor or "."))
    except OSError as exc:  # a name longer than the file system allows (ENAMETOOLONG), a loop of links
        raise write_error(root, exc) from None
    if not existing.is_dir():
        raise HpsearchError(f"--out {out}: {existing} is a file, not a folder; pass --out with a writable folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise HpsearchError(
            f"--out {out} is not writable ({exc.strerror or exc}); pass --out with a writable folder"
        ) from None


@contextlib.contextmanager
def writing(folder: str | Path, kept: str = "") -> Iterator[None]:
    """An OSError while writing output (disk full, a folder made read-only meanwhile) as one line; `kept` says
    what is safe already (a study's finished trials, in its storage)."""
    try:
        yield
    except OSError as exc:
        where = exc.filename or folder
        raise HpsearchError(
            f"cannot write {where}: {exc.strerror or exc}{'; ' + kept if kept else ''}; "
            "pass --out with a writable folder"
        ) from None


def default_storage(out: str | Path, study_name: str) -> Path:
    """The study's default storage, as every command finds it: the journal file OUT/studies/<name>.journal
    (an absolute path, so the commands printed with it work from any folder). A Path, not a string: it is
    hpsearch's own, so it is not refused for looking like a mistyped URL (an '@' in --out) as --storage is."""
    return journal_path(out, study_name).resolve()


def add_study_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    """--study-name (optional: the storage's only study) and --storage, for the commands that read a study."""
    parser.add_argument(
        "--study-name",
        type=study_name,
        help=f"the study {what} (as given to hpsearch study); default: the storage's only study",
    )
    parser.add_argument(
        "--storage",
        help="the study's storage: a database URL or journal file (default: the journal file hpsearch study "
        "writes, OUT/studies/<study-name>.journal; without --study-name, the one journal there)",
    )


def find_study(args, say: Callable[[str], None]) -> tuple[str | Path, str]:
    """(storage, study name) of the study a reading command works on: --study-name in --storage (default its
    journal under --out), else the only study there. Several studies, or none: one line listing what there is.
    `say` is told which journal was read when it was found from --out."""
    if args.study_name is not None:
        return args.storage or default_storage(args.out, args.study_name), args.study_name
    if args.storage:
        names = study_names(args.storage)
        return args.storage, _only(names, f"storage {storage_label(args.storage)}")
    folder = Path(args.out) / STUDIES
    found = {str(p.resolve()): study_names(str(p)) for p in sorted(folder.glob("*.journal")) if p.is_file()}
    pairs = [(path, name) for path, names in found.items() for name in names]
    if len(pairs) > 1:
        listed = ", ".join(f"{name} ({Path(path).name})" for path, name in pairs)
        raise HpsearchError(f"{folder} holds {len(pairs)} studies: {listed}; pass one with --study-name")
    if not pairs:
        raise HpsearchError(
            f"no study in {folder}/ (no journal holding one); pass --out with the folder `hpsearch study` "
            "wrote to, or --storage URL"
        )
    ((path, name),) = pairs
    say(f"study {name}: read {path}")
    return path, name


def _only(names: list[str], where: str) -> str:
    if len(names) == 1:
        return names[0]
    if not names:
        raise HpsearchError(f"{where} holds no study; run `hpsearch study` first, or pass another --storage")
    raise HpsearchError(f"{where} holds {len(names)} studies: {', '.join(names)}; pass one with --study-name")


def add_tracking_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-tensorboard",
        action="store_true",
        help="write no TensorBoard logs (default: per-epoch scalars and the HParams summary in "
        "OUT/tensorboard/; view them with `tensorboard --logdir OUT/tensorboard`)",
    )
    parser.add_argument(
        "--mlflow",
        metavar="URI",
        help="also log to MLflow at URI (http://HOST:PORT of a tracking server, or sqlite:///FILE.db): each "
        "trial a run nested under one parent run per study, with its parameters, metrics by epoch and kept "
        "model; experiment $MLFLOW_EXPERIMENT_NAME, else hpsearch; needs pip install 'hpsearch[mlflow]'",
    )


def mlflow_tracking():
    """hpsearch.track.mlflow, for --mlflow: MLflow is an optional extra, so a missing one is one line."""
    try:
        from hpsearch.track import mlflow
    except ImportError as exc:
        raise HpsearchError(
            f"--mlflow needs the mlflow package ({exc.msg}); pip install 'hpsearch[mlflow]', or leave out --mlflow"
        ) from None
    return mlflow


def tracking_hooks(args, out: str | Path, name: str, console, params=(), mlflow_run=None) -> list:
    """The study's trial hooks for tracking (hpsearch/track/), as the arguments ask; `params`: the names of the
    space's parameters (the HParams columns, MLflow's params); `mlflow_run`: the study's MLflow parent run
    (track.mlflow.StudyRun, opened by the command for --mlflow), under which each trial's run nests."""
    hooks = []
    if not args.no_tensorboard:
        from hpsearch.track.tensorboard import TensorBoardTrials  # loads Keras: imported when a study runs

        hooks.append(TensorBoardTrials(out, name, console, params))
    if mlflow_run is not None:
        hooks.append(mlflow_tracking().MlflowTrials(mlflow_run, console, params))
    return hooks


def print_tensorboard(console, out: str | Path) -> None:
    """The command that shows the TensorBoard logs under `out`."""
    logdir = shlex.quote(str(Path(out) / TENSORBOARD))
    console.print(f"TensorBoard: tensorboard --logdir {logdir}", markup=False, highlight=False, soft_wrap=True)


def print_written(console, folder: Path) -> None:
    """Say which files a command wrote in `folder` (the one writer's folder: all of them are ours)."""
    names = ", ".join(sorted(p.name for p in folder.iterdir() if p.is_file()))
    console.print(f"wrote {folder}/ ({names})", markup=False, highlight=False, soft_wrap=True)


def _at_least(convert, minimum, what: str):
    """An argparse type: `convert(text)`, at least `minimum`, with a one-line error otherwise."""

    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not value >= minimum:  # also rejects NaN
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {text}")
        return value

    return parse


positive_int = _at_least(int, 1, "a whole number")
non_negative_int = _at_least(int, 0, "a whole number")
non_negative = _at_least(float, 0, "a number")


MAX_PARAMS_BYTES = 1_000_000  # best_params.json is a few hundred bytes; this only stops a wrong file early


def read_params(path: str) -> dict:
    """Parameters from a JSON file: {"params": {...}} as written by a study (best_params.json) or a plain
    {field: value} object. JSON only: nothing in the file is executed. Every problem is one line."""
    loaded = read_params_file(path)
    return loaded.get("params", loaded)


def read_params_file(path: str) -> dict:
    """The whole JSON object of a parameters file (read_params), checked to hold a parameters object."""

    def no_constant(name: str):
        raise ValueError(f"{name} is not a number JSON allows")

    try:
        size = Path(path).stat().st_size
        if size > MAX_PARAMS_BYTES:
            raise HpsearchError(
                f"--params file {path} is {size:,} bytes, too large for a parameters file "
                f"({MAX_PARAMS_BYTES:,} at most); pass a best_params.json or a small JSON object"
            )
        loaded = json.loads(Path(path).read_bytes().decode("utf-8"), parse_constant=no_constant)
    except FileNotFoundError:
        raise HpsearchError(f"--params file {path} does not exist") from None
    except UnicodeDecodeError as exc:
        raise HpsearchError(
            f"--params file {path} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at "
            f"offset {exc.start}); save it as UTF-8 JSON"
        ) from None
    except (OSError, ValueError) as exc:
        raise HpsearchError(f"--params file {path} is not readable JSON ({str(exc)[:200]})") from None
    except RecursionError:
        raise HpsearchError(
            f"--params file {path} nests too deeply to be a parameters file; pass a flat JSON "
            f"object of TrainConfig fields"
        ) from None
    params = loaded.get("params", loaded) if isinstance(loaded, dict) else None
    if not isinstance(params, dict):
        raise HpsearchError(
            f"--params file {path} must hold a JSON object of TrainConfig fields "
            f'(or {{"params": {{...}}}} as in best_params.json)'
        )
    return loaded


def warn_if_slow(console, profile: str, device_kind: str) -> None:
    if profile == "full" and device_kind == "CPU":
        console.print(
            "[yellow]No GPU found: the full profile (45,000 images, 10 epochs) takes hours on a CPU. "
            "For a run in minutes use --profile cpu.[/]"
        )
