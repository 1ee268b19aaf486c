"""The running app through gradio_client: drawings, photos, bad input, teaching, load; and a
public app (``--public``) with two visitors, each ``Client`` one visitor (one gradio session),
its limits small (``PUBLIC_OPTIONS`` in conftest.py: 3 teachings a minute, 2 samples each)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from knn_digits.preprocess import render_photo
from knn_digits.store import SampleStore

pytestmark = pytest.mark.e2e

Draw = Callable[..., Path]
Sketch = Callable[[Path | None], dict[str, Any]]


def top(result: tuple[Any, ...]) -> str | None:
    """The label the app answered with (the first output)."""
    label = result[0]
    return label.get("label") if isinstance(label, dict) else None


def test_drawings_are_read(
    client: Any,
    test_digits: dict[int, np.ndarray],
    tmp_path: Path,
    drawing_png: Draw,
    sketch_value: Sketch,
) -> None:
    answers = {}
    for digit, image in test_digits.items():
        path = drawing_png(image, tmp_path / f"{digit}.png", brush_radius=4 + digit)
        answers[digit] = top(client.predict(sketch_value(path), api_name="/classify"))
    right = [d for d, answer in answers.items() if answer == str(d)]
    assert len(right) >= 9, answers


def test_the_answer_comes_with_neighbours_and_an_explanation(
    client: Any,
    test_digits: dict[int, np.ndarray],
    tmp_path: Path,
    drawing_png: Draw,
    sketch_value: Sketch,
) -> None:
    path = drawing_png(test_digits[3], tmp_path / "3.png")
    label, gallery, seen, text, _, version = client.predict(
        sketch_value(path), api_name="/classify"
    )
    assert label["label"] == "3" and len(label["confidences"]) == 3
    assert len(gallery) == 3 and all(item["caption"] for item in gallery)
    assert seen is not None
    assert "**3**" in text
    assert version is None  # a Sketchpad value carries no drawing number


def test_the_pads_strokes_are_read_and_the_answer_tagged(client: Any) -> None:
    seven = [[120, 90, 300, 90, 180, 340]]  # the pad's payload: canvas pixels, flat x, y pairs
    strokes = [{"points": points, "radius": 9, "erase": False} for points in seven]
    drawing = {"version": 12, "width": 420, "height": 420, "strokes": strokes}
    result = client.predict(drawing, api_name="/classify")
    assert top(result) == "7" and result[-1] == 12
    rubbed_out = {**drawing, "version": 13, "strokes": [*strokes, {**strokes[0], "erase": True}]}
    result = client.predict(rubbed_out, api_name="/classify")
    assert result[3] == "⚠️ The canvas is empty: draw a digit first." and result[-1] == 13


def test_a_photo_is_read(client: Any, test_digits: dict[int, np.ndarray], tmp_path: Path) -> None:
    from gradio_client import handle_file

    path = tmp_path / "photo.jpg"
    Image.fromarray(render_photo(test_digits[2], shading=0.5)).save(path, quality=85)
    assert top(client.predict(handle_file(str(path)), api_name="/classify_image")) == "2"


def make_bad_file(kind: str, folder: Path) -> Path:
    path = (
        folder
        / {"text": "notes.png", "blank": "blank.png", "black": "black.jpg", "huge": "huge.png"}[
            kind
        ]
    )
    if kind == "text":
        path.write_text("not an image")
    elif kind == "blank":
        Image.new("L", (400, 300), 255).save(path)
    elif kind == "black":
        Image.new("RGB", (400, 300), "black").save(path)
    else:
        Image.new("1", (8000, 8000), 1).save(path)
    return path


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("text", "not an image"),
        ("blank", "No digit found"),
        ("black", "No digit found"),
        ("huge", "8000×8000 pixels is too large"),
    ],
)
def test_bad_uploads_get_a_message_and_the_app_keeps_serving(
    client: Any,
    test_digits: dict[int, np.ndarray],
    tmp_path: Path,
    kind: str,
    message: str,
    drawing_png: Draw,
    sketch_value: Sketch,
) -> None:
    from gradio_client import handle_file

    path = make_bad_file(kind, tmp_path)
    start = time.monotonic()
    label, gallery, seen, text, cuts = client.predict(
        handle_file(str(path)), api_name="/classify_image"
    )
    assert time.monotonic() - start < 10
    assert not label and not gallery and seen is None and cuts is None
    assert text.startswith("⚠️") and message in text and "Traceback" not in text
    drawn = drawing_png(test_digits[0], tmp_path / "0.png")
    assert top(client.predict(sketch_value(drawn), api_name="/classify")) == "0"


def test_an_empty_canvas_gets_a_message(client: Any, sketch_value: Sketch) -> None:
    result = client.predict(sketch_value(None), api_name="/classify")
    assert result[3] == "⚠️ The canvas is empty: draw a digit first."


def test_twenty_simultaneous_requests(
    client: Any,
    test_digits: dict[int, np.ndarray],
    tmp_path: Path,
    drawing_png: Draw,
    sketch_value: Sketch,
) -> None:
    paths = [
        drawing_png(test_digits[i % 10], tmp_path / f"{i}.png", brush_radius=3 + i)
        for i in range(20)
    ]
    with ThreadPoolExecutor(20) as pool:
        jobs = list(pool.map(lambda p: client.submit(sketch_value(p), api_name="/classify"), paths))
        results = [job.result(timeout=60) for job in jobs]
    assert all(top(r) in [str(d) for d in range(10)] for r in results)
    right = sum(top(r) == str(i % 10) for i, r in enumerate(results))
    assert right >= 18


def test_teaching_is_used_at_once_and_stored(
    client: Any,
    server: Any,
    test_digits: dict[int, np.ndarray],
    tmp_path: Path,
    drawing_png: Draw,
    sketch_value: Sketch,
) -> None:
    seven = sketch_value(drawing_png(test_digits[7], tmp_path / "7.png"))
    assert top(client.predict(seven, api_name="/classify")) == "7"
    message, samples = client.predict(seven, "4", api_name="/teach")
    assert message.startswith("Learned: this is a 4"), message
    assert str(server.store) in message  # the owner is told where the samples are kept
    try:
        assert top(client.predict(seven, api_name="/classify")) == "4"
        stored = SampleStore(server.store).samples()
        assert [s.label for s in stored] == [4]
        assert samples[-1]["caption"] == f"#{stored[0].id} → 4"
    finally:
        for sample in SampleStore(server.store).samples():
            client.predict(sample.id, api_name="/delete_sample")
    assert top(client.predict(seven, api_name="/classify")) == "7"


def test_teaching_refuses_a_missing_digit(
    client: Any,
    test_digits: dict[int, np.ndarray],
    tmp_path: Path,
    drawing_png: Draw,
    sketch_value: Sketch,
) -> None:
    seven = sketch_value(drawing_png(test_digits[7], tmp_path / "7.png"))
    message, _ = client.predict(seven, None, api_name="/teach")
    assert message.startswith("⚠️ Pick the right digit")


# ------------------------------------------------------------------ public mode: visitors


def sample_ids(gallery: list[dict[str, Any]]) -> list[int]:
    """The ids in a samples gallery's captions ("#12 → 4")."""
    return [int(item["caption"].split()[0].lstrip("#")) for item in gallery]


@pytest.fixture
def visitors(public_app: Any) -> Iterator[Callable[[], Any]]:
    """``visitor()``: a new gradio_client session on the public app, closed afterwards."""
    from gradio_client import Client

    clients: list[Any] = []

    def visitor() -> Any:
        clients.append(Client(public_app.server.url, verbose=False, download_files=False))
        return clients[-1]

    yield visitor
    for client in clients:
        client.close()


@pytest.fixture
def seven(
    test_digits: dict[int, np.ndarray], tmp_path: Path, drawing_png: Draw, sketch_value: Sketch
) -> dict[str, Any]:
    return sketch_value(drawing_png(test_digits[7], tmp_path / "7.png"))


def test_a_visitors_teaching_is_theirs_alone(
    visitors: Callable[[], Any], public_app: Any, seven: dict[str, Any]
) -> None:
    alice, bob = visitors(), visitors()
    message, samples = alice.predict(seven, "4", api_name="/teach")
    assert message.startswith("Learned: this is a 4") and "yours only" in message
    assert str(public_app.server.store.parent) not in message and "sqlite" not in message
    sample_id = sample_ids(samples)[-1]
    assert top(alice.predict(seven, api_name="/classify")) == "4"
    assert top(bob.predict(seven, api_name="/classify")) == "7"
    # Bob tries Alice's sample: no deleting it, no exporting it, no seeing it.
    message, bobs = bob.predict(sample_id, api_name="/delete_sample")
    assert message == f"⚠️ There is no sample #{sample_id} of yours." and bobs == []
    message, files = bob.predict(api_name="/export_samples")
    assert message == "⚠️ There are no samples to export yet." and not files
    for other_id in range(1, sample_id + 3):  # trying small ids gets nobody's data
        assert "of yours" in bob.predict(other_id, api_name="/delete_sample")[0]
    assert top(alice.predict(seven, api_name="/classify")) == "4"
    message, files = alice.predict(api_name="/export_samples")
    assert message.startswith("Exported 1 samples") and len(files) == 2
    # The owner's view of the file holds none of it: the sample is Alice's.
    assert SampleStore(public_app.server.store).samples() == []
    assert alice.predict(sample_id, api_name="/delete_sample")[0] == f"Deleted sample #{sample_id}."
    assert top(alice.predict(seven, api_name="/classify")) == "7"


def test_the_preset_stays_as_the_owner_started_it(visitors: Callable[[], Any]) -> None:
    message = visitors().predict("fast", api_name="/preset")
    assert message == "⚠️ This shared app keeps the preset `raw`."


def test_the_limits_answer_clearly_and_the_app_keeps_serving(
    visitors: Callable[[], Any], seven: dict[str, Any]
) -> None:
    carol, dave = visitors(), visitors()

    def teach(client: Any) -> str:
        return str(client.predict(seven, "1", api_name="/teach")[0])

    def delete_first(client: Any) -> None:
        _, samples = client.predict(None, api_name="/delete_sample")
        client.predict(sample_ids(samples)[0], api_name="/delete_sample")

    assert teach(carol).startswith("Learned") and teach(carol).startswith("Learned")
    assert teach(carol).startswith("⚠️ You have 2 samples, the most one visitor may keep")
    delete_first(carol)
    assert teach(carol).startswith("Learned")  # the third teaching this minute
    delete_first(carol)
    refused = teach(carol)
    assert refused.startswith("⚠️ That's 3 teachings in a minute") and "wait" in refused
    assert top(carol.predict(seven, api_name="/classify")) == "1"  # still serving, still hers
    assert teach(dave).startswith("Learned")  # the limits are each visitor's own


def test_visitors_reading_at_once_get_their_own_answers(
    visitors: Callable[[], Any], seven: dict[str, Any]
) -> None:
    erin, frank = visitors(), visitors()
    assert erin.predict(seven, "9", api_name="/teach")[0].startswith("Learned")
    jobs = [
        (who, client.submit(seven, api_name="/classify"))
        for _ in range(6)
        for who, client in (("erin", erin), ("frank", frank))
    ]
    answers = {(who, top(job.result(timeout=120))) for who, job in jobs}
    assert answers == {("erin", "9"), ("frank", "7")}
