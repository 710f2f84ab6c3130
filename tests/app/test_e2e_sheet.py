"""In a real headless Chromium: the 12-lead sheet keeps every trace drawn while the page scrolls.

Issue 15, item 9: with one WebGL context per ``Scattergl`` plot, Chromium dropped the oldest contexts
("Too many active WebGL contexts") and the lead II rhythm strip vanished after scrolling ~450 px.
The sheet is now SVG; this test opens a 12-lead record on the Review page (the sidebar's "Open next
record", Alt+N), scrolls down in steps and checks, at every step, that each trace of the sheet is an
SVG line path with a non-empty ``d`` and that no console message speaks of WebGL contexts.

Starts the real app (``streamlit run app/main.py``) on a free port of 127.0.0.1 with a private store
and a tiny model, and drives it with Playwright pointed at Debian's ``/usr/bin/chromium``.
"""

from __future__ import annotations

import re

import pytest

from app.views.review import NEXT_RECORD_KEY
from scripts.app_server import sign_in
from tests.conftest import REPO_ROOT

SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"
SCROLL_STEP_PX = 150
SCROLL_STEPS = 12  # 1800 px: well past the ~450 px where the rhythm strip used to vanish
SHEET_TRACES = 12 + 1 + 4  # 12 leads, the lead II rhythm strip, a calibration pulse per row
WEBGL_CONTEXT_MESSAGE = re.compile(r"webgl.*context|context.*webgl", re.IGNORECASE)
pytestmark = [pytest.mark.browser, pytest.mark.slow]

# For each Plotly chart showing the sheet (recognised by its V6 label): how many traces it holds, their types,
# its canvases (WebGL draws in them), and how many traces are drawn as an SVG line path with a non-empty ``d``
# and a non-empty size.
SHEET_STATE_JS = """() => Array.from(document.querySelectorAll('.js-plotly-plot'))
  .filter(gd => gd.layout && (gd.layout.annotations || []).some(a => a.text === '<b>V6</b>'))
  .map(gd => ({
    traces: (gd.data || []).length,
    types: Array.from(new Set((gd.data || []).map(t => t.type || 'scatter'))),
    canvases: gd.querySelectorAll('canvas').length,
    drawn: Array.from(gd.querySelectorAll('g.trace.scatter')).filter(g =>
      Array.from(g.querySelectorAll('path.js-line')).some(p => {
        const box = p.getBBox();
        return (p.getAttribute('d') || '').length > 10 && (box.width > 0 || box.height > 0);
      })).length,
  }))"""

# The element that scrolls the page (Streamlit scrolls its main block, not the window); scrolls it by `step`
# and returns the new offset. Programmatic, because a mouse wheel over the chart would zoom it (scrollZoom).
SCROLL_JS = """(step) => {
  const candidates = [document.querySelector('[data-testid="stMain"]'),
                      document.querySelector('[data-testid="stAppViewContainer"]'),
                      document.querySelector('section.main'), document.scrollingElement];
  const el = candidates.find(c => c && c.scrollHeight > c.clientHeight + 10) || document.scrollingElement;
  el.scrollBy(0, step);
  return {top: el.scrollTop, max: el.scrollHeight - el.clientHeight};
}"""


def _sheet_state(page) -> dict:  # noqa: ANN001 - a Playwright page
    sheets = page.evaluate(SHEET_STATE_JS)
    assert len(sheets) == 1, f"expected one 12-lead sheet on the page, found {len(sheets)}"
    return sheets[0]


def test_every_sheet_trace_stays_drawn_while_scrolling(server: dict, browser) -> None:  # noqa: ANN001
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    sign_in(page, server["url"], "carla", "carla-password")
    page.get_by_role("button", name="Open next record").wait_for(timeout=60_000)
    page.evaluate("document.activeElement && document.activeElement.blur()")  # not typing in a field
    page.keyboard.press(NEXT_RECORD_KEY)
    page.get_by_text("Model findings").wait_for(timeout=60_000)
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('.js-plotly-plot')).some(gd => gd.layout"
        " && (gd.layout.annotations || []).some(a => a.text === '<b>V6</b>'))", timeout=60_000)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=60_000)
    page.wait_for_timeout(500)

    first = _sheet_state(page)
    assert first["traces"] == SHEET_TRACES, first
    assert first["types"] == ["scatter"] and first["canvases"] == 0, f"the sheet must be SVG, not WebGL: {first}"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    scrolled_to = []
    for step in range(SCROLL_STEPS):
        position = page.evaluate(SCROLL_JS, SCROLL_STEP_PX)
        scrolled_to.append(position["top"])
        page.wait_for_timeout(250)
        state = _sheet_state(page)
        assert state["drawn"] == state["traces"] == SHEET_TRACES, (
            f"after scrolling to {position['top']} px (step {step + 1}): {state['drawn']} of "
            f"{state['traces']} traces drawn")
        if position["top"] == 450:  # where the rhythm strip used to vanish; it is still on the screen
            page.screenshot(path=str(SCREENSHOTS / "sheet_after_scrolling.png"))
        if position["top"] >= position["max"]:
            break
    assert max(scrolled_to) >= 450, f"the page did not scroll far enough to test: {scrolled_to}"
    webgl = [m for m in console if WEBGL_CONTEXT_MESSAGE.search(m)]
    assert not webgl, f"WebGL context messages in the console: {webgl[:5]}"
    page.close()
