"""A person's view: Debian chromium draws with the mouse, clicks, uploads and reads the page.

How to drive the Sketchpad (brush selection, zoom, few waypoints per stroke) is in
../shared/BROWSER_TESTING.md.
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
TIMEOUT_MS = 15_000


class AppPage:
    """The app in a browser tab, with the few gestures the tests need."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.requests: list[str] = []
        page.on("request", lambda request: self.requests.append(request.url))

    def open(self, url: str) -> None:
        self.page.goto(url)
        self.page.locator("#sketchpad .pixi-target canvas").wait_for(timeout=TIMEOUT_MS)
        # The app selects the brush itself (SELECT_BRUSH_JS): a person draws without a click.
        brush = self.page.locator("#sketchpad").get_by_role("button", name="Brush", exact=True)
        self.expect(brush).to_have_class(_contains("highlight"), timeout=TIMEOUT_MS)

    @staticmethod
    def expect(locator: Any) -> Any:
        from playwright.sync_api import expect

        return expect(locator)

    def draw(self, strokes: Sequence[Sequence[Point]]) -> None:
        """Mouse strokes through canvas points; the brush joins them with straight lines."""
        zoom = float(self.page.locator("#sketchpad .zoom-number span").inner_text().strip("%"))
        box = self.page.locator("#sketchpad .pixi-target canvas").bounding_box()
        centre = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)

        def screen(point: Point) -> Point:
            return tuple(
                c + (p - size / 2) * zoom / 100
                for c, p, size in zip(centre, point, CANVAS, strict=True)
            )  # type: ignore[return-value]

        for stroke in strokes:
            self.page.mouse.move(*screen(stroke[0]))
            self.page.mouse.down()
            for point in stroke[1:]:
                self.page.mouse.move(*screen(point))
            self.page.mouse.up()

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
        label = self.page.locator('#prediction [data-testid="label-output-value"]')
        self.expect(label).to_have_text(text, timeout=TIMEOUT_MS)


def _contains(text: str) -> Any:
    import re

    return re.compile(rf"\b{re.escape(text)}\b")


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
        public_app.restart(kill=True)
        reads(alice, "4", 1)
        reads(bob, "1", 0)
    finally:
        for context in contexts:
            context.close()
