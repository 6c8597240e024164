"""write_study_reports / write_run_report: the files, one self-contained page, escaping, safe paths."""

import html
import json
import math
import re
from html.parser import HTMLParser
from pathlib import Path

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState, create_trial

from hpsearch.errors import HpsearchError
from hpsearch.record import confirms
from hpsearch.record.paths import safe_name
from hpsearch.record.trials import best_trial
from hpsearch.report import tables, write_run_report, write_study_reports
from hpsearch.report.verdict import study_verdict

from report_fakes import XSS, add_confirm, tables_best


class Tags(HTMLParser):
    """Every start tag with its attributes, and the text inside each <script>."""

    def __init__(self):
        super().__init__()
        self.tags, self.scripts, self._in_script = [], [], False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append((dict(attrs), ""))

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)


def parse(page: Path) -> Tags:
    tags = Tags()
    tags.feed(page.read_text(encoding="utf-8"))
    return tags


def test_writes_the_four_files_and_confirm_json_once_confirm_ran(make_study, tmp_path):
    page = write_study_reports(make_study("plain", confirm=False), "plain", tmp_path)
    assert {p.name for p in page.parent.iterdir()} == {"trials.csv", "summary.csv", "best_params.json", "report.html"}
    study = make_study("cpu-demo")
    page = write_study_reports(study, "cpu-demo", tmp_path)
    folder = tmp_path / "reports" / "cpu-demo"
    assert page == folder / "report.html"
    assert {p.name for p in folder.iterdir()} == {
        "trials.csv",
        "summary.csv",
        "best_params.json",
        "report.html",
        "confirm.json",
    }
    stored = json.loads((folder / "confirm.json").read_text())
    assert stored["confirms"] == {"cpu": confirms.stored(study)["cpu"]}
    assert [c["profile"] for c in stored["comparisons"]] == ["cpu"]
    trials = pd.read_csv(folder / "trials.csv")
    assert list(trials.columns) == list(tables.trials_frame(study).columns)
    assert trials["number"].tolist() == [t.number for t in study.trials]
    summary = pd.read_csv(folder / "summary.csv")
    assert list(summary.columns) == ["metric", "value"]
    best = json.loads((folder / "best_params.json").read_text())
    assert best["trial"] == best_trial(study).number and best["params"]


def test_page_is_self_contained(make_study, tmp_path):
    page = write_study_reports(make_study("cpu-demo"), "cpu-demo", tmp_path)
    tags = parse(page)
    for tag, attrs in tags.tags:
        for key in ("src", "href", "data"):
            assert not re.match(r"\s*(https?:)?//", attrs.get(key) or ""), (tag, attrs)
    assert not [t for t, a in tags.tags if t in ("link", "iframe", "img", "object", "embed")]
    code = [text for attrs, text in tags.scripts if attrs.get("type") != "application/json"]
    assert len(code) == 2  # plotly.js once, then the few lines that draw the figures
    assert sum("plotly.js v" in text for text in code) == 1
    assert page.read_text().count("plotly.js v") == 1


def test_every_figure_has_its_data(make_study, tmp_path):
    page = write_study_reports(make_study("cpu-demo"), "cpu-demo", tmp_path)
    tags = parse(page)
    figure_ids = [a["id"] for t, a in tags.tags if t == "div" and "figure" in (a.get("class") or "").split()]
    data = {
        attrs["data-target"]: json.loads(text)
        for attrs, text in tags.scripts
        if attrs.get("type") == "application/json"
    }
    assert figure_ids and sorted(figure_ids) == sorted(data)
    assert all(fig["data"] for fig in data.values())


def test_stored_strings_are_escaped(make_study, tmp_path):
    page = write_study_reports(make_study(XSS), XSS, tmp_path)
    text = page.read_text()
    assert XSS not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<img" not in text and "&lt;img src=x onerror=" in text  # the fail_reason, as text
    assert "<b>tag</b>" not in text  # the spec's TOML text, as text
    tags = parse(page)
    assert len(tags.scripts) == 2 + len([a for a, _ in tags.scripts if a.get("type") == "application/json"])


def test_figure_json_cannot_close_its_script(make_study, tmp_path):
    study = make_study("cpu-demo")
    study.set_user_attr("objectives", ["val_accuracy"])
    trial = create_trial(
        state=TrialState.FAIL,
        user_attrs={"fail_reason": "</script><script>alert(3)</script>"},
        intermediate_values={1: 0.5},
    )
    study.add_trial(trial)
    text = write_study_reports(study, "cpu-demo", tmp_path).read_text()
    assert "alert(3)</script>" not in text


@pytest.mark.parametrize("name", ["../../etc", "<script>alert(1)</script>", "..", ".", "a/b\\c", "/abs/path", ""])
def test_study_names_never_leave_out_dir(make_study, tmp_path, name):
    page = write_study_reports(make_study(name), name, tmp_path)
    assert page.resolve().parent.parent == (tmp_path / "reports").resolve()
    assert not page.parent.name.startswith(".")
    assert [p.name for p in tmp_path.iterdir()] == ["reports"]


def test_distinct_names_get_distinct_folders():
    names = ["a/b", "a_b", "a:b", "../a_b", "<a_b>"]
    assert len({safe_name(n) for n in names}) == len(names)
    assert safe_name("cpu-demo") == "cpu-demo"


def test_reads_a_journal_and_leaves_it_unchanged(journal_study, tmp_path):
    path, name = journal_study
    before = Path(path).read_bytes()
    page = write_study_reports(path, name, tmp_path)
    assert page.is_file()
    assert Path(path).read_bytes() == before


def test_missing_study_lists_the_studies_there(journal_study, tmp_path):
    path, _ = journal_study
    with pytest.raises(HpsearchError, match=r"no study named 'nope'.*'cpu-demo'"):
        write_study_reports(path, "nope", tmp_path)


def test_missing_journal_file_is_an_error_not_a_new_file(tmp_path):
    missing = tmp_path / "studies" / "none.journal"
    with pytest.raises(HpsearchError, match="does not exist"):
        write_study_reports(str(missing), "none", tmp_path)
    assert not missing.exists()


def test_sqlite_storage(make_study, tmp_path):
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    make_study("db-study", storage=url)
    page = write_study_reports(url, "db-study", tmp_path)
    assert "db-study" in page.read_text()


def test_running_and_interrupted_studies(tmp_path):
    """Only a RUNNING trial, or a baseline and a FAIL: the page says so instead of breaking."""
    study = optuna.create_study(study_name="early")
    study.add_trial(
        create_trial(state=TrialState.RUNNING, user_attrs={"is_baseline": True}, intermediate_values={1: 0.31})
    )
    text = write_study_reports(study, "early", tmp_path).read_text()
    assert "No trial has completed yet" in text
    study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={"fail_reason": "interrupted"}))
    text = write_study_reports(study, "early", tmp_path).read_text()
    assert "interrupted" in text and "still running" in text


def test_multi_objective_page_has_the_pareto_front(make_study, tmp_path):
    study = make_study("pareto", objectives=2)
    text = write_study_reports(study, "pareto", tmp_path).read_text()
    match = re.search(r"<h3>Pareto front</h3>.*?<div class=\"figure\" id=\"(fig-[\d-]+)\"", text, re.S)
    assert match and f'data-target="{match.group(1)}"' in text


def test_headline_comes_first(make_study, tmp_path):
    text = write_study_reports(make_study("cpu-demo"), "cpu-demo", tmp_path).read_text()
    order = [
        text.index(s)
        for s in (
            'id="headline"',
            "<h2>Top trials</h2>",
            "<h2>Evidence</h2>",
            "<h2>Compute saved by pruning</h2>",
            "<h3>Spec</h3>",
            "<h3>Profile</h3>",
            "<h3>Versions</h3>",
        )
    ]
    assert order == sorted(order)
    head = text[text.index('id="headline"') : text.index("<h2>Top trials</h2>")]
    assert "beats the baseline at this profile" in head and "paired p = " in head and "Evidence by fidelity" in head
    assert head.index(">WIN<") < head.index("beats the baseline")  # the badge heads the page


def test_no_trial_beat_the_baseline(tmp_path):
    study = optuna.create_study(study_name="flat", direction="maximize")
    study.add_trial(create_trial(value=0.8, user_attrs={"is_baseline": True}, intermediate_values={1: 0.8}))
    study.add_trial(create_trial(value=0.7, intermediate_values={1: 0.7}))
    text = write_study_reports(study, "flat", tmp_path).read_text()
    assert "No completed trial beat the baseline" in text


def test_run_report(run_dir):
    page = write_run_report(run_dir)
    assert page == run_dir / "report.html"
    text = page.read_text()
    assert "78.3%" in text and "77.1%" in text and "CPU (2 cores, XLA)" in text
    assert len(re.findall(r'<div class="figure" id=', text)) == 6


def test_run_report_without_test_metrics(run_dir):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for key in ("test_accuracy", "test_accuracy_tta", "test_per_class_accuracy", "test_confusion"):
        metrics[key] = None
    metrics["name"] = XSS
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    text = write_run_report(run_dir).read_text()
    assert "stored no test accuracy" in text and XSS not in text


def test_run_report_needs_metrics(tmp_path):
    with pytest.raises(HpsearchError, match="no metrics.json"):
        write_run_report(tmp_path)


@pytest.mark.parametrize(
    "best, says, win, badge",
    [
        ([0.781, 0.785, 0.774], "not significant at the 5% level", False, "NOT SIGNIFICANT"),  # +0.1 pts, p ~ 0.9
        ([0.79], "Too few seeds", False, "NOT CONFIRMED YET"),  # one seed: no test
        ([0.801, 0.797, 0.806], "beats the baseline at this profile", True, "WIN"),
        ([0.761, 0.757, 0.766], "the baseline is better", False, "WORSE"),
    ],
)
def test_confirm_verdicts(make_study, tmp_path, best, says, win, badge):
    """The page's headline, the console's last lines and summary.csv state the same verdict; only a confirmed,
    significant gain is coloured as a win."""
    from hpsearch.report.console import verdict_text

    study = make_study("cpu-demo", confirm=False)
    add_confirm(study, "cpu", tables_best(study), [0.781, 0.776, 0.784], best)
    page = write_study_reports(study, "cpu-demo", tmp_path)
    head = page.read_text().split("<h2>Top trials</h2>")[0]
    verdict = re.search(r'<p class="verdict ([a-z]*)">(.*?)</p>', head, re.S)
    assert says in verdict.group(2) and (verdict.group(1) == "good") == win
    assert ("beats the baseline" in verdict.group(2)) == win
    badge_on_page = re.search(r'<span class="answer" id="badge" style="background: (#[0-9a-f]{6})">(.*?)</span>', head)
    console = verdict_text(study)
    console_badge, console_text = console.plain.split("\n", 1)
    assert html.unescape(verdict.group(2)) == console_text
    assert badge_on_page.group(2) == console_badge.strip() == badge
    assert badge_on_page.group(1) in str(console.style)  # the same colour
    assert ("#1a7f37" in str(console.spans[-1].style)) == win  # the sentence is green only for a win
    summary = pd.read_csv(page.parent / "summary.csv").set_index("metric")["value"]
    assert summary["verdict_text"] == console_text and summary["badge"] == badge
    assert summary.index[0] == "badge"
    cards = re.findall(r'<div class="card"><div class="label">(.*?)</div><div class="value[^"]*">(.*?)</div>', head)
    label, value = cards[3]  # the confirm card: "confirmed" only when it is; the interval when not significant
    expected = {"WIN": "Confirmed difference", "WORSE": "Confirmed difference"}
    expected.update({"NOT SIGNIFICANT": "Difference (not significant)", "NOT CONFIRMED YET": "Difference (untested)"})
    assert label == expected[badge] and ("confirm" in label.lower()) == (badge in ("WIN", "WORSE"))
    assert (" to " in value and "pts" in value) == (badge == "NOT SIGNIFICANT")


def test_the_best_of_several_confirmed_trials_must_clear_a_corrected_bar(make_study, tmp_path):
    """p = 0.036 (paired) is a win for one confirmed trial, not for the best of three (Bonferroni: p < 0.05 / 3)."""
    from scipy.stats import ttest_rel

    from hpsearch.report.verdict import study_verdict

    base, best = [0.781, 0.776, 0.784], [0.791, 0.790, 0.791]
    assert 0.05 / 3 < ttest_rel(best, base).pvalue < 0.05
    alone = make_study("cpu-demo", confirm=False)
    add_confirm(alone, "cpu", tables_best(alone), base, best)
    assert study_verdict(alone).is_win
    picked = make_study("cpu-demo", confirm=False)
    others = [t.number for t in picked.trials if t.state.name == "COMPLETE" and t.number != tables_best(picked)]
    add_confirm(picked, "cpu", tables_best(picked), base, best)
    for number in others[1:3]:  # two more trials confirmed at the same profile, behind the first
        add_confirm(picked, "cpu", number, base, [0.780, 0.783, 0.779])
    verdict = study_verdict(picked)
    assert verdict.fields["trial"] == tables_best(picked) and not verdict.is_win
    assert "best of 3 trials confirmed" in verdict.text and "not significant" in verdict.text


def test_unconfirmed_lead_within_noise_is_not_a_win(make_study, tmp_path):
    """Without a confirm the verdict is the val difference with its noise (SE of a difference of two accuracies
    on the val set's size) and is never coloured as a win."""
    study = make_study("cpu-demo", confirm=False)
    verdict = study_verdict(study)
    fields = verdict.fields
    p1, p2, n = fields["best_val_accuracy"], fields["baseline_val_accuracy"], fields["val_size"]
    assert n == 2000 and fields["val_noise"] == pytest.approx(math.sqrt(p1 * (1 - p1) / n + p2 * (1 - p2) / n))
    assert verdict.text.startswith("Not yet confirmed") and not verdict.is_win
    head = write_study_reports(study, "cpu-demo", tmp_path).read_text().split("<h2>Top trials</h2>")[0]
    assert '<p class="verdict ">Not yet confirmed' in head and 'class="value pos"' not in head


def test_figure_json_escapes_every_angle_bracket_and_ampersand_and_still_parses():
    """The page's contract (html.py): no <, > or & left raw in a figure's JSON, whatever plotly escapes."""
    import plotly.graph_objects as go

    from hpsearch.report.html import figure_json

    name = "a & b </script><!-- c -->"
    text = figure_json(go.Figure(go.Scatter(x=[1], y=[2], name=name)))
    assert not {"<", ">", "&"} & set(text)
    assert json.loads(text)["data"][0]["name"] == name


HOSTILE = ['=HYPERLINK("http://x","y")', "+1+cmd|' /C calc'!A0", "-2-3", "@SUM(1,2)", "\t=1+1", "\r=1+1"]


def test_no_csv_cell_is_a_formula_and_numbers_stay_numbers(make_study, tmp_path):
    """OWASP's CSV injection: a study name, parameter names and values and fail reasons that start with =, +, -,
    @, tab or CR (anyone who can write to a shared storage can plant them) land quoted; numbers do not."""
    import csv

    from optuna.distributions import CategoricalDistribution

    name = HOSTILE[0]
    study = make_study(name, confirm=False)
    for number, text in enumerate(HOSTILE):
        study.add_trial(
            create_trial(
                state=TrialState.FAIL,
                params={text: text},
                distributions={text: CategoricalDistribution(HOSTILE)},
                user_attrs={"fail_reason": text},
            )
        )
    folder = write_study_reports(study, name, tmp_path).parent
    cells = []
    for table in ("trials.csv", "summary.csv"):
        with open(folder / table, newline="", encoding="utf-8") as handle:
            cells += [cell for row in csv.reader(handle) for cell in row]
    for text in HOSTILE:
        assert "'" + text in cells and text not in cells
    dangerous = [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert all(re.fullmatch(r"-?\d+(\.\d+)?(e-?\d+)?", c) for c in dangerous), dangerous  # only numbers
    trials = pd.read_csv(folder / "trials.csv")
    assert trials["delta_baseline"].dtype == float and (trials["delta_baseline"] < 0).any()  # a negative Δ stays one
