"""The reports in a real browser: headless Debian Chromium, driven by Playwright (no browser download).

Fails on any console error, page error or failed request; checks every figure drew (plotly's SVG);
saves a full-page screenshot of each page to $HPSEARCH_SCREENSHOT_DIR (default: pytest's tmp dir), and
study-report-top.png (headline to learning curves; docs/report-example.png is the first screen of a real smoke study).

    HPSEARCH_SCREENSHOT_DIR=shots python -m pytest tests/report/test_browser.py -m browser
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hpsearch.report import figures as figures_module
from hpsearch.report import write_run_report, write_study_reports
from report_fakes import add_confirm, tables_best

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is missing (apt-get install chromium)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (no browser download needed)")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
            viewport={"width": 1280, "height": 900},
            device_scale_factor=1,
        )
        yield context
        context.close()


@pytest.fixture
def screenshot_dir(tmp_path) -> Path:
    folder = Path(os.environ.get("HPSEARCH_SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def open_page(browser, page_path: Path, width: int | None = None):
    """Load a report (at `width` px, else the context's); return (page, problems): console errors, page errors,
    dialogs, failed or off-file requests."""
    page = browser.new_page()
    if width:
        page.set_viewport_size({"width": width, "height": 900})
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    page.on("requestfailed", lambda req: problems.append(f"failed request: {req.url} {req.failure}"))
    page.on(
        "request",
        lambda req: (
            None
            if req.url.startswith(("file:", "data:", "blob:", "about:"))
            else problems.append(f"network request: {req.url}")
        ),
    )
    page.goto(page_path.resolve().as_uri(), wait_until="load")
    page.wait_for_selector("html[data-figures-drawn]", timeout=60_000)
    return page, problems


def check_figures(page) -> int:
    """Every figure div holds a drawn plotly plot (its .main-svg); returns how many figures."""
    figures = page.locator("div.figure").count()
    drawn = page.evaluate("document.documentElement.getAttribute('data-figures-drawn')")
    assert int(drawn) == figures > 0
    with_svg = page.evaluate(
        "Array.from(document.querySelectorAll('div.figure')).filter(d => d.querySelector('svg.main-svg')).length"
    )
    assert with_svg == figures
    assert page.locator("div.figure > .plot-container svg.main-svg").count() >= figures
    return figures


def test_study_report_renders(browser, make_study, tmp_path, screenshot_dir):
    study = make_study("cpu-demo")
    report = write_study_reports(study, "cpu-demo", tmp_path)
    page, problems = open_page(browser, report)
    figures = check_figures(page)
    drawn = [p for p in figures_module.study_panels(study) if p.figure is not None or p.grid]
    assert figures == sum(len(p.grid) or 1 for p in drawn)
    # confirm, history, curves, parallel coordinates, one small slice per parameter, timeline (9 completed
    # trials: no importances)
    assert "beats the baseline at this profile" in page.locator("#headline").inner_text()
    page.screenshot(path=str(screenshot_dir / "study-report.png"), full_page=True)
    curves = page.locator("div.figure").nth(1).bounding_box()  # the answer, the top trials, the learning curves
    page.screenshot(
        path=str(screenshot_dir / "study-report-top.png"),
        full_page=True,
        clip={"x": 0, "y": 0, "width": 1280, "height": curves["y"] + curves["height"] + 60},
    )
    page.close()
    assert problems == []


def test_multi_objective_study_report_renders(browser, make_study, tmp_path, screenshot_dir):
    study = make_study("cpu-pareto", objectives=2)
    report = write_study_reports(study, "cpu-pareto", tmp_path)
    page, problems = open_page(browser, report)
    assert check_figures(page) >= 6  # ... and the Pareto front
    page.screenshot(path=str(screenshot_dir / "study-report-pareto.png"), full_page=True)
    page.close()
    assert problems == []


def test_hostile_study_name_shows_as_text(browser, make_study, tmp_path):
    name = "<script>alert(1)</script>"
    report = write_study_reports(make_study(name), name, tmp_path)
    page, problems = open_page(browser, report)
    assert page.locator("h1").inner_text() == name
    assert page.locator("main script").count() == 0
    page.close()
    assert problems == []  # an alert() would be a dialog here


def test_run_report_renders(browser, run_dir, screenshot_dir):
    report = write_run_report(run_dir)
    page, problems = open_page(browser, report)
    assert check_figures(page) == 6  # loss, accuracy, lr, test plain vs TTA, per-class, confusion
    assert "78.3%" in page.locator("#headline").inner_text()
    page.screenshot(path=str(screenshot_dir / "run-report.png"), full_page=True)
    page.close()
    assert problems == []


SECTIONS_FIT = """() => {
  // every block of the page (main's children and each figure panel) is no wider than its box, except the
  // scroll boxes, which must then show their hint: nothing is cut off without a cue
  const blocks = Array.from(document.querySelectorAll("main > *, section.panel, section.panel > *"));
  const out = [];
  for (const el of blocks) {
    if (el.classList.contains("scroll")) {
      const hint = el.previousElementSibling;
      const over = el.scrollWidth > el.clientWidth + 1;
      if (over && !(hint && hint.classList.contains("scroll-hint") && !hint.hidden && hint.offsetHeight > 0))
        out.push("scroll box without a visible hint: " + (el.textContent || "").slice(0, 40));
    } else if (el.scrollWidth > el.clientWidth + 1 || el.getBoundingClientRect().right > innerWidth + 1) {
      out.push(el.tagName + "#" + el.id + "." + el.className + " " + el.scrollWidth + " > " + el.clientWidth);
    }
  }
  return out;
}"""


@pytest.mark.parametrize("width", [1280, 390])
def test_pages_at_desktop_and_phone_widths(browser, make_study, run_dir, tmp_path, screenshot_dir, width):
    """A study with an insignificant confirm at its own profile and one at another: the page claims no win, the
    fidelity table shows both; on every page, at both widths, no section is wider than the screen and every box
    that scrolls sideways says so (scrollWidth per section)."""
    study = make_study("cpu-demo", confirm=False, n_trials=40)  # 16 completed: importances, indicative
    add_confirm(study, "cpu", tables_best(study), [0.781, 0.776, 0.784], [0.781, 0.785, 0.774])
    add_confirm(study, "full", tables_best(study), [0.9121, 0.9108], [0.9135, 0.9102])
    pages = {"study": write_study_reports(study, "cpu-demo", tmp_path)}
    pages["pareto"] = write_study_reports(make_study("cpu-pareto", objectives=2), "cpu-pareto", tmp_path)
    pages["run"] = write_run_report(run_dir)
    for name, report in pages.items():
        page, problems = open_page(browser, report, width)
        head = page.locator("#headline").inner_text()
        assert "beats the baseline" not in head
        if name == "study":
            assert "Confirmed at profile full" in head and "not significant" in head
            assert "confirmed at cpu" in head and "confirmed at full" in head
            assert page.locator("#badge").inner_text() == "NOT SIGNIFICANT"
            assert page.locator("#badge").bounding_box()["y"] < 300  # the answer is in the first screen
            page.locator("details").first.evaluate("d => d.open = true")  # every trial's table: wide
            page.wait_for_timeout(100)
        overflow = page.evaluate("document.documentElement.scrollWidth")
        assert overflow <= width + 1, f"{name} page is {overflow}px wide at {width}px"
        assert page.evaluate(SECTIONS_FIT) == [], name
        if name == "study":
            hints = page.locator(".scroll-hint:not([hidden])").count()
            assert hints >= (1 if width > 1000 else 3)  # the top-trials table, parallel coordinates, ...
        page.screenshot(path=str(screenshot_dir / f"{name}-{width}.png"), full_page=True)
        page.close()
        assert problems == []
