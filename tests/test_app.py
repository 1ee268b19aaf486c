"""The app's handlers and service, called directly: no server, no browser.

A small model (5,000 training digits) keeps this fast; accuracy is the benchmark's business.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from knn_digits import app, features
from knn_digits.app import answers
from knn_digits.datasets import load_mnist, read_idx
from knn_digits.models import PRESETS, DigitModel, get_preset
from knn_digits.preprocess import render_drawing, render_photo, sketch_to_mnist
from knn_digits.store import SampleStore
from knn_digits.visitors import Limits

if TYPE_CHECKING:
    from conftest import Spy

N_TRAIN = 5000


@pytest.fixture(scope="module")
def small_loader() -> Callable[[str], DigitModel]:
    images, labels = load_mnist("train")

    def load(preset: str) -> DigitModel:
        return DigitModel(preset).fit(images[:N_TRAIN], labels[:N_TRAIN])

    return load


@pytest.fixture(scope="module")
def digits(small_loader: Callable[[str], DigitModel]) -> dict[int, np.ndarray]:
    """One MNIST test digit per class that the small model reads right when drawn.

    These tests are about the plumbing, so they pick digits whose answer is not in doubt.
    """
    model = small_loader("raw")
    images, labels = load_mnist("test")
    chosen = {}
    for d in range(10):
        candidates = images[labels == d][:10]
        read = model.predict(np.stack([sketch_to_mnist(drawn(c)) for c in candidates]))
        chosen[d] = candidates[int(np.argmax(read == d))]
    return chosen


@pytest.fixture
def service(tmp_path: Path, small_loader: Callable[[str], DigitModel]) -> app.DigitService:
    return app.DigitService(
        small_loader("raw"), SampleStore(tmp_path / "samples.sqlite3"), loader=small_loader
    )


def drawn(digit: np.ndarray, **kwargs: object) -> dict[str, object]:
    layer = render_drawing(digit, **kwargs)  # type: ignore[arg-type]
    return {"background": None, "layers": [layer], "composite": None}


def top(label: object) -> str:
    assert isinstance(label, dict)
    return max(label, key=label.get)  # type: ignore[arg-type]


# ------------------------------------------------------------------ classify


def test_classify_a_drawing(service: app.DigitService, digits: dict[int, np.ndarray]) -> None:
    for expected in (0, 1, 3, 7):
        label, gallery, seen, text, _ = app.handle_classify(service, drawn(digits[expected]))
        assert top(label) == str(expected)
        assert set(label) == {str(d) for d in range(10)}
        assert sum(label.values()) == pytest.approx(1.0)
        assert f"**{expected}**" in text
        assert seen is not None and seen.shape == (28, 28)
        assert seen.dtype == np.uint8 and seen.max() == 255


def test_the_neighbours_are_shown_with_their_labels_and_distances(
    service: app.DigitService, digits: dict[int, np.ndarray]
) -> None:
    _, gallery, _, text, _ = app.handle_classify(service, drawn(digits[1]))
    assert len(gallery) == service.voters
    distances = []
    for image, caption in gallery:
        assert image.shape == (28, 28) and image.dtype == np.uint8
        neighbour_label, distance = caption.split(" · d=")
        assert neighbour_label in "0123456789"
        distances.append(float(distance))
    assert distances == sorted(distances)
    assert "nearest training digits are" in text


def test_as_many_neighbours_are_shown_as_vote_on_a_drawing(
    small_loader: Callable[[str], DigitModel], digits: dict[int, np.ndarray]
) -> None:
    # A preset may vote on drawings with more neighbours than on MNIST digits (accurate: 5, 3).
    images, labels = load_mnist("train")
    preset = dataclasses.replace(get_preset("raw"), name="toy", drawing_neighbors=5)
    model = DigitModel(preset).fit(images[:N_TRAIN], labels[:N_TRAIN])
    service = app.DigitService(model, None, loader=small_loader)
    _, gallery, _, _, _ = app.handle_classify(service, drawn(digits[1]))
    assert len(gallery) == service.voters == 5 != model.n_neighbors
    assert app.handle_neighbour_columns(service).columns == 5


def test_a_number_is_read_left_to_right(
    service: app.DigitService, digits: dict[int, np.ndarray]
) -> None:
    layers = [
        render_drawing(digits[d], canvas=(200, 300), size=160, brush_radius=6) for d in (2, 0, 1, 6)
    ]
    value = {"background": None, "layers": [np.concatenate(layers, axis=1)], "composite": None}
    label, gallery, seen, text, cuts = app.handle_classify(service, value)
    assert label == "2016"
    assert len(gallery) == 4 * service.voters
    assert seen is not None and seen.shape == (28, 4 * 28)
    assert cuts is not None and cuts.ndim == 3 and cuts.dtype == np.uint8
    assert "Read **2016** left to right" in text


@pytest.mark.parametrize(
    "value",
    [
        None,
        {"background": None, "layers": [], "composite": None},
        {"background": None, "layers": [np.zeros((40, 40, 4), np.uint8)], "composite": None},
    ],
)
def test_an_empty_canvas_gets_a_friendly_message(
    service: app.DigitService, value: dict[str, object] | None
) -> None:
    assert app.handle_classify(service, value) == (
        None,
        [],
        None,
        "⚠️ The canvas is empty: draw a digit first.",
        None,
    )


# ------------------------------------------------------------------ uploads


def test_classify_a_photo(
    service: app.DigitService, digits: dict[int, np.ndarray], tmp_path: Path
) -> None:
    path = tmp_path / "photo.jpg"
    Image.fromarray(render_photo(digits[4], shading=0.5, noise=6)).save(path, quality=85)
    label, gallery, _, _, _ = app.handle_classify_image(service, str(path))
    assert top(label) == "4" and gallery


def test_an_mnist_style_upload(
    service: app.DigitService, digits: dict[int, np.ndarray], tmp_path: Path
) -> None:
    path = tmp_path / "mnist.png"
    Image.fromarray(digits[7]).save(path)
    assert top(app.handle_classify_image(service, str(path))[0]) == "7"


def write_bad_files(folder: Path) -> dict[str, Path]:
    files = {
        name: folder / name
        for name in ("blank.png", "black.png", "notes.png", "huge.png", "empty.jpg")
    }
    Image.new("L", (300, 200), 255).save(files["blank.png"])
    Image.new("RGB", (300, 200), "black").save(files["black.png"])
    files["notes.png"].write_text("these are not pixels")
    Image.new("1", (8000, 8000), 1).save(files["huge.png"])
    files["empty.jpg"].write_bytes(b"")
    return files


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("blank.png", "No digit found"),
        ("black.png", "No digit found"),
        ("notes.png", "notes.png: not an image"),
        ("huge.png", "8000×8000 pixels is too large"),
        ("empty.jpg", "empty.jpg: not an image"),
    ],
)
def test_bad_uploads_get_a_friendly_message(
    service: app.DigitService, tmp_path: Path, name: str, message: str
) -> None:
    path = write_bad_files(tmp_path)[name]
    label, gallery, seen, text, cuts = app.handle_classify_image(service, str(path))
    assert (label, gallery, seen, cuts) == (None, [], None, None)
    assert text.startswith("⚠️ ") and message in text
    assert "Traceback" not in text and str(tmp_path) not in text


def test_no_upload_gets_a_friendly_message(service: app.DigitService) -> None:
    assert app.handle_classify_image(service, None)[3] == "⚠️ Upload an image of a digit first."


# ------------------------------------------------------------------ teaching


def test_teaching_wins_at_once_and_survives_a_restart(
    service: app.DigitService,
    digits: dict[int, np.ndarray],
    small_loader: Callable[[str], DigitModel],
) -> None:
    seven = drawn(digits[7])
    assert top(app.handle_classify(service, seven)[0]) == "7"
    message, gallery = app.handle_teach(service, seven, "2")
    assert message.startswith("Learned: this is a 2 (sample #1")
    assert [caption for _, caption in gallery] == ["#1 → 2"]
    label, neighbours, _, _, _ = app.handle_classify(service, seven)
    assert top(label) == "2"  # the exact match wins
    assert neighbours[0][1] == "2 · d=0.00 · yours"
    # A new app on the same store starts with the sample.
    assert service.store is not None
    restarted = app.DigitService(
        small_loader("raw"), SampleStore(service.store.path), loader=small_loader
    )
    assert top(app.handle_classify(restarted, seven)[0]) == "2"


def test_a_taught_digit_also_covers_its_slanted_twin(
    service: app.DigitService,
    digits: dict[int, np.ndarray],
    small_loader: Callable[[str], DigitModel],
) -> None:
    seven = drawn(digits[7])
    app.handle_teach(service, seven, "2")
    taught = service.read([sketch_to_mnist(seven)]).digits
    slanted = features.augment(taught, shears=(0.2,))  # the writer's next one, a bit slanted
    assert service.read(list(slanted)).labels[0] == 2
    assert len(service._model.train_labels_) == len(small_loader("raw").train_labels_) + 7
    # A restart adds the same variants from the store.
    assert service.store is not None
    restarted = app.DigitService(
        small_loader("raw"), SampleStore(service.store.path), loader=small_loader
    )
    assert restarted.read(list(slanted)).labels[0] == 2


def test_delete_and_switch_off_make_the_model_forget(
    service: app.DigitService, digits: dict[int, np.ndarray]
) -> None:
    seven = drawn(digits[7])
    app.handle_teach(service, seven, "2")
    assert app.handle_use_samples(service, False).startswith("Your samples are off")
    assert top(app.handle_classify(service, seven)[0]) == "7"
    message, _ = app.handle_teach(service, seven, "2")  # taught while off: stored, not used
    assert "switched off" in message
    assert top(app.handle_classify(service, seven)[0]) == "7"
    app.handle_use_samples(service, True)
    assert top(app.handle_classify(service, seven)[0]) == "2"
    assert service.store is not None
    for sample in service.store.samples():
        message, _ = app.handle_delete(service, sample.id)
        assert message == f"Deleted sample #{sample.id}."
    assert top(app.handle_classify(service, seven)[0]) == "7"
    assert app.handle_delete(service, 99)[0] == "⚠️ There is no sample #99."
    assert app.handle_delete(service, None)[0].startswith("⚠️ Pick a sample")


def test_the_distance_scale_is_measured_once_per_preset(
    tmp_path: Path,
    small_loader: Callable[[str], DigitModel],
    digits: dict[int, np.ndarray],
    spy: Spy,
) -> None:
    # A search of scoring.PROBES digits, seconds with `accurate`: deleting a sample or switching
    # samples off reloads the same references and must not pay for it again.
    measured = spy(app.service, "distance_scale")
    service = app.DigitService(
        small_loader("raw"), SampleStore(tmp_path / "s.db"), loader=small_loader
    )
    app.handle_teach(service, drawn(digits[7]), "2")
    app.handle_use_samples(service, False)
    app.handle_use_samples(service, True)
    assert service.store is not None
    app.handle_delete(service, service.store.samples()[0].id)
    assert [model.preset.name for (model,) in measured] == ["raw"]
    app.handle_preset(service, "fast")
    assert [model.preset.name for (model,) in measured] == ["raw", "fast"]


@pytest.mark.parametrize("digit", [None, "", "10", "x", "-1", "²", "٣"])
def test_teaching_needs_a_digit(
    service: app.DigitService, digits: dict[int, np.ndarray], digit: str | None
) -> None:
    message, gallery = app.handle_teach(service, drawn(digits[3]), digit)
    assert message.startswith("⚠️ Pick the right digit") and gallery == []


def test_teaching_needs_one_drawn_digit(
    service: app.DigitService, digits: dict[int, np.ndarray]
) -> None:
    assert app.handle_teach(service, None, "3")[0] == "⚠️ The canvas is empty: draw a digit first."
    two = np.concatenate(
        [render_drawing(digits[d], canvas=(200, 300), size=160) for d in (1, 2)], axis=1
    )
    value = {"background": None, "layers": [two], "composite": None}
    assert app.handle_teach(service, value, "3")[0].startswith("⚠️ Teach one digit at a time")
    assert service.store is not None and len(service.store) == 0


def test_teaching_without_a_store_keeps_samples_in_memory(
    small_loader: Callable[[str], DigitModel], digits: dict[int, np.ndarray]
) -> None:
    service = app.DigitService(small_loader("raw"), None, loader=small_loader)
    message, gallery = app.handle_teach(service, drawn(digits[7]), "1")
    assert "until the app stops" in message and gallery == []
    assert top(app.handle_classify(service, drawn(digits[7]))[0]) == "1"


def test_export_samples_as_idx(service: app.DigitService, digits: dict[int, np.ndarray]) -> None:
    assert app.handle_export(service) == ("⚠️ There are no samples to export yet.", None)
    app.handle_teach(service, drawn(digits[5]), "5")
    app.handle_teach(service, drawn(digits[6]), "6")
    message, paths = app.handle_export(service)
    assert message == "Exported 2 samples in MNIST's IDX format."
    assert paths is not None
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    assert images.shape == (2, 28, 28) and labels.tolist() == [5, 6]


def test_selecting_a_sample_gives_its_id(
    service: app.DigitService, digits: dict[int, np.ndarray]
) -> None:
    app.handle_teach(service, drawn(digits[5]), "5")
    app.handle_teach(service, drawn(digits[6]), "6")
    assert app.handle_select_sample(service, 1) == 2.0
    assert app.handle_select_sample(service, 5) is None


def test_switch_preset(service: app.DigitService) -> None:
    assert app.handle_preset(service, "raw").startswith("Now using preset `raw`")
    assert app.handle_preset(service, "nope").startswith("⚠️ Unknown preset 'nope'")
    assert service.preset == "raw"
    assert app.handle_neighbour_columns(service).columns == PRESETS["raw"].n_neighbors
    app.handle_preset(service, "fast")
    assert app.handle_neighbour_columns(service).columns == PRESETS["fast"].n_neighbors


def test_reads_and_teaching_from_many_threads(
    service: app.DigitService, digits: dict[int, np.ndarray]
) -> None:
    values = [drawn(digits[d]) for d in range(10)]

    def work(i: int) -> object:
        if i % 5 == 0:
            return app.handle_teach(service, values[i % 10], str(i % 10))[0]
        return app.handle_classify(service, values[i % 10])[0]

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(work, range(30)))
    assert all(r is not None for r in results)
    assert service.store is not None and len(service.store) == 6


# ------------------------------------------------------------------ the layout and contract


def test_the_demo_has_the_promised_ids_and_api_names(service: app.DigitService) -> None:
    async def build() -> gr.Blocks:
        # Outside a running event loop gradio 6.31 makes two loops for its lock and stop
        # event and leaks one: a ResourceWarning, which is an error here.
        return app.build_demo(service)

    # A thread of its own: the browser tests' Playwright keeps a loop running in this one.
    with ThreadPoolExecutor(1) as worker:
        demo = worker.submit(asyncio.run, build()).result()
    ids = {block.elem_id for block in demo.blocks.values() if getattr(block, "elem_id", None)}
    assert {"sketchpad", "classify", "prediction", "neighbours", "upload"} <= ids
    api_names = {fn.api_name for fn in demo.fns.values() if fn.api_visibility == "public"}
    assert {"classify", "classify_image", "teach"} <= api_names


def test_the_answers_images_are_served_where_they_are(
    service: app.DigitService, digits: dict[int, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Gradio neither hashes nor copies them into its cache (the static paths)."""
    from gradio.utils import is_static_file

    monkeypatch.setattr(answers, "IMAGE_DIR", Path(os.environ["KNN_DIGITS_HOME"]) / "served")
    _, gallery, seen, _, cuts = app.answer_as_files(app.handle_classify)(service, drawn(digits[7]))
    assert not is_static_file(seen)

    async def build() -> gr.Blocks:
        return app.build_demo(service)

    with ThreadPoolExecutor(1) as worker:  # as in the test above
        worker.submit(asyncio.run, build()).result()
    assert all(is_static_file(path) for path in [seen, cuts, *(path for path, _ in gallery)])


def test_offline_settings_are_in_place_before_gradio_is_used() -> None:
    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"
    assert os.environ["HF_HUB_DISABLE_TELEMETRY"].lower() in ("1", "true")


def test_core_modules_do_not_import_gradio() -> None:
    code = (
        "import sys, knn_digits.preprocess, knn_digits.store, knn_digits.canvas; "
        "sys.exit('gradio' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_about_tab_shows_the_report_when_one_was_written(
    service: app.DigitService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KNN_DIGITS_HOME", str(tmp_path / "home"))
    text, figures = app.handle_about(service)
    assert "No evaluation report" in text and "knn-digits report --preset raw" in text
    assert figures == []
    folder = tmp_path / "home" / "reports" / "raw"
    folder.mkdir(parents=True)
    Image.new("L", (40, 30)).save(folder / "confusion.png")
    (folder / "metrics.json").write_text(
        json.dumps(
            {
                "error_rate": 0.0283,
                "n_test": 10_000,
                "figures": [
                    {"filename": "confusion.png", "title": "Confusion matrix"},
                    {"filename": "missing.png", "title": "not written"},
                ],
            }
        )
    )
    text, figures = app.handle_about(service)
    assert "2.83 %" in text and "10,000" in text
    assert figures == [(str(folder / "confusion.png"), "Confusion matrix")]


def test_a_close_vote_is_shown_as_doubt() -> None:
    def reading(proba: list[float]) -> app.Reading:
        shares = np.zeros((1, 10))
        shares[0, [7, 1]] = proba
        return app.Reading(
            np.zeros((1, 28, 28), np.uint8),
            shares,
            np.ones((1, 2)),
            np.zeros((1, 2), np.int64),
            np.zeros((1, 2, 28, 28), np.uint8),
            np.array([[7, 1]]),
            np.array([["", "synthetic"]]),
        )

    text = answers._explain(reading([0.55, 0.45]), "accurate")
    assert text.startswith("It's a **7 or 1?**") and "teach it the right digit" in text
    assert "1 (synthetic) at 1.00" in text and answers.SYNTHETIC_NOTE in text
    text = answers._explain(reading([0.95, 0.05]), "accurate")
    assert text.startswith("It's a **7**.") and "teach" not in text


# ------------------------------------------------------------------ public mode: visitors


@pytest.fixture
def public(tmp_path: Path, small_loader: Callable[[str], DigitModel]) -> app.DigitService:
    return app.DigitService(
        small_loader("raw"),
        SampleStore(tmp_path / "samples.sqlite3"),
        loader=small_loader,
        public=True,
        limits=Limits(teach_per_minute=5, samples_per_visitor=3),
    )


def test_a_visitors_teaching_changes_their_answers_only(
    public: app.DigitService, digits: dict[int, np.ndarray]
) -> None:
    seven = drawn(digits[7])
    alice, bob = public.for_visitor("session-a"), public.for_visitor("session-b")
    message, gallery = app.handle_teach(alice, seven, "2")
    assert message.startswith("Learned: this is a 2 (sample #1, yours only)")
    assert "/" not in message and "sqlite" not in message  # no server path for strangers
    label, neighbours, _, _, _ = app.handle_classify(alice, seven)
    assert top(label) == "2" and neighbours[0][1] == "2 · d=0.00 · yours"
    assert top(app.handle_classify(bob, seven)[0]) == "7"
    assert top(app.handle_classify(public, seven)[0]) == "7"  # the shared model is untouched
    # The same session is the same visitor on every call.
    assert top(app.handle_classify(public.for_visitor("session-a"), seven)[0]) == "2"
    assert [caption for _, caption in gallery] == ["#1 → 2"]


def test_a_visitor_cannot_see_delete_or_export_anothers_samples(
    public: app.DigitService, digits: dict[int, np.ndarray]
) -> None:
    seven = drawn(digits[7])
    alice, bob = public.for_visitor("session-a"), public.for_visitor("session-b")
    app.handle_teach(alice, seven, "2")
    assert alice.store is not None and bob.store is not None
    (sample,) = alice.store.samples()
    message, gallery = app.handle_delete(bob, sample.id)
    assert message == f"⚠️ There is no sample #{sample.id} of yours." and gallery == []
    assert app.handle_delete(bob, 1e30)[0] == f"⚠️ There is no sample #{int(1e30)} of yours."
    assert app.handle_delete(bob, float("inf"))[0].startswith("⚠️ Pick a sample")
    assert app.handle_export(bob) == ("⚠️ There are no samples to export yet.", None)
    assert app.handle_select_sample(bob, 0) is None
    app.handle_use_samples(bob, False)  # bob's switch is his own
    assert top(app.handle_classify(alice, seven)[0]) == "2"
    message, paths = app.handle_export(alice)
    assert message.startswith("Exported 1 samples") and paths is not None
    assert read_idx(paths[1]).tolist() == [2]
    app.handle_teach(bob, seven, "3")
    again, bobs = app.handle_export(alice)[1], app.handle_export(bob)[1]
    assert again == paths and bobs is not None and read_idx(bobs[1]).tolist() == [3]
    assert Path(bobs[0]).parent != Path(paths[0]).parent  # one folder each, reused
    assert app.handle_delete(alice, sample.id)[0] == f"Deleted sample #{sample.id}."
    assert top(app.handle_classify(alice, seven)[0]) == "7"


def test_a_visitor_comes_back_after_a_restart_with_their_token(
    public: app.DigitService,
    digits: dict[int, np.ndarray],
    small_loader: Callable[[str], DigitModel],
) -> None:
    seven = drawn(digits[7])
    assert public.visitors is not None
    alice, token = public.visitors.restore("page-1", None)
    app.handle_teach(alice, seven, "2")
    restarted = app.DigitService(
        small_loader("raw"), SampleStore(public.visitors.store.path), public=True
    )
    assert restarted.visitors is not None
    again, same = restarted.visitors.restore("page-2", token)
    assert same == token and top(app.handle_classify(again, seven)[0]) == "2"
    stranger, _ = restarted.visitors.restore("page-3", None)
    assert top(app.handle_classify(stranger, seven)[0]) == "7"


def test_the_limits_answer_with_a_message(
    public: app.DigitService, digits: dict[int, np.ndarray]
) -> None:
    alice = public.for_visitor("session-a")
    answers = [app.handle_teach(alice, drawn(digits[d]), str(d))[0] for d in range(4)]
    assert all(answer.startswith("Learned") for answer in answers[:3])
    assert answers[3].startswith("⚠️ You have 3 samples, the most one visitor may keep")
    assert alice.store is not None
    for sample in alice.store.samples():
        app.handle_delete(alice, sample.id)
    answers = [app.handle_teach(alice, drawn(digits[d]), str(d))[0] for d in range(3)]
    # Refused teachings don't count: these are the fourth and fifth this minute, then no more.
    assert answers[0].startswith("Learned") and answers[1].startswith("Learned")
    assert answers[2].startswith("⚠️ That's 5 teachings in a minute")
    assert top(app.handle_classify(alice, drawn(digits[3]))[0]) == "3"  # still serving


def test_in_local_mode_every_session_is_the_owner(
    service: app.DigitService, digits: dict[int, np.ndarray]
) -> None:
    assert service.for_visitor("session-a") is service is service.for_visitor(None)
    message, _ = app.handle_teach(service.for_visitor("session-a"), drawn(digits[7]), "2")
    assert service.store is not None and str(service.store.path) in message
    assert top(app.handle_classify(service.for_visitor("session-b"), drawn(digits[7]))[0]) == "2"


def test_the_owners_samples_are_not_shown_or_used_in_public(
    tmp_path: Path, small_loader: Callable[[str], DigitModel], digits: dict[int, np.ndarray]
) -> None:
    store = SampleStore(tmp_path / "samples.sqlite3")
    owner = app.DigitService(small_loader("raw"), store, loader=small_loader)
    app.handle_teach(owner, drawn(digits[7]), "2")
    public = app.DigitService(small_loader("raw"), store, loader=small_loader, public=True)
    visitor = public.for_visitor("session-a")
    assert top(app.handle_classify(visitor, drawn(digits[7]))[0]) == "7"
    assert app.handle_delete(visitor, 1)[0] == "⚠️ There is no sample #1 of yours."
    assert len(store) == 1  # and back home, the owner's sample is there as before
    assert top(app.handle_classify(owner, drawn(digits[7]))[0]) == "2"


def test_strangers_cannot_switch_the_preset_or_see_server_paths(
    public: app.DigitService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    visitor = public.for_visitor("session-a")
    assert app.handle_preset(visitor, "fast") == "⚠️ This shared app keeps the preset `raw`."
    assert public.preset == "raw"
    monkeypatch.setenv("KNN_DIGITS_HOME", str(tmp_path / "home"))
    folder = tmp_path / "home" / "reports" / "raw"
    text, _ = app.handle_about(visitor)
    assert "No evaluation report" in text and str(tmp_path) not in text
    folder.mkdir(parents=True)
    Image.new("L", (40, 30)).save(folder / "confusion.png")
    figures = [{"filename": "confusion.png", "title": "Confusion matrix"}]
    metrics = {"error_rate": 0.03, "n_test": 10, "figures": figures}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    text, _ = app.handle_about(visitor)
    assert "3.00 %" in text and str(tmp_path) not in text


def test_the_public_demo_keeps_the_api_and_remembers_visitors(public: app.DigitService) -> None:
    async def build() -> gr.Blocks:
        return app.build_demo(public)

    with ThreadPoolExecutor(1) as worker:
        demo = worker.submit(asyncio.run, build()).result()
    api = {fn.api_name: fn for fn in demo.fns.values() if fn.api_visibility == "public"}
    assert {"classify", "teach", "delete_sample", "export_samples"} <= set(api)
    assert [type(block).__name__ for block in api["teach"].inputs] == ["DrawingPad", "Radio"]
    stored = [block for block in demo.blocks.values() if isinstance(block, gr.BrowserState)]
    assert len(stored) == 1 and stored[0].storage_key == "knn-digits-visitor"


def test_visitors_reading_and_teaching_from_many_threads(
    tmp_path: Path, small_loader: Callable[[str], DigitModel], digits: dict[int, np.ndarray]
) -> None:
    public = app.DigitService(
        small_loader("raw"), SampleStore(tmp_path / "s.sqlite3"), loader=small_loader, public=True
    )
    seven = drawn(digits[7])

    def work(i: int) -> object:
        visitor = public.for_visitor(f"session-{i % 3}")
        if i < 3:
            return app.handle_teach(visitor, seven, str(i))[0]
        return top(app.handle_classify(visitor, seven)[0])

    with ThreadPoolExecutor(6) as pool:
        taught = list(pool.map(work, range(3)))
        answers = list(pool.map(work, range(3, 30)))
    assert all(message.startswith("Learned") for message in taught)  # type: ignore[union-attr]
    assert answers == [str(i % 3) for i in range(3, 30)]  # each session its own taught label


# ------------------------------------------------------------------ the drawing pad


def pad_strokes(layer_ink: np.ndarray, version: int) -> dict[str, object]:
    """A drawing's ink as the pad would send it: one dot stroke per ink pixel row run."""
    strokes = []
    for y, row in enumerate(layer_ink):
        xs = np.flatnonzero(row)
        if len(xs):
            strokes.append({"points": [int(xs[0]), y, int(xs[-1]), y], "radius": 0.5})
    height, width = layer_ink.shape
    return {"version": version, "width": width, "height": height, "strokes": strokes}


def test_the_pads_strokes_are_read_as_the_sketchpad_reads_its_layers(
    service: app.DigitService, digits: dict[int, np.ndarray]
) -> None:
    from knn_digits.drawing_pad import DrawingPad

    pad = DrawingPad(size=(400, 400), brush_radius=9, elem_id="pad", render=False)
    for expected in (1, 7):
        sketch = drawn(digits[expected])
        value = pad.preprocess(pad_strokes(sketch["layers"][0][:, :, 3] > 0, version=expected))
        assert value is not None and value["version"] == expected
        *answer, version = app.handle_drawing(service, value)
        assert top(answer[0]) == str(expected) and version == expected
    empty = pad.preprocess({"version": 3, "width": 400, "height": 400, "strokes": []})
    *answer, version = app.handle_drawing(service, empty)
    assert answer[3] == "⚠️ The canvas is empty: draw a digit first." and version == 3
    assert pad.preprocess(None) is None and pad.preprocess("") is None
    with pytest.raises(gr.Error, match="not a drawing"):
        pad.preprocess({"strokes": []})


def test_answers_images_go_out_as_files_written_once(
    service: app.DigitService, digits: dict[int, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(answers, "IMAGE_DIR", Path(os.environ["KNN_DIGITS_HOME"]) / "images")
    read = app.answer_as_files(app.handle_classify)
    label, gallery, seen, text, cuts = read(service, drawn(digits[7]))
    arrays = app.handle_classify(service, drawn(digits[7]))
    assert top(label) == "7" and text == arrays[3]
    for path, array in [(seen, arrays[2]), (cuts, arrays[4]), (gallery[0][0], arrays[1][0][0])]:
        np.testing.assert_array_equal(np.asarray(Image.open(path)), array)
    written = {path: os.stat(path).st_mtime_ns for path, _ in gallery}
    again = read(service, drawn(digits[7]))  # the same images: the same files, not rewritten
    assert [path for path, _ in again[1]] == [path for path, _ in gallery] and again[2] == seen
    assert {path: os.stat(path).st_mtime_ns for path, _ in gallery} == written
    empty = read(service, None)  # no images at all
    assert empty[1] == [] and empty[2] is None and empty[4] is None
