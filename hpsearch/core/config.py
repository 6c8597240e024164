"""TrainConfig: every knob of a training run, in one frozen dataclass.

`TrainConfig()` IS the baseline (the original student project's recipe). Where the original does not
state a value, the default here is our choice and the comment beside it says why. Profiles
(`profiles.toml`) are named sets of overrides that size a run for the hardware; they change how much
data and how many epochs, never the recipe itself.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass
from importlib import resources
from typing import Any

from hpsearch.errors import HpsearchError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

LR_SCHEDULES = ("step", "triangular", "one_cycle")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
OPTIMIZERS = ("adam", "adamw")
MAX_SEED = 2**32 - 1  # numpy's and TensorFlow's seeds are 32-bit
SHOW = 5  # unknown names listed in an error before "and N more"


class ConfigError(HpsearchError, ValueError):
    """A TrainConfig value or profile that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class TrainConfig:
    # --- reproducibility -------------------------------------------------------------------------
    seed: int = 42  # the original's seed: weights, augmentation, shuffling
    split_seed: int = 0  # the train/val hold-out; fixed apart from `seed` so that every
    # trial and every confirm seed is judged on the same images
    deterministic: bool = True  # deterministic kernels where the backend needs asking (core/device.py):
    # same seed, same machine and backend -> same numbers on a CPU; on a GPU, XLA's and cuDNN's kernel
    # choices can still move the last digits (JAX there needs XLA_FLAGS=--xla_gpu_deterministic_ops=true)

    # --- data --------------------------------------------------------------------------------------
    val_size: int = 5000  # stratified hold-out from the 50,000 training images
    train_size: int | None = None  # None = all the rest (45,000); profiles take a stratified subset
    test_size: int | None = None  # None = the full 10,000-image test set
    batch_size: int = 128  # unstated in the original; 128 with Adam at 1.5e-3 is the common
    # Keras recipe and gives ~3,500 steps over 10 epochs

    # --- augmentation (training only) ----------------------------------------------------------------
    flip: bool = True  # random horizontal flip
    pad: int = 2  # reflect padding before the random 32x32 crop
    augment_on_device: bool | None = None  # keep the training images on the device and augment them in the
    # compiled step (ondevice.py); None = the measured best per device
    # and backend (device.py). The same pixels either way.

    # --- architecture --------------------------------------------------------------------------------
    whitening_patch_size: int = 2  # p: whitening_conv has 2*p*p*3 filters of p x p (24 for p = 2)
    whitening_eps: float = 5e-4  # added to eigenvalues before ^-1/2 (airbench's value): keeps the
    # near-zero-variance directions from exploding
    whitening_trainable: bool = True  # the original *initialises* the layer, then trains it
    widths: tuple[int, int, int] = (128, 256, 512)  # filters of the three conv stages (two convs each)
    bn_momentum: float = 0.9  # unstated; Keras's 0.99 lags behind over only ~3,500 steps
    bn_epsilon: float = 1e-3  # Keras default

    # --- loss ------------------------------------------------------------------------------------------
    label_smoothing: float = 0.1  # the original uses smoothing without a stated amount; 0.1 is the
    # standard value (Szegedy et al.)

    # --- optimiser -------------------------------------------------------------------------------------
    optimizer: str = "adam"  # "adam" | "adamw"
    weight_decay: float = 0.0  # decoupled decay, used by AdamW only
    lookahead: bool = False  # the original's future-work idea: Lookahead around the optimiser
    lookahead_k: int = 5  # sync period (Zhang et al. 2019 defaults)
    lookahead_alpha: float = 0.5  # slow-weight step size

    # --- learning-rate schedule --------------------------------------------------------------------
    lr_schedule: str = "step"  # "step" (the original) | "triangular" | "one_cycle"
    lr_values: tuple[float, ...] = (0.0015, 0.0012, 0.0005)  # the original's three steps
    lr_boundaries: tuple[float, ...] = (0.4, 0.7)  # unstated; as fractions of training so the steps
    # scale with --epochs: epochs 0-3, 4-6, 7-9 at 10 epochs
    peak_lr: float = 0.003  # triangular / one-cycle peak
    warmup_fraction: float = 0.25  # fraction of steps rising to the peak
    final_lr_fraction: float = 0.02  # one-cycle ends at peak * this

    # --- training length and callbacks ----------------------------------------------------------------
    epochs: int = 10  # the original: 10 epochs
    early_stopping_patience: int = 3  # epochs without val_accuracy gain (restores the best weights)
    plateau_patience: int = 2  # ReduceLROnPlateau on val_loss ...
    plateau_factor: float = 0.5  # ... multiplies the scheduled LR by this
    min_lr: float = 1e-5

    # --- evaluation ------------------------------------------------------------------------------------
    tta_flip: bool = True  # TTA views: each shift, plain and mirrored
    tta_shifts: tuple[tuple[int, int], ...] = ((0, 0), (1, 1), (-1, -1))  # pad-and-crop shifts (dy, dx)

    # --- hardware ---------------------------------------------------------------------------------------
    jit_compile: bool | None = None  # None = the measured best per device and backend (device.py)
    precision: str | None = None  # None = per device and backend (device.py): "mixed_float16" on GPU;
    # on CPU "mixed_bfloat16" where it has bf16 instructions and it
    # pays on the backend, else "float32"

    # --- guard -------------------------------------------------------------------------------------------
    max_model_gb: float = 16.0  # refuse configs whose estimated training memory (model_memory_gb:
    # weights, gradients, optimiser state, one batch's activations) is
    # above this, before anything is built; raise it (e.g. in a
    # --params file) on a machine with more memory

    def __post_init__(self) -> None:
        validate(self)

    def replace(self, **changes: Any) -> "TrainConfig":
        """A copy with `changes` applied; unknown names raise ConfigError naming them."""
        unknown = sorted(set(changes) - field_names(), key=str)
        if unknown:
            raise ConfigError(
                f"unknown TrainConfig field(s): {_first(unknown)}; known fields: {', '.join(sorted(field_names()))}"
            )
        return dataclasses.replace(self, **{k: _coerce(k, v) for k, v in changes.items()})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        return cls().replace(**values)

    @classmethod
    def from_profile(cls, profile: str = "full", **overrides: Any) -> "TrainConfig":
        """The baseline sized by a named profile, then `overrides` (e.g. a trial's parameters)."""
        return cls().replace(**{**profile_overrides(profile), **overrides})

    @property
    def whitening_filters(self) -> int:
        return whitening_filters(self.whitening_patch_size)


def _first(names: list) -> str:
    """At most SHOW names (each shortened), then how many more: an error stays one readable line."""
    shown = ", ".join(_short(n, 40) for n in names[:SHOW])
    return shown + (f" and {len(names) - SHOW} more" if len(names) > SHOW else "")


def _short(value: Any, limit: int = 60) -> str:
    if isinstance(value, tuple) and len(value) > limit:
        value = value[:limit]  # enough to show; repr of millions of items is not
    if isinstance(value, int) and abs(value) >= 2**63:
        return f"a {value.bit_length()}-bit integer"
    try:
        text = value if isinstance(value, str) else repr(value)
    except ValueError:  # an int beyond Python's int-to-str limit, inside a tuple
        text = f"a {type(value).__name__} too large to print"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def field_names() -> set[str]:
    return {f.name for f in dataclasses.fields(TrainConfig)}


def _coerce(name: str, value: Any) -> Any:
    """Lists (from JSON/TOML) become tuples so configs stay hashable and comparable."""
    if isinstance(value, list):
        return tuple(tuple(v) if isinstance(v, list) else v for v in value)
    return value


def profiles() -> dict[str, dict[str, Any]]:
    text = resources.files("hpsearch.core").joinpath("profiles.toml").read_text()
    return {name: {k: v for k, v in body.items() if k != "description"} for name, body in tomllib.loads(text).items()}


def profile_descriptions() -> dict[str, str]:
    text = resources.files("hpsearch.core").joinpath("profiles.toml").read_text()
    return {name: body.get("description", "") for name, body in tomllib.loads(text).items()}


def profile_overrides(profile: str) -> dict[str, Any]:
    known = profiles()
    if profile not in known:
        raise ConfigError(f"unknown profile {profile!r}; choose one of: {', '.join(known)}")
    return known[profile]


_TYPES = {"int": (int,), "float": (int, float), "bool": (bool,), "str": (str,)}


def _type_problems(c: TrainConfig) -> list[str]:
    """Each field against its annotation ("int", "float | None", "tuple[...]"): JSON and TOML give strings
    and lists as easily as numbers, and a wrong type should fail here, by name, not deep in Keras."""
    problems = []
    for f in dataclasses.fields(TrainConfig):
        value, annotation = getattr(c, f.name), str(f.type)
        if value is None and annotation.endswith("| None"):
            continue
        base = annotation.split(" |")[0].split("[")[0]
        allowed = (tuple,) if base == "tuple" else _TYPES[base]
        if not isinstance(value, allowed) or (isinstance(value, bool) and base != "bool"):
            problems.append(f"{f.name} must be {annotation} (got {_short(value)})")
        elif base == "tuple" and not all(_item_ok(f.name, item) for item in value):
            problems.append(f"{f.name} must be {annotation} (got {_short(value)})")
        elif bad := [x for x in _scalars(value) if not _sane(x)]:
            rule = "finite" if isinstance(bad[0], float) else "within +-2**63"
            problems.append(f"{f.name} must be {rule} (got {_short(value)})")
    return problems


def _scalars(value: Any):
    if isinstance(value, tuple):
        for item in value:
            yield from _scalars(item)
    else:
        yield value


def _sane(x: Any) -> bool:
    """NaN and +-inf pass or fail every `<` check silently; an int of thousands of digits cannot even be
    printed in an error message (Python's int-to-str limit)."""
    if isinstance(x, float):
        return math.isfinite(x)
    return not isinstance(x, int) or abs(x) < 2**63


def _item_ok(name: str, item: Any) -> bool:
    def number(x: Any) -> bool:
        return isinstance(x, (int, float)) and not isinstance(x, bool)

    if name == "tta_shifts":
        return (
            isinstance(item, tuple)
            and len(item) == 2
            and all(isinstance(x, int) and not isinstance(x, bool) for x in item)
        )
    return number(item)


def validate(c: TrainConfig) -> None:
    """Reject values no run can use, with the field and the reason."""
    problems = _type_problems(c)
    if problems:
        raise ConfigError("invalid TrainConfig: " + "; ".join(problems))

    def need(ok: bool, msg: str) -> None:
        if not ok:
            problems.append(_short(msg, 300))

    need(0 <= c.seed <= MAX_SEED, f"seed must be in 0..{MAX_SEED} (got {c.seed})")
    need(0 <= c.split_seed <= MAX_SEED, f"split_seed must be in 0..{MAX_SEED} (got {c.split_seed})")
    need(c.epochs >= 1, f"epochs must be >= 1 (got {c.epochs})")
    need(c.batch_size >= 1, f"batch_size must be >= 1 (got {c.batch_size})")
    need(c.val_size >= 10, f"val_size must be >= 10, one per class (got {c.val_size})")
    need(c.train_size is None or c.train_size >= 10, f"train_size must be >= 10 or None (got {c.train_size})")
    need(c.test_size is None or c.test_size >= 10, f"test_size must be >= 10 or None (got {c.test_size})")
    need(0 <= c.pad <= 8, f"pad must be in 0..8 (got {c.pad})")
    need(1 <= c.whitening_patch_size <= 5, f"whitening_patch_size must be in 1..5 (got {c.whitening_patch_size})")
    need(c.whitening_eps > 0, f"whitening_eps must be > 0 (got {c.whitening_eps})")
    need(
        len(c.widths) == 3 and all(isinstance(w, int) and w >= 1 for w in c.widths),
        f"widths must be three positive ints (got {c.widths})",
    )
    need(0 < c.bn_momentum < 1, f"bn_momentum must be in (0, 1) (got {c.bn_momentum})")
    need(c.bn_epsilon > 0, f"bn_epsilon must be > 0 (got {c.bn_epsilon})")
    need(0 <= c.label_smoothing < 1, f"label_smoothing must be in [0, 1) (got {c.label_smoothing})")
    need(c.optimizer in OPTIMIZERS, f"optimizer must be one of {OPTIMIZERS} (got {c.optimizer!r})")
    need(c.weight_decay >= 0, f"weight_decay must be >= 0 (got {c.weight_decay})")
    need(c.lookahead_k >= 1, f"lookahead_k must be >= 1 (got {c.lookahead_k})")
    need(0 < c.lookahead_alpha <= 1, f"lookahead_alpha must be in (0, 1] (got {c.lookahead_alpha})")
    need(c.lr_schedule in LR_SCHEDULES, f"lr_schedule must be one of {LR_SCHEDULES} (got {c.lr_schedule!r})")
    need(
        len(c.lr_values) == len(c.lr_boundaries) + 1,
        f"lr_values needs one more entry than lr_boundaries (got {len(c.lr_values)} and {len(c.lr_boundaries)})",
    )
    need(all(v > 0 for v in c.lr_values), f"lr_values must be > 0 (got {c.lr_values})")
    need(
        list(c.lr_boundaries) == sorted(c.lr_boundaries) and all(0 < b < 1 for b in c.lr_boundaries),
        f"lr_boundaries must be increasing fractions in (0, 1) (got {c.lr_boundaries})",
    )
    need(c.peak_lr > 0, f"peak_lr must be > 0 (got {c.peak_lr})")
    need(0 < c.warmup_fraction < 1, f"warmup_fraction must be in (0, 1) (got {c.warmup_fraction})")
    need(0 < c.final_lr_fraction <= 1, f"final_lr_fraction must be in (0, 1] (got {c.final_lr_fraction})")
    need(c.early_stopping_patience >= 1, f"early_stopping_patience must be >= 1 (got {c.early_stopping_patience})")
    need(c.plateau_patience >= 1, f"plateau_patience must be >= 1 (got {c.plateau_patience})")
    need(0 < c.plateau_factor < 1, f"plateau_factor must be in (0, 1) (got {c.plateau_factor})")
    need(c.min_lr >= 0, f"min_lr must be >= 0 (got {c.min_lr})")
    need(c.max_model_gb > 0, f"max_model_gb must be > 0 (got {c.max_model_gb})")
    need(
        len(c.tta_shifts) >= 1 and all(abs(dy) <= 4 and abs(dx) <= 4 for dy, dx in c.tta_shifts),
        f"tta_shifts must be (dy, dx) pairs within 4 pixels (got {c.tta_shifts})",
    )
    need(
        c.precision is None or c.precision in PRECISIONS,
        f"precision must be one of {PRECISIONS} or None (got {c.precision!r})",
    )
    if problems:
        raise ConfigError("invalid TrainConfig: " + "; ".join(problems))
    _check_size(c)


# --- model size, by arithmetic (no model is built) ------------------------------------------------------


def whitening_filters(patch_size: int) -> int:
    """The whitening conv's filters for a patch of `patch_size` (both signs of each of the 3*p*p eigenvectors)."""
    return 2 * patch_size**2 * 3


def model_size(c: TrainConfig) -> tuple[int, int]:
    """(parameters, activation values per image) of model.build_model's network under `c`: whitening conv
    (valid, with bias) -> APTx, three stages of conv -> [pool 2] -> BN -> APTx, pool 3, dense 10."""
    side, channels = 33 - c.whitening_patch_size, c.whitening_filters
    params = c.whitening_patch_size**2 * 3 * channels + channels
    values = 2 * side * side * channels  # the conv's output and its activation
    for width in c.widths:
        for pool in (True, False):
            params += 9 * channels * width + 4 * width  # 3x3 conv without bias; BN's four vectors
            values += side * side * width
            side = side // 2 if pool else side
            values += (3 if pool else 2) * side * side * width  # [pool,] BN, APTx
            channels = width
    side //= 3
    params += side * side * channels * 10 + 10
    return params, values


def model_memory_gb(c: TrainConfig) -> float:
    """A rough upper bound of training memory, in float32: five copies of the weights (weights, gradients,
    two Adam moments, Lookahead's slow weights) and two of one batch's activations (kept for the backward
    pass, and their gradients)."""
    params, values = model_size(c)
    return 4 * (5 * params + 2 * c.batch_size * values) / 1e9


def _check_size(c: TrainConfig) -> None:
    """Refuse a model too large for the machine before anything is allocated: a width of 100,000 would
    otherwise end in an out-of-memory traceback, or hours of swapping."""
    needed = model_memory_gb(c)
    if needed > c.max_model_gb:
        params, values = model_size(c)
        raise ConfigError(
            f"invalid TrainConfig: widths {_short(c.widths)} with batch_size {_short(c.batch_size)} need about "
            f"{_short(f'{needed:,.1f}')} GB to train ({_short(f'{params:,}')} parameters, "
            f"{_short(f'{4 * values * c.batch_size / 1e9:,.1f}')} GB of activations per batch), more than "
            f"max_model_gb = {c.max_model_gb:g}; use smaller widths or "
            f"batch_size, or raise max_model_gb on a machine with more memory"
        )


FULL_WIDTHS = TrainConfig().widths  # the full baseline's widths: the scale search specs write widths at
