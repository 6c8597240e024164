"""Search spaces are data: `studies/*.toml` -> validated parameters -> TrainConfig overrides.

A spec names TrainConfig fields and how to sample them; the same spec drives both engines:

    [study]
    description = "..."
    [params]
    peak_lr = { type = "float", low = 3e-4, high = 1e-2, log = true }
    optimizer = { type = "categorical", choices = ["adam", "adamw"] }
    weight_decay = { type = "float", low = 1e-5, high = 1e-2, log = true, when = { optimizer = "adamw" } }

Types: "float" and "int" (low, high, optional log or step), "categorical" (choices), "bool".
`when = { name = value }` (or a list of values) samples a parameter only while another, categorical or
bool, parameter has that value. Two encodings go beyond plain fields:
- `width_1`, `width_2`, `width_3`: the filters of each conv stage, declared together; they become `widths`.
  Widths (these and a `widths` categorical) are written at the full-size baseline's scale (128/256/512) and
  scaled per stage by the profile's baseline: at `smoke` (8/16/16) a sampled 256/512/768 trains 16/32/24, so
  a space means the same relative change at every profile instead of "a bigger network than the profile's".
- a categorical whose choices are lists (`lr_values`, `widths`): Optuna's choices must be scalars, so each
  list is recorded under its JSON text ("[0.003, 0.0015, 0.0005]") and turned back into a tuple here.
Every mistake is a SpecError naming the file, the key and the reason, raised before any training.
"""

from __future__ import annotations

import itertools
import json
import math
import sys
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpsearch.core.config import (
    FULL_WIDTHS,
    ConfigError,
    TrainConfig,
    field_names,
    model_memory_gb,
    whitening_filters,
)
from hpsearch.errors import HpsearchError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

TYPES = ("float", "int", "categorical", "bool")
WIDTH_PARAMS = ("width_1", "width_2", "width_3")
# Searching these would judge trials on different validation images, so no two trials would be comparable.
NOT_SEARCHABLE = {
    "split_seed": "every trial must be judged on the same validation images",
    "val_size": "every trial must be judged on the same validation images",
}
MAX_SPEC_BYTES = 1_000_000  # a spec is a few hundred bytes; this only stops a wrong file early
SHOW_PROBLEMS = 20  # problems listed in one SpecError before "and N more"
_KEYS = {
    "float": {"low", "high", "log", "step"},
    "int": {"low", "high", "log", "step"},
    "categorical": {"choices"},
    "bool": set(),
}


class SpecError(HpsearchError):
    """A study spec that cannot be searched; the message names the file, the key and the reason."""


@dataclass(frozen=True)
class ParamSpec:
    name: str  # a TrainConfig field, or width_1..3
    type: str  # "float" | "int" | "categorical" | "bool"
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple | None = None  # categorical: scalars, or lists (see `labels`)
    when: dict[str, Any] | None = None  # {other param: value or list of values}

    @property
    def labels(self) -> list:
        """The choices as Optuna/KerasTuner can store them: lists become their JSON text."""
        if self.type == "bool":
            return [False, True]
        return [json.dumps(list(c)) if isinstance(c, (list, tuple)) else c for c in self.choices or ()]

    def decode(self, value: Any) -> Any:
        """A stored value -> the TrainConfig value (JSON text of a list -> tuple)."""
        if isinstance(value, str) and self.type == "categorical" and _has_lists(self.choices):
            return _tuple(json.loads(value))
        if isinstance(value, list):
            return _tuple(value)
        return value

    def suggest(self, trial) -> Any:
        """Sample this parameter on an optuna.Trial; returns the TrainConfig value."""
        if self.type == "float":
            return trial.suggest_float(self.name, self.low, self.high, log=self.log, step=self.step)
        if self.type == "int":
            return trial.suggest_int(self.name, self.low, self.high, log=self.log, step=self.step or 1)
        return self.decode(trial.suggest_categorical(self.name, self.labels))

    def active(self, values: dict[str, Any]) -> bool:
        """Whether the `when` conditions hold for the values sampled so far."""
        for other, wanted in (self.when or {}).items():
            allowed = wanted if isinstance(wanted, list) else [wanted]
            if other not in values or values[other] not in allowed:
                return False
        return True


@dataclass(frozen=True)
class StudySpec:
    path: str
    text: str  # the TOML text, stored with the study
    description: str
    params: dict[str, ParamSpec]  # in sampling order: a `when` target comes before its users

    @property
    def name(self) -> str:
        return Path(self.path).stem

    def suggest(self, trial, base: TrainConfig | None = None) -> dict[str, Any]:
        """Sample the active parameters on an optuna.Trial; returns TrainConfig overrides."""
        sampled: dict[str, Any] = {}
        for param in self.params.values():
            if param.active(sampled):
                sampled[param.name] = param.suggest(trial)
        return self.to_overrides(sampled, base)

    def to_overrides(self, params: dict[str, Any], base: TrainConfig | None = None) -> dict[str, Any]:
        """Sampled values (as stored by Optuna or KerasTuner, or already converted) -> TrainConfig overrides.
        width_1..3 become `widths` (a missing one is taken from `base`), scaled to `base`'s widths (see the
        module docstring); list labels become tuples."""
        overrides: dict[str, Any] = {}
        widths: dict[int, int] = {}
        for name, value in params.items():
            param = self.params.get(name)
            value = param.decode(value) if param else (_tuple(value) if isinstance(value, list) else value)
            if name in WIDTH_PARAMS:
                widths[WIDTH_PARAMS.index(name)] = int(value)
            else:
                overrides[name] = _field_type(name, value)
        if widths:
            if len(widths) < 3 and base is None:
                missing = [WIDTH_PARAMS[i] for i in range(3) if i not in widths]
                raise SpecError(f"{self.path}: {', '.join(missing)} missing; width_1..3 go together")
            old = base.widths if base is not None else (0, 0, 0)
            scaled = scale_widths(tuple(widths.get(i, FULL_WIDTHS[i]) for i in range(3)), base)
            overrides["widths"] = tuple(scaled[i] if i in widths else old[i] for i in range(3))
        elif "widths" in overrides:
            overrides["widths"] = scale_widths(overrides["widths"], base)
        return overrides

    def to_config(self, base: TrainConfig, params: dict[str, Any]) -> TrainConfig:
        """`base` with the sampled `params` applied (raises ConfigError for a combination no run can use)."""
        return base.replace(**self.to_overrides(params, base))


def scale_widths(widths: tuple, base: TrainConfig | None) -> tuple:
    """Widths at the full-size baseline's scale -> at `base`'s (per stage, at least 1 filter); unchanged when
    `base` is None or has the full-size baseline's widths."""
    if base is None or tuple(base.widths) == FULL_WIDTHS or len(widths) != 3:
        return tuple(widths)
    return tuple(max(1, round(w * b / f)) for w, b, f in zip(widths, base.widths, FULL_WIDTHS))


SIZE_PARAMS = (*WIDTH_PARAMS, "widths", "batch_size", "whitening_patch_size")  # what model_memory_gb reads


def _ends(param: ParamSpec) -> list:
    """A size parameter's ends: low and high (parse_spec keeps high on the step's grid), or every choice."""
    if param.type in ("int", "float"):
        return [param.low, param.high]
    return [param.decode(label) for label in param.labels]


def check_fits(spec: StudySpec, base: TrainConfig, profile: str = "") -> None:
    """Refuse, before trial 0, a spec whose largest network would not fit `base.max_model_gb`: every corner
    of its size parameters (widths, batch size, whitening patch) is sized by arithmetic, as TrainConfig
    checks one config. `when` conditions are ignored, so a corner only some trials reach counts too."""
    sized = [p for p in spec.params.values() if p.name in SIZE_PARAMS]
    worst, worst_gb = None, 0.0
    for corner in itertools.product(*(_ends(p) for p in sized)):
        values = dict(zip((p.name for p in sized), corner))
        changes = {k: v for k, v in spec.to_overrides(values, base).items() if k != "whitening_patch_size"}
        patch = int(values.get("whitening_patch_size", base.whitening_patch_size))
        shape = types.SimpleNamespace(  # not a TrainConfig: building one runs the very check refused here
            widths=tuple(int(w) for w in changes.get("widths", base.widths)),
            batch_size=int(changes.get("batch_size", base.batch_size)),
            whitening_patch_size=patch,
            whitening_filters=whitening_filters(patch),
        )
        needed = model_memory_gb(shape)
        if needed > worst_gb:
            worst, worst_gb = values, needed
    if worst is not None and worst_gb > base.max_model_gb:
        at = ", ".join(f"{k}={_short_value(v)}" for k, v in worst.items())
        raise SpecError(
            f"{spec.path}: its largest network ({at}) needs about {worst_gb:,.1f} GB to train"
            f"{f' at profile {profile}' if profile else ''}, more than max_model_gb = {base.max_model_gb:g}; "
            f"lower those bounds in the spec"
        )


def _short_value(value: Any) -> str:
    if isinstance(value, tuple):
        return "/".join(map(str, value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def baseline_params(spec: StudySpec, base: TrainConfig) -> dict[str, Any] | None:
    """The baseline's own value of every parameter active for it, as Optuna stores it (width_1..3 at the full
    scale, list choices as their JSON text), so the baseline trial can be enqueued with them and shows in
    parameter plots (optuna-dashboard's too). None when one lies outside its range or choices: Optuna would
    then record a value the baseline did not train."""
    out: dict[str, Any] = {}
    values: dict[str, Any] = {}
    for param in spec.params.values():
        if not param.active(values):
            continue
        if param.name in WIDTH_PARAMS:
            raw = FULL_WIDTHS[WIDTH_PARAMS.index(param.name)]  # scale_widths(FULL_WIDTHS, base) == base.widths
        else:
            raw = getattr(base, param.name)
        stored = json.dumps(list(raw)) if isinstance(raw, tuple) else raw
        if not _representable(param, raw, stored):
            return None
        out[param.name], values[param.name] = stored, raw
    return out


def _representable(param: ParamSpec, raw: Any, stored: Any) -> bool:
    if param.type in ("categorical", "bool"):
        return any(stored == label and type(stored) is type(label) for label in param.labels)
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not param.low <= raw <= param.high:
        return False
    if param.type == "int" and not isinstance(raw, int):
        return False
    step = param.step or (1 if param.type == "int" else None)
    return step is None or math.isclose((raw - param.low) / step, round((raw - param.low) / step), abs_tol=1e-9)


def load_spec(path: str | Path) -> StudySpec:
    """Read and validate a study spec; raises SpecError listing every problem found."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_SPEC_BYTES:
            raise SpecError(
                f"{path} is {path.stat().st_size:,} bytes, too large for a study spec "
                f"({MAX_SPEC_BYTES:,} at most); pass --spec with a spec file such as studies/default.toml"
            )
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise SpecError(
            f"cannot read study spec {path}: {exc.strerror or exc}; pass --spec with an existing "
            f"file such as studies/default.toml"
        ) from None
    except UnicodeDecodeError as exc:
        raise SpecError(
            f"{path} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start}); "
            f"save the spec as UTF-8"
        ) from None
    return parse_spec(text, str(path))


def parse_spec(text: str, path: str = "<spec>") -> StudySpec:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: not valid TOML: {exc}") from None
    except (ValueError, RecursionError) as exc:  # an int of thousands of digits; nesting thousands deep
        raise SpecError(f"{path}: not a usable study spec ({type(exc).__name__}: {str(exc)[:100]})") from None
    problems: list[str] = []
    for key in sorted(set(doc) - {"study", "params"}):
        problems.append(f"[{key}]: unknown section; a spec has [study] and [params]")
    study = doc.get("study", {})
    description = study.get("description", "") if isinstance(study, dict) else ""
    if not isinstance(study, dict) or not isinstance(description, str):
        problems.append("[study] description: must be a string")
        description = ""
    elif set(study) - {"description"}:
        problems.append(
            f"[study]: unknown key(s) {', '.join(sorted(set(study) - {'description'}))}; "
            f"only `description` belongs here"
        )
    raw = doc.get("params", {})
    if not isinstance(raw, dict) or not raw:
        problems.append(
            "[params]: no parameters; declare at least one, e.g. "
            'peak_lr = { type = "float", low = 3e-4, high = 1e-2, log = true }'
        )
        raw = {}
    params = {}
    for name, body in raw.items():
        param, errors = _parse_param(name, body)
        problems += [f"[params.{name}] {e}" for e in errors]
        if param is not None:
            params[name] = param
    problems += _check_widths(params) + _check_when(params)
    if problems:
        more = f"\n  ... and {len(problems) - SHOW_PROBLEMS} more" if len(problems) > SHOW_PROBLEMS else ""
        raise SpecError(
            f"{path}: invalid study spec:\n  " + "\n  ".join(p[:300] for p in problems[:SHOW_PROBLEMS]) + more
        )
    return StudySpec(path=path, text=text, description=description.strip(), params=_sampling_order(params))


# --- validation --------------------------------------------------------------------------------------


def _parse_param(name: str, body: Any) -> tuple[ParamSpec | None, list[str]]:
    if name in NOT_SEARCHABLE:
        return None, [f"cannot be searched: {NOT_SEARCHABLE[name]}"]
    if name not in field_names() and name not in WIDTH_PARAMS:
        return None, [
            f"unknown TrainConfig field; use one of: {', '.join(sorted(field_names() - set(NOT_SEARCHABLE)))}"
            f" (or width_1, width_2, width_3)"
        ]
    if not isinstance(body, dict):
        return None, ['must be a table, e.g. { type = "float", low = 0.0, high = 0.2 }']
    kind = body.get("type")
    if kind not in TYPES:
        return None, [f"type must be one of {', '.join(TYPES)} (got {kind!r})"]
    extra = set(body) - _KEYS[kind] - {"type", "when"}
    if extra:
        return None, [f"unknown key(s) for type {kind!r}: {', '.join(sorted(extra))}"]
    when = body.get("when")
    if when is not None and not isinstance(when, dict):
        return None, ['when must be a table, e.g. when = { optimizer = "adamw" }']
    choices = body.get("choices")
    param = ParamSpec(
        name=name,
        type=kind,
        low=body.get("low"),
        high=body.get("high"),
        log=body.get("log", False),
        step=body.get("step"),
        choices=tuple(choices) if isinstance(choices, list) else choices,
        when=when,
    )
    errors = _check_range(param) if kind in ("float", "int") else _check_choices(param)
    field_kind = _field_kind(name)
    if not errors and not _type_fits(param, field_kind):
        errors.append(f"wrong type: {name} holds {field_kind} values, which type {kind!r} cannot give")
    if not errors:
        errors += _check_values(param)
    return param, errors


def _check_range(p: ParamSpec) -> list[str]:
    number = (float, int) if p.type == "float" else (int,)
    if any(not isinstance(v, number) or isinstance(v, bool) for v in (p.low, p.high)):
        return [f"low and high must both be given as {p.type} numbers (got low={p.low!r}, high={p.high!r})"]
    if any(isinstance(v, float) and not math.isfinite(v) for v in (p.low, p.high, p.step)):  # TOML has inf, nan
        return [f"low, high and step must be finite (got low={p.low!r}, high={p.high!r}, step={p.step!r})"]
    if not isinstance(p.log, bool):
        return [f"log must be true or false (got {p.log!r})"]
    if not p.low < p.high:
        return [f"impossible range: low ({p.low}) must be below high ({p.high})"]
    if p.log and p.low <= 0:
        return [f"impossible range: log = true needs low > 0 (got {p.low})"]
    if p.step is not None:
        if p.log:
            return ["step and log = true cannot be combined (Optuna samples log ranges continuously)"]
        if not isinstance(p.step, number) or isinstance(p.step, bool) or p.step <= 0:
            return [f"step must be a positive {p.type} (got {p.step!r})"]
        spans = (p.high - p.low) / p.step
        if not math.isclose(spans, round(spans), abs_tol=1e-9):
            return [f"high - low ({p.high - p.low:g}) must be a multiple of step ({p.step})"]
    return []


def _check_choices(p: ParamSpec) -> list[str]:
    if p.type == "bool":
        return []
    if not isinstance(p.choices, tuple) or not p.choices:
        return ['choices must be a non-empty list, e.g. choices = ["adam", "adamw"]']
    labels = p.labels
    if len(set(map(json.dumps, labels))) != len(labels):
        return [f"choices repeat a value: {list(p.choices)}"]
    if _has_lists(p.choices) and not all(isinstance(c, list) for c in p.choices):
        return ["choices mix lists and single values; make every choice a list"]
    return []


def _type_fits(p: ParamSpec, field_kind: str) -> bool:
    if p.type in ("float", "int", "bool"):
        return {"float": "float", "int": "int", "bool": "bool"}[p.type] == field_kind
    return all(_value_kind(c) == field_kind or (field_kind == "float" and _value_kind(c) == "int") for c in p.choices)


def _check_values(p: ParamSpec) -> list[str]:
    """Each end of a range and each choice must make a valid TrainConfig on its own."""
    if p.name in WIDTH_PARAMS:
        lowest = p.low if p.low is not None else min(p.choices)
        return [] if lowest >= 1 else [f"impossible range: a stage needs at least 1 filter (got {lowest})"]
    values = [p.low, p.high] if p.type in ("float", "int") else [p.decode(c) for c in p.labels]
    for value in values:
        try:
            TrainConfig().replace(**{p.name: value})
        except ConfigError as exc:
            reason = str(exc).removeprefix("invalid TrainConfig: ")
            return [f"value {value!r} is not allowed: {reason}"]
    return []


def _check_widths(params: dict[str, ParamSpec]) -> list[str]:
    present = [n for n in WIDTH_PARAMS if n in params]
    if not present:
        return []
    if len(present) < 3:
        missing = ", ".join(n for n in WIDTH_PARAMS if n not in params)
        return [f"[params.{present[0]}] width_1, width_2 and width_3 go together; also declare {missing}"]
    if "widths" in params:
        return ["[params.widths] declare either widths (a categorical of lists) or width_1..3, not both"]
    if len({json.dumps(params[n].when, sort_keys=True) for n in WIDTH_PARAMS}) > 1:
        return ["[params.width_1] width_1, width_2 and width_3 need the same `when`"]
    return []


def _check_when(params: dict[str, ParamSpec]) -> list[str]:
    problems = []
    for p in params.values():
        for other, wanted in (p.when or {}).items():
            target = params.get(other)
            where = f"[params.{p.name}] when.{other}"
            if other == p.name:
                problems.append(f"{where}: a parameter cannot depend on itself")
            elif target is None:
                problems.append(f"{where}: no parameter {other!r} in this spec; declare it or remove the condition")
            elif target.type not in ("categorical", "bool") or _has_lists(target.choices):
                problems.append(f"{where}: conditions can only name a categorical (of single values) or bool parameter")
            else:
                possible = [target.decode(c) for c in target.labels]
                for value in wanted if isinstance(wanted, list) else [wanted]:
                    if not any(value == c and type(value) is type(c) for c in possible):
                        problems.append(f"{where}: {value!r} is never sampled; {other} takes {possible}")
    cycle = None if problems else _cycle(params)
    if cycle:
        problems.append(f"[params.{cycle}] when: the conditions form a cycle")
    return problems


def _cycle(params: dict[str, ParamSpec]) -> str | None:
    """The name of a parameter whose `when` chain leads back to itself, if any."""

    def reaches(name: str, target: str, seen: set[str]) -> bool:
        for parent in params[name].when or {}:
            if parent == target or (
                parent in params and parent not in seen and reaches(parent, target, seen | {parent})
            ):
                return True
        return False

    return next((name for name in params if reaches(name, name, set())), None)


def _sampling_order(params: dict[str, ParamSpec]) -> dict[str, ParamSpec]:
    """Declaration order, except that a `when` target is sampled before the parameters that name it."""
    ordered: dict[str, ParamSpec] = {}

    def visit(name: str) -> None:
        if name not in ordered:
            for parent in params[name].when or {}:
                visit(parent)
            ordered[name] = params[name]

    for name in params:
        visit(name)
    return ordered


# --- TrainConfig field types ---------------------------------------------------------------------------


def _field_kind(name: str) -> str:
    """ "bool" | "int" | "float" | "str" | "list" for a TrainConfig field (None-able fields: the other type)."""
    if name in WIDTH_PARAMS:
        return "int"
    hint = typing.get_type_hints(TrainConfig)[name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and args:
        hint = args[0]
    if typing.get_origin(hint) is tuple or hint is tuple:
        return "list"
    return {bool: "bool", int: "int", float: "float", str: "str"}.get(hint, "str")


def _value_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (list, tuple)):
        return "list"
    return {int: "int", float: "float", str: "str"}.get(type(value), type(value).__name__)


def _field_type(name: str, value: Any) -> Any:
    """TOML/JSON numbers -> the field's type (0 for a float field becomes 0.0)."""
    if (
        name in field_names()
        and _field_kind(name) == "float"
        and isinstance(value, int)
        and not isinstance(value, bool)
    ):
        return float(value)
    return value


def _has_lists(choices) -> bool:
    return any(isinstance(c, (list, tuple)) for c in choices or ())


def _tuple(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_tuple(v) for v in value)
    return value
