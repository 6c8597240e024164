"""The page's own "rewrite this page" command writes the page being read; a trial stopped early (a pruner, a
Hyperband budget) is compared with the baseline at the epoch it stopped."""

import html
import re
import shlex

from optuna.trial import TrialState, create_trial

from hpsearch.cli import main
from hpsearch.report import write_study_reports
from hpsearch.report.verdict import ahead_at_same_epoch, study_verdict


def test_the_rewrite_command_writes_the_page_being_read(journal_study, tmp_path):
    storage, name = journal_study
    out = tmp_path / "elsewhere"
    page = write_study_reports(storage, name, out)
    command = html.unescape(re.search(r"<code>(hpsearch report [^<]*)</code>", page.read_text()).group(1))
    page.write_text("stale")
    assert main(shlex.split(command)[1:]) == 0
    assert page.read_text().startswith("<!DOCTYPE html>")


def test_a_trial_stopped_early_is_compared_at_its_own_epoch(make_study):
    """The keras-tuner case: Hyperband stopped the only search trial at epoch 2 of 5, ahead of the baseline's
    epoch 2; no completed trial beat the baseline, and the verdict says both."""
    study = make_study("kt", n_trials=1, confirm=False, failed=False, running=False)  # the baseline alone
    curve = dict(study.trials[0].intermediate_values)
    study.add_trial(
        create_trial(
            state=TrialState.PRUNED, intermediate_values={1: curve[1], 2: curve[2] + 0.02}, user_attrs={"pruned_at": 2}
        )
    )
    ((number, epoch, lead),) = ahead_at_same_epoch(study)
    assert (number, epoch) == (1, 2) and abs(lead - 0.02) < 1e-9
    verdict = study_verdict(study)
    assert verdict.state == "no_gain" and not verdict.is_win
    assert "ahead of the baseline at the same epoch: trial 1 +2.0 pts at epoch 2" in verdict.text
