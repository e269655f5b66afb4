"""`mmbench report` in a real browser (headless Chromium via Playwright): tables, sorting, the
sample and comparison views, text that must never become markup, no network, the page budget of a
25k-sample run. A screenshot of each page is kept under <pytest tmp>/report-screenshots."""

from __future__ import annotations

import pytest
from helpers.browser import LAUNCH_ARGS, PageWatch, chromium_path, skip_or_fail
from helpers.report import TOY_TASK, XSS_IMG, XSS_MODEL, XSS_SCRIPT, build_toy_report, write_result

from mmbench.report import build_report

BUDGET_BYTES = 2_000_000


@pytest.fixture(scope="module")
def browser():
    executable = chromium_path()
    if executable is None:
        skip_or_fail("no Chromium found (apt-get install chromium, or set MMBENCH_CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("the playwright package is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=LAUNCH_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    folder = tmp_path_factory.getbasetemp() / "report-screenshots"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture
def watch(browser, shots, request):
    # The pages' Content-Security-Policy is bypassed: it would refuse the test's own evaluated
    # expressions, and the text-not-markup checks must hold without its help.
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    # Anything that is not a local file is refused (and recorded by PageWatch).
    context.route(
        "**/*",
        lambda route: (
            route.abort() if not route.request.url.startswith("file:") else route.continue_()
        ),
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    seen = PageWatch(page)
    yield seen
    page.screenshot(path=str(shots / f"{request.node.name}.png"), full_page=True)
    context.close()
    assert seen.errors == [], f"console errors: {seen.errors}"
    assert seen.network() == [], f"network requests: {seen.network()}"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    site, _summary = build_toy_report(tmp_path_factory.mktemp("report-browser"))
    return site


def _models(page, task):
    return page.eval_on_selector_all(
        f'table[data-task="{task}"] tbody tr', "rows => rows.map(r => r.dataset.model)"
    )


def _sample_ids(page, table="#samples"):
    return page.eval_on_selector_all(
        f"{table} tbody tr", "rows => rows.map(r => r.getAttribute('data-sample-id'))"
    )


def _images_loaded(page):
    return page.eval_on_selector_all(
        "tbody img", "imgs => imgs.map(i => i.complete && i.naturalWidth > 0)"
    )


def _ready(page):
    page.wait_for_selector("body[data-ready]", state="attached")


def _run_id(site, model):
    from helpers.report import read_data

    task = next(t for t in read_data(site / "data" / "index.js")["tasks"] if t["name"] == TOY_TASK)
    return next(r["id"] for r in task["runs"] if r["model"] == model)


def test_leaderboard_tables_and_sorting(site, watch):
    page = watch.page
    page.goto((site / "index.html").as_uri())
    page.wait_for_selector(f'table[data-task="{TOY_TASK}"]')
    assert sorted(
        page.eval_on_selector_all("table[data-task]", "t => t.map(x => x.dataset.task)")
    ) == [
        "ghost-task",
        TOY_TASK,
    ]
    headers = page.eval_on_selector_all(
        f'table[data-task="{TOY_TASK}"] th[data-metric]', "h => h.map(x => x.dataset.metric)"
    )
    assert headers == ["CIDEr", "Bleu_1"]  # headline first
    assert _models(page, TOY_TASK) == ["py:toy_a", XSS_MODEL]  # best CIDEr first
    cell = page.text_content(
        f'table[data-task="{TOY_TASK}"] tr[data-model="py:toy_a"] td[data-metric="CIDEr"]'
    )
    assert cell == "0.483 [0.200, 0.800]"
    bleu = page.locator(f'table[data-task="{TOY_TASK}"] th[data-metric="Bleu_1"]')
    bleu.click()
    assert _models(page, TOY_TASK) == [XSS_MODEL, "py:toy_a"]  # 0.6 before 0.5
    bleu.click()
    assert _models(page, TOY_TASK) == ["py:toy_a", XSS_MODEL]
    assert page.locator(f'table[data-task="{TOY_TASK}"] a[data-samples]').count() == 2
    assert page.locator("#summary tbody tr").count() == 2
    assert page.locator(f"#task-{TOY_TASK} svg.plot rect.bar").count() == 2
    assert "NVIDIA H100 80GB HBM3" in page.text_content(f'table[data-task="{TOY_TASK}"]')
    assert "2.00 GiB" in page.text_content(f'table[data-task="{TOY_TASK}"]')
    assert "could not be opened" in page.text_content("#task-ghost-task")
    # the model URI with markup is text: no <b> element was made from it
    assert page.locator("td.model b").count() == 0
    assert XSS_MODEL in page.text_content(f'table[data-task="{TOY_TASK}"]')


def test_sample_view_images_filter_search(site, watch):
    page = watch.page
    page.goto((site / "index.html").as_uri())
    page.click(f'table[data-task="{TOY_TASK}"] tr[data-model="py:toy_a"] a[data-samples]')
    _ready(page)
    assert _sample_ids(page) == ["s0", "s1", "s2", "s3", "s4", "s5"]
    assert _images_loaded(page) == [True] * 6
    page.check("#failures-only")
    page.wait_for_function("document.querySelectorAll('#samples tbody tr').length === 2")
    assert _sample_ids(page) == ["s1", "s3"]
    page.uncheck("#failures-only")
    page.fill("#search", "s4")
    page.wait_for_function("document.querySelectorAll('#samples tbody tr').length === 1")
    assert _sample_ids(page) == ["s4"]


def test_text_from_data_is_never_markup(site, watch):
    page = watch.page
    for model, needle in (("py:toy_a", XSS_IMG), (XSS_MODEL, XSS_SCRIPT)):
        page.goto((site / "runs" / _run_id(site, model) / "index.html").as_uri())
        _ready(page)
        assert needle in page.text_content("#samples tbody")
        assert page.evaluate("window.__xss") is None
        assert page.locator('img[src="x"]').count() == 0
        assert page.locator("#samples tbody script").count() == 0
    assert XSS_MODEL in page.text_content("#title")


def test_compare_view_shows_flips(site, watch):
    page = watch.page
    a, b = _run_id(site, "py:toy_a"), _run_id(site, XSS_MODEL)
    page.goto((site / "compare.html").as_uri() + f"#task={TOY_TASK}&a={a}&b={b}")
    _ready(page)
    assert _sample_ids(page, "#diff") == ["s0"]  # better with A (CIDEr 1.2 -> 0)
    assert _images_loaded(page) == [True]
    page.check('input[value="b_better"]')
    page.wait_for_function("document.querySelectorAll('#diff tbody tr').length === 2")
    assert _sample_ids(page, "#diff") == ["s4", "s1"]  # largest change first
    page.check('input[value="other"]')
    page.wait_for_function("document.querySelectorAll('#diff tbody tr').length === 1")
    assert _sample_ids(page, "#diff") == ["s2"]
    assert page.locator("#diff dd.differs").count() > 0
    assert page.evaluate("window.__xss") is None


def test_pages_work_under_their_content_security_policy(site, browser, shots):
    # No bypass here: the pages' own CSP (scripts, styles and images from the report only) must
    # let the report work, and a violation would show up as a console error.
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    seen = PageWatch(page)
    page.goto((site / "index.html").as_uri())
    page.wait_for_selector(f'table[data-task="{TOY_TASK}"] tr[data-model]')
    page.click(f'table[data-task="{TOY_TASK}"] tr[data-model="py:toy_a"] a[data-samples]')
    _ready(page)
    assert _images_loaded(page) == [True] * 6
    page.screenshot(path=str(shots / "csp-sample-view.png"), full_page=True)
    context.close()
    assert seen.errors == [] and seen.network() == []


def test_large_run_opens_within_budget(tmp_path, watch):
    refs = [f"reference caption number {k} of this sample, long enough" for k in range(5)]
    samples = [
        {
            "id": f"q{i}",
            "prediction": f"a predicted answer for question {i}",
            "references": refs,
            "scores": {"accuracy": i % 3 and 1},
        }
        for i in range(25_000)
    ]
    results = write_result(tmp_path / "r", "big-task", "py:m", {"accuracy": 0.667}, samples)
    build_report([results], tmp_path / "site", images=False)
    run = next((tmp_path / "site" / "runs").iterdir())
    total = sum(p.stat().st_size for p in run.iterdir())
    assert total > 4 * BUDGET_BYTES  # the run's data is far larger than what may load up front
    page = watch.page
    page.goto((run / "index.html").as_uri())
    _ready(page)
    assert len(_sample_ids(page)) == 50
    assert watch.file_bytes() < BUDGET_BYTES
    page.click("#next")
    page.wait_for_function("document.querySelector('#samples tbody tr').dataset.sampleId === 'q50'")
    page.fill("#search", "q24999")
    page.wait_for_function("document.querySelectorAll('#samples tbody tr').length === 1")
    assert _sample_ids(page) == ["q24999"]
