"""A searched configuration at any profile: the one rule that `confirm --profile P` and `baseline --params FILE
--profile P` share, so that both train the same TrainConfig.

At the study's own profile a trial is the config it trained: the study's baseline with the trial's stored
differences. At another profile it is that profile's baseline (plus whatever the study's baseline set beyond
its profile, e.g. another seed) with the trial's sampled parameters through the search space: widths,
sampled at the full-size baseline's scale, are re-scaled to the profile's widths. Without the space, the
stored differences are applied as they are.

No Keras here: `baseline --params` checks its file before a backend loads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hpsearch.core.config import TrainConfig, profile_overrides
from hpsearch.core.result import jsonable
from hpsearch.errors import HpsearchError
from hpsearch.record import keys
from hpsearch.search.space import StudySpec, parse_spec


def base_at(profile: str, study_profile: str, baseline: dict[str, Any] | None) -> TrainConfig:
    """The study's baseline re-sized to `profile`: what the study's baseline (`baseline`, its whole config)
    set beyond its own profile carries over; what a profile sizes does not."""
    own = jsonable(TrainConfig.from_profile(study_profile).to_dict())
    stored = jsonable(baseline) if isinstance(baseline, dict) else own
    sized = set(profile_overrides(study_profile)) | set(profile_overrides(profile))
    extra = {k: v for k, v in stored.items() if own.get(k) != v and k not in sized}
    return TrainConfig.from_profile(profile, **extra)


def at_profile(base: TrainConfig, spec: StudySpec | None, sampled: dict[str, Any], overrides: dict[str, Any]):
    """A trial at `base`'s profile: its sampled parameters through the space (widths re-scaled to `base`),
    else its stored differences from the baseline."""
    if spec is not None and sampled:
        return spec.to_config(base, sampled)
    return base.replace(**overrides)


@dataclass(frozen=True)
class Reproduced:
    """What a `--params` file reproduces: the study, its trial and the profile the study ran at."""

    study: str | None
    trial: int | None
    study_profile: str
    profile: str  # the profile this run trains at
    rescaled: bool  # re-sized from study_profile to profile

    def to_dict(self) -> dict[str, Any]:
        return {
            keys.REPRODUCES_STUDY: self.study,
            keys.REPRODUCES_TRIAL: self.trial,
            keys.REPRODUCES_PROFILE: self.study_profile,
            keys.RESCALED_TO: self.profile if self.rescaled else None,
        }

    def describe(self) -> str:
        what = f"trial {self.trial} of study {self.study!r}" if self.trial is not None else f"study {self.study!r}"
        how = f"re-scaled from profile {self.study_profile}" if self.rescaled else "at its own profile"
        return f"reproduces {what} ({how})"


def params_file_config(
    loaded: dict[str, Any], profile: str | None, path: str
) -> tuple[TrainConfig, str, Reproduced | None]:
    """The TrainConfig a `--params` file asks for, the profile it trains at, and what it reproduces.

    A study's file (best_params.json, with "profile") trains at that profile unless `profile` is given, and
    is then re-scaled to it as `confirm --profile` does. A file without a profile (a hand-written {field:
    value} object) is `profile`'s baseline (default full) with its values, as before. Every problem is one
    line naming the file."""
    params = loaded.get(keys.PARAMS, loaded)
    study_profile = loaded.get(keys.PROFILE) if keys.PARAMS in loaded else None
    try:
        if not isinstance(study_profile, str):
            chosen = profile or "full"
            return TrainConfig.from_profile(chosen, **params), chosen, None
        profile_overrides(study_profile)  # an unknown profile in the file, by name
        baseline = loaded.get(keys.BASE_CONFIG)
        chosen = profile or study_profile
        reproduced = Reproduced(
            loaded.get(keys.STUDY), loaded.get(keys.TRIAL), study_profile, chosen, chosen != study_profile
        )
        if chosen == study_profile:
            own = TrainConfig.from_dict(baseline) if isinstance(baseline, dict) else TrainConfig.from_profile(chosen)
            return own.replace(**params), chosen, reproduced
        spec = _spec(loaded, path)
        sampled = loaded.get(keys.SAMPLED) or {}
        if spec is None and "widths" in params:
            raise HpsearchError(
                f"its widths are at profile {study_profile}'s scale and it holds no search space to re-scale "
                f"them (written before hpsearch 0.2.2); run `hpsearch report` on the study to rewrite it, or "
                f"leave out --profile"
            )
        if spec is not None:
            _check_fits(spec, sampled)
        return at_profile(base_at(chosen, study_profile, baseline), spec, sampled, params), chosen, reproduced
    except HpsearchError as exc:
        raise HpsearchError(f"--params file {path}: {exc}") from None
    except (TypeError, ValueError) as exc:  # a value of the wrong kind that slipped past the checks
        raise HpsearchError(f"--params file {path}: {type(exc).__name__}: {exc}") from None


def _spec(loaded: dict[str, Any], path: str) -> StudySpec | None:
    text = loaded.get(keys.SPEC_TEXT)
    if not isinstance(text, str) or not text.strip():
        return None
    return parse_spec(text, str(loaded.get(keys.SPEC_PATH) or f"{path} (spec_text)"))


def _check_fits(spec: StudySpec, sampled: dict[str, Any]) -> None:
    """Each sampled value is one the space could have sampled."""
    if not isinstance(sampled, dict):
        raise HpsearchError('"sampled" must be a JSON object of the parameters Optuna sampled')
    for name, value in sampled.items():
        param = spec.params.get(name)
        if param is None:
            raise HpsearchError(f"sampled parameter {name!r} is not in its search space ({', '.join(spec.params)})")
        if param.type in ("float", "int"):
            fits = isinstance(value, (int, float)) and not isinstance(value, bool) and param.low <= value <= param.high
            allowed = f"{param.low}..{param.high}"
        else:
            fits = value in param.labels
            allowed = ", ".join(map(str, param.labels))
        if not fits:
            raise HpsearchError(f"sampled {name} = {value!r} does not fit its search space ({allowed})")
