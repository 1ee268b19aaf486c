"""A person's view: Debian chromium draws with the mouse or a finger, clicks, uploads and reads
the page, on a desktop screen and on a phone's.

The drawing pad is a plain ``<canvas>`` (knn_digits.drawing_pad): canvas pixels map linearly
onto its box on the screen.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from knn_digits.app import CANVAS
from knn_digits.preprocess import render_photo
from knn_digits.store import SampleStore

pytestmark = pytest.mark.e2e

Point = tuple[float, float]
# Strokes in canvas pixels (the canvas is 420×420), as a person would draw them.
SEVEN = [[(120, 90), (300, 90), (180, 340)]]
ONE = [[(215, 70), (205, 350)]]
ZERO = [
    [
        (210, 70),
        (300, 120),
        (320, 210),
        (295, 310),
        (210, 350),
        (125, 305),
        (100, 210),
        (125, 115),
        (212, 72),
    ]
]
# Drawn as two strokes whose first alone reads as another digit: the stem of a 7 alone is a 1.
SEVEN_STEM_THEN_BAR = [[(300, 90), (250, 200), (190, 340)], [(120, 90), (300, 90)]]
TIMEOUT_MS = 15_000
LABEL = '#prediction [data-testid="label-output-value"]'


class AppPage:
    """The app in a browser tab, with the few gestures the tests need."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.requests: list[str] = []
        page.on("request", lambda request: self.requests.append(request.url))

    def open(self, url: str) -> None:
        self.page.goto(url)
        # Drawable: the pad's script is listening and the page's loading veil is gone.
        self.page.wait_for_function(
            "() => { const c = document.querySelector('#sketchpad canvas[data-ready]');"
            " if (!c) return false; const b = c.getBoundingClientRect();"
            " return document.elementFromPoint(b.x + b.width / 2, b.y + b.height / 2) === c; }",
            timeout=TIMEOUT_MS,
        )

    @staticmethod
    def expect(locator: Any) -> Any:
        from playwright.sync_api import expect

        return expect(locator)

    def screen(self, point: Point) -> Point:
        """Where a canvas pixel is on the screen."""
        box = self.page.locator("#sketchpad canvas").bounding_box()
        scale = box["width"] / CANVAS[0]
        return (box["x"] + point[0] * scale, box["y"] + point[1] * scale)

    def draw(self, strokes: Sequence[Sequence[Point]]) -> None:
        """Mouse strokes through canvas points; the brush joins them with straight lines."""
        for stroke in strokes:
            self.page.mouse.move(*self.screen(stroke[0]))
            self.page.mouse.down()
            for point in stroke[1:]:
                self.page.mouse.move(*self.screen(point))
            self.page.mouse.up()

    def touch(self, strokes: Sequence[Sequence[Point]]) -> None:
        """Finger strokes, as a phone's touch screen sends them (CDP touch events)."""
        cdp = self.page.context.new_cdp_session(self.page)
        for stroke in strokes:
            kinds = ["touchStart"] + ["touchMove"] * (len(stroke) - 1)
            for kind, point in zip(kinds, stroke, strict=True):
                x, y = self.screen(point)
                spot = {"x": x, "y": y, "id": 1}
                cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [spot]})
            cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        cdp.detach()

    def record_labels(self) -> None:
        """From now on, keep every label the page shows, in order (see :meth:`labels`)."""
        self.page.evaluate(
            """() => {
              window.__labels = [];
              const read = () => {
                const el = document.querySelector('#prediction [data-testid="label-output-value"]');
                const text = el ? el.textContent.trim() : "";
                if (window.__labels.at(-1) !== text) window.__labels.push(text);
              };
              new MutationObserver(read).observe(document.querySelector('#prediction'),
                {subtree: true, childList: true, characterData: true});
            }"""
        )

    def labels(self) -> list[str]:
        return list(self.page.evaluate("window.__labels"))

    def classify(self) -> None:
        self.page.locator("#classify").click()

    def teach(self, digit: str) -> None:
        """Say the drawing is ``digit`` through "Teach it", and wait until it is learned."""
        self.page.get_by_role("button", name="Teach it").click()
        self.page.locator("#correct").get_by_text(digit, exact=True).click()
        self.page.locator("#teach").click()
        self.expect(self.page.locator("#notice")).to_contain_text(
            f"Learned: this is a {digit}", timeout=TIMEOUT_MS
        )

    def expect_label(self, text: str) -> None:
        self.expect(self.page.locator(LABEL)).to_have_text(text, timeout=TIMEOUT_MS)

    def expect_settled(self) -> None:
        """Wait until every answer asked for has come (the pad's number is the answered one)."""
        self.page.wait_for_function(
            "() => { const c = document.querySelector('#sketchpad canvas');"
            " return c.dataset.answered === (c.dataset.version ?? '0'); }",
            timeout=TIMEOUT_MS,
        )


@pytest.fixture
def app_page(browser: Any, server: Any) -> Iterator[AppPage]:
    context = browser.new_context(viewport={"width": 1280, "height": 1100})
    page = AppPage(context.new_page())
    page.open(server.url)
    yield page
    context.close()


def test_the_page_needs_nothing_from_outside(app_page: AppPage, server: Any) -> None:
    outside = [
        url for url in app_page.requests if not url.startswith((server.url, "data:", "blob:"))
    ]
    assert outside == []


@pytest.mark.parametrize(
    ("strokes", "digit"), [(SEVEN, "7"), (ONE, "1"), (ZERO, "0")], ids=["seven", "one", "zero"]
)
def test_draw_a_digit_and_classify_it(
    app_page: AppPage, strokes: list[list[Point]], digit: str
) -> None:
    app_page.draw(strokes)
    app_page.classify()
    app_page.expect_label(digit)
    page = app_page.page
    app_page.expect(page.locator("#neighbours img")).to_have_count(3)
    captions = page.locator("#neighbours").inner_text()
    assert captions.count(" · d=") == 3
    app_page.expect(page.locator("#seen img")).to_be_visible()
    assert f"It's a {digit}" in page.locator("#explanation").inner_text()


def test_the_answer_comes_live_while_drawing(app_page: AppPage) -> None:
    app_page.draw(ONE)  # no click: the canvas's change event classifies
    app_page.expect_label("1")


@pytest.mark.parametrize("click", [False, True], ids=["live", "clicked"])
def test_an_overtaken_answer_is_never_shown(app_page: AppPage, click: bool) -> None:
    stem, bar = SEVEN_STEM_THEN_BAR
    app_page.draw([stem])
    app_page.expect_label("1")  # the first stroke alone reads otherwise than both
    app_page.page.locator("#sketchpad").get_by_role("button", name="Undo", exact=True).click()
    app_page.expect_settled()
    app_page.draw([stem])
    app_page.draw([bar])  # at once: the stem's answer is still on its way
    app_page.record_labels()  # everything shown from the last pointer-up on
    if click:
        app_page.classify()
    app_page.expect_settled()
    app_page.expect_label("7")
    assert set(app_page.labels()) <= {"7"}, app_page.labels()


def test_an_empty_canvas_gets_a_message(app_page: AppPage) -> None:
    app_page.classify()
    explanation = app_page.page.locator("#explanation")
    app_page.expect(explanation).to_contain_text(
        "The canvas is empty: draw a digit first.", timeout=TIMEOUT_MS
    )


def test_undo_redo_and_clear_change_what_is_classified(app_page: AppPage) -> None:
    page, empty = app_page.page, "The canvas is empty: draw a digit first."
    pad = page.locator("#sketchpad")
    explanation = page.locator("#explanation")
    app_page.draw(SEVEN)
    app_page.classify()
    app_page.expect_label("7")
    pad.get_by_role("button", name="Undo", exact=True).click()
    app_page.classify()
    app_page.expect(explanation).to_contain_text(empty, timeout=TIMEOUT_MS)
    pad.get_by_role("button", name="Redo", exact=True).click()
    app_page.classify()
    app_page.expect_label("7")
    pad.get_by_role("button", name="Clear canvas", exact=True).click()
    app_page.classify()
    app_page.expect(explanation).to_contain_text(empty, timeout=TIMEOUT_MS)


def test_the_eraser_removes_ink(app_page: AppPage) -> None:
    pad = app_page.page.locator("#sketchpad")
    stray = [[(40, 330), (40, 400)]]  # a slip of the pen, well away from the 7
    app_page.draw(SEVEN + stray)
    app_page.classify()
    app_page.expect_label("17")  # read as two digits, left to right
    pad.get_by_role("button", name="Erase", exact=True).click()
    app_page.draw(stray)  # erase the slip along its own path
    app_page.classify()
    app_page.expect_label("7")
    app_page.draw(SEVEN)  # and then the 7 itself
    app_page.classify()
    app_page.expect(app_page.page.locator("#explanation")).to_contain_text(
        "The canvas is empty: draw a digit first.", timeout=TIMEOUT_MS
    )


def test_teach_the_right_digit(app_page: AppPage, server: Any, client: Any) -> None:
    page = app_page.page
    app_page.draw(ONE)
    app_page.classify()
    app_page.expect_label("1")
    try:
        app_page.teach("4")
        app_page.classify()
        app_page.expect_label("4")
        app_page.expect(page.locator("#neighbours")).to_contain_text("4 · d=0.00 · yours")
    finally:
        for sample in SampleStore(server.store).samples():
            client.predict(sample.id, api_name="/delete_sample")


def test_export_and_delete_a_taught_sample(app_page: AppPage, server: Any, client: Any) -> None:
    page = app_page.page
    notice = page.locator("#notice")
    app_page.draw(ONE)
    try:
        app_page.teach("4")
        page.get_by_role("button", name="Your samples and settings").click()
        page.locator("#export").click()
        app_page.expect(notice).to_contain_text("Exported 1 samples", timeout=TIMEOUT_MS)
        app_page.expect(page.get_by_text("samples-images-idx3-ubyte")).to_be_visible()
        page.locator("#samples img").first.click()
        page.locator("#delete").click()
        app_page.expect(notice).to_contain_text("Deleted sample #", timeout=TIMEOUT_MS)
        app_page.expect(page.locator("#samples img")).to_have_count(0)
        app_page.classify()
        app_page.expect_label("1")  # the taught "4" is gone
    finally:
        for sample in SampleStore(server.store).samples():
            client.predict(sample.id, api_name="/delete_sample")


def test_upload_a_photo(
    app_page: AppPage, test_digits: dict[int, np.ndarray], tmp_path: Path
) -> None:
    path = tmp_path / "photo.jpg"
    Image.fromarray(render_photo(test_digits[3], shading=0.4)).save(path, quality=85)
    page = app_page.page
    page.get_by_role("tab", name="Upload").click()
    page.locator("#upload input[type=file]").set_input_files(str(path))
    app_page.expect_label("3")


def test_public_visitors_keep_their_own_samples_across_reloads_and_a_crash(
    browser: Any, public_app: Any
) -> None:
    """Two people in two browsers on a public app: Alice's teaching is hers, in her browser,
    after reloading the page and after the server is killed (``kill -9``) and started again."""
    url = public_app.server.url
    contexts = [browser.new_context(viewport={"width": 1280, "height": 1100}) for _ in range(2)]
    alice, bob = (AppPage(context.new_page()) for context in contexts)

    def reads(page: AppPage, label: str, n_samples: int) -> None:
        page.open(url)
        page.page.get_by_role("button", name="Your samples and settings").click()
        # The page has become its visitor again once their samples show (or none do).
        page.expect(page.page.locator("#samples img")).to_have_count(n_samples)
        page.draw(ONE)
        page.classify()
        page.expect_label(label)

    try:
        reads(alice, "1", 0)
        alice.teach("4")
        alice.classify()
        alice.expect_label("4")
        reads(bob, "1", 0)
        reads(alice, "4", 1)  # a reload
        for page in (alice, bob):  # closed first: a page whose server died reloads on its own,
            page.page.close()  # which would abort the test's own navigation
        public_app.restart(kill=True)
        # New tabs in the same browsers: the same local storage, so the same visitors.
        alice, bob = (AppPage(context.new_page()) for context in contexts)
        reads(alice, "4", 1)
        reads(bob, "1", 0)
    finally:
        for context in contexts:
            context.close()


@pytest.fixture
def phone_page(browser: Any, server: Any) -> Iterator[AppPage]:
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    page = AppPage(context.new_page())
    page.open(server.url)
    yield page
    context.close()


def test_a_phone_shows_the_canvas_and_the_answer_together(phone_page: AppPage) -> None:
    page, height = phone_page.page, 844
    for selector in ("#sketchpad canvas", "#prediction"):
        box = page.locator(selector).bounding_box()
        assert box["y"] >= 0 and box["y"] + box["height"] <= height, (selector, box)
    phone_page.touch(SEVEN_STEM_THEN_BAR)
    phone_page.record_labels()
    phone_page.expect_settled()
    phone_page.expect_label("7")
    assert set(phone_page.labels()) <= {"7"}, phone_page.labels()
    assert page.evaluate("window.scrollY") == 0  # drawing did not scroll the page
