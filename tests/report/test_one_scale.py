"""One scale and one rule per page and CSV: widths as trained (full scale beside them), unused parameters blank."""

from __future__ import annotations

import json

import optuna
import pandas as pd
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import create_trial

from hpsearch.core.config import TrainConfig
from hpsearch.record.trials import config_changes
from hpsearch.report import tables, write_study_reports

BASE = json.loads(json.dumps(TrainConfig.from_profile("smoke").to_dict()))  # widths 8/16/16, lr_schedule step
DISTS = {
    "width_1": IntDistribution(64, 192, step=32),
    "width_2": IntDistribution(128, 384, step=64),
    "width_3": IntDistribution(256, 768, step=128),
    "lr_schedule": CategoricalDistribution(["step", "one_cycle"]),
    "peak_lr": FloatDistribution(5e-4, 1e-2, log=True),  # only with one_cycle
}


def smoke_study() -> optuna.Study:
    """At the smoke profile: the baseline enqueued with its active parameters (widths at the full scale, no
    peak_lr: it uses the step schedule), one trial at 192/384/768 full scale = 12/24/24 trained."""
    study = optuna.create_study(study_name="scales", direction="maximize")
    study.set_user_attr("base_config", BASE)
    study.set_user_attr("profile", "smoke")
    base = {"width_1": 128, "width_2": 256, "width_3": 512, "lr_schedule": "step"}
    study.add_trial(
        create_trial(
            value=0.30,
            params=base,
            distributions={k: DISTS[k] for k in base},
            user_attrs={"is_baseline": True, "config": {}},
        )
    )
    mine = {"width_1": 192, "width_2": 384, "width_3": 768, "lr_schedule": "one_cycle", "peak_lr": 0.004}
    config = dict(BASE, widths=[12, 24, 24], lr_schedule="one_cycle", peak_lr=0.004)
    study.add_trial(
        create_trial(value=0.35, params=mine, distributions=DISTS, user_attrs={"config": config_changes(config, BASE)})
    )
    return study


def test_widths_are_trained_values_with_the_full_scale_beside_and_unused_params_blank(tmp_path):
    study = smoke_study()
    frame = tables.trials_frame(study)
    base, trial = frame.iloc[0], frame.iloc[1]
    assert [base[f"param_width_{i}"] for i in (1, 2, 3)] == [8, 16, 16]  # what the baseline trained at smoke
    assert [trial[f"param_width_{i}"] for i in (1, 2, 3)] == [12, 24, 24]
    assert [trial[f"full_scale_width_{i}"] for i in (1, 2, 3)] == [192, 384, 768]
    assert base["param_peak_lr"] is None  # inactive for the baseline, although its config holds a peak_lr
    assert tables.param_text(trial, "param_width_1") == "12 (192 at full scale)"
    assert tables.param_text(base, "param_peak_lr") == ""
    page = write_study_reports(study, "scales", tmp_path)
    csv = pd.read_csv(page.parent / "trials.csv")
    assert pd.isna(csv.loc[0, "param_peak_lr"]) and csv.loc[0, "param_width_1"] == 8
    text = page.read_text()
    assert "12 (192 at full scale)" in text and "8 (128 at full scale)" in text
    changed = text.split("What the best trial changed")[1].split("</table>")[0]
    assert (
        "12, 24, 24 (192, 384, 768 at full scale)" in changed and "8, 16, 16 (128, 256, 512 at full scale)" in changed
    )
