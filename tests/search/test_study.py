"""search/study.py's counting and the lines it prints: what --trials counts, and stored text (study names,
failure and prune reasons) shown literally, never read as rich markup."""

import optuna
import pytest
from optuna.trial import TrialState, create_trial
from rich.text import Text

from hpsearch.search.study import count, status_line, summary_line

optuna.logging.set_verbosity(optuna.logging.WARNING)
MARKUP = "[bold]x[/bold] [/]"  # unescaped, rich would drop the tags (and the lone [/] is an error)


def _study(name="s", states=()):
    study = optuna.create_study(study_name=name, direction="maximize")
    for state in states:
        study.add_trial(create_trial(state=state, value=0.5 if state == TrialState.COMPLETE else None))
    return study


def test_finished_is_complete_and_pruned_never_failed():
    study = _study(states=(TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED, TrialState.FAIL))
    assert count(study) == 2
    assert count(study, (TrialState.FAIL,)) == 2
    assert Text.from_markup(status_line(study, 3)).plain == (
        "study s: 2 of 3 trials finished (1 pruned); run the same command again to continue"
    )


def test_a_study_name_is_shown_literally():
    line = Text.from_markup(status_line(_study(MARKUP), 1)).plain
    assert line.startswith(f"study {MARKUP}: 0 of 1 trials finished")


@pytest.mark.parametrize("state, said", [(TrialState.FAIL, "failed"), (TrialState.PRUNED, "pruned")])
def test_a_stored_reason_is_shown_literally(state, said):
    line = Text.from_markup(summary_line(4, state, None, 2, reason=MARKUP)).plain
    assert line == f"trial 4: {said} — {MARKUP}"
