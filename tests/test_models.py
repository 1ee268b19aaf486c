"""Presets and the fitted pipeline: conversions, persistence, the on-disk cache."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from knn_digits import models, styles
from knn_digits.models import DigitModel, as_images, get_preset, load_model
from knn_digits.presets import Preset


def test_as_images_accepts_uint8_float_and_single_images() -> None:
    digit = np.zeros((28, 28), dtype=np.uint8)
    digit[10, 10] = 255
    batch = as_images(digit)
    assert batch.shape == (1, 28, 28) and batch.dtype == np.float32 and batch.max() == 1.0
    assert np.array_equal(as_images(batch.astype(np.float64)), batch)
    with pytest.raises(ValueError, match="shape"):
        as_images(np.zeros((5, 27, 28)))
    with pytest.raises(ValueError, match="unknown preset 'nope'"):
        get_preset("nope")


def test_raw_model_matches_plain_knn(mnist_train, mnist_test) -> None:
    from knn_digits import KNNClassifier

    X, y = mnist_train[0][:3000], mnist_train[1][:3000]
    Q = mnist_test[0][:300]
    model = DigitModel("raw").fit(X, y)
    plain = KNNClassifier(3).fit(X.reshape(3000, -1), y)
    assert np.array_equal(model.predict(Q), plain.predict(Q.reshape(300, -1)))
    proba = model.predict_proba(Q)
    assert proba.shape == (300, 10) and np.allclose(proba.sum(axis=1), 1)
    distances, indices = model.kneighbors(Q[:5])
    assert indices.shape == (5, 3) and np.all(np.diff(distances, axis=1) >= 0)
    assert model.train_images_.shape == (3000, 28, 28)


def test_add_makes_an_exact_match_win(mnist_train) -> None:
    X, y = mnist_train[0][:1000], mnist_train[1][:1000]
    model = DigitModel("raw").fit(X, y)
    odd = mnist_train[0][1000].astype(np.float32) / 255  # not among the fitted digits
    wrong = (int(mnist_train[1][1000]) + 1) % 10
    model.add(odd, [wrong])
    assert model.n_neighbors == 3  # two of the three voters still carry the original label
    assert model.predict(odd).tolist() == [wrong]
    assert model.predict_proba(odd)[0, wrong] == 1.0
    distances, indices = model.kneighbors(odd)
    assert distances[0, 0] == 0 and model.train_labels_[indices[0, 0]] == wrong
    assert len(model.train_images_) == len(model.train_labels_) == 1001
    model.add(X[0], [wrong])  # a copy of a training digit with another label: the newest wins
    assert model.predict(X[0]).tolist() == [wrong]


def test_save_load_round_trip(tmp_path: Path, mnist_train) -> None:
    model = DigitModel("raw").fit(mnist_train[0][:500], mnist_train[1][:500])
    model.save(tmp_path / "m.npz")
    loaded = DigitModel.load(tmp_path / "m.npz")
    assert loaded.preset == model.preset
    probe = mnist_train[0][500:550]
    assert np.array_equal(loaded.predict_proba(probe), model.predict_proba(probe))


def test_load_model_caches_and_recovers_from_corrupt_cache(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("KNN_DIGITS_HOME", str(tmp_path))
    tiny = dataclasses.replace(get_preset("raw"), name="raw-test", n_neighbors=1)
    first = load_model(tiny)
    cached = list((tmp_path / "cache").glob("raw-test-*.npz"))
    assert len(cached) == 1 and tiny.key() in cached[0].name
    again = load_model(tiny)
    assert np.array_equal(again.train_labels_, first.train_labels_)
    cached[0].write_bytes(b"not an npz")
    assert load_model(tiny).predict(first.train_images_[:3]).tolist() == (
        first.train_labels_[:3].tolist()
    )
    changed = dataclasses.replace(tiny, n_neighbors=5)
    assert changed.key() != tiny.key()


def test_a_styled_presets_cache_key_follows_how_the_copies_are_drawn(monkeypatch) -> None:
    plain = get_preset("raw")
    styled = dataclasses.replace(plain, styles=((1, 0.5),))
    before = (plain.key(), styled.key())
    monkeypatch.setattr(styles, "VERSION", styles.VERSION + 1)
    assert plain.key() == before[0]  # no styled copies: nothing to redraw
    assert styled.key() != before[1]


def test_fields_added_later_leave_the_other_presets_keys_as_they_were() -> None:
    """A preset that leaves the fields in LATER_FIELDS unset keeps the cache key it had before
    they existed (its cache stays valid): a field enters the hash only when it is set."""
    import hashlib
    import json

    for preset in models.PRESETS.values():
        fields = dataclasses.asdict(preset)
        if all(fields[name] == getattr(models.Preset, name) for name in models.LATER_FIELDS):
            for name in models.LATER_FIELDS:
                del fields[name]
            if preset.styles:
                fields["styles_version"] = styles.VERSION
            text = json.dumps(fields, sort_keys=True)
            assert preset.key() == hashlib.sha256(text.encode()).hexdigest()[:12]
    plain = dataclasses.replace(get_preset("accurate"), more_angles=(), thicken=0.0)
    keys = {plain.key()}
    keys.add(dataclasses.replace(plain, more_angles=(12.0,)).key())
    keys.add(dataclasses.replace(plain, thicken=0.5).key())
    keys.add(dataclasses.replace(plain, drawing_neighbors=0, drawing_weight_power=0.0).key())
    keys.add(dataclasses.replace(plain, drawing_neighbors=7).key())
    keys.add(dataclasses.replace(plain, drawing_weight_power=1.0).key())
    assert len(keys) == 6  # ... and each, once set, does


def test_more_rotations_and_thicker_references_reach_the_second_stage(
    mnist_train, monkeypatch
) -> None:
    from knn_digits import rerank

    seen: list[dict] = []
    real = rerank.idm_candidates

    def spy(*args, **kwargs):
        seen.append(kwargs["distortions"])
        return real(*args, **kwargs)

    monkeypatch.setattr(rerank, "idm_candidates", spy)
    preset = dataclasses.replace(get_preset("best"), rerank=40, distorted=5)
    assert preset.more_angles and preset.thicken
    model = DigitModel(preset).fit(mnist_train[0][:500], mnist_train[1][:500])
    model.predict(mnist_train[0][500:503])
    assert seen[-1] == {
        "angles": (preset.rotate, -preset.rotate, preset.more_angles[0], -preset.more_angles[0]),
        "shears": (preset.shear, -preset.shear),
        "scales": (1 - preset.zoom, 1 + preset.zoom),
        "thicken": (preset.thicken,),
    }


def test_presets_are_data() -> None:
    for name, preset in models.PRESETS.items():
        assert preset.name == name and preset.description
    assert models.DEFAULT_PRESET in models.PRESETS


@pytest.mark.parametrize("distance", ["tangent", "idm"])
def test_second_stage_reranks_on_prepared_pixels_and_keeps_taught_digits(
    mnist_train, distance: str
) -> None:
    preset = dataclasses.replace(
        get_preset("fast"), name="two-stage", rerank=12, rerank_distance=distance, n_neighbors=3
    )
    X, y = mnist_train[0][:2000], mnist_train[1][:2000]
    model = DigitModel(preset).fit(X, y)
    probe = mnist_train[0][2000:2100]
    distances, indices = model.kneighbors(probe)
    assert distances.shape == indices.shape == (100, 3)
    assert np.all(np.diff(distances, axis=1) >= 0) and np.all(distances > 0)
    assert np.mean(model.predict(probe) == mnist_train[1][2000:2100]) > 0.85
    wrong = (int(mnist_train[1][2000]) + 1) % 10
    model.add(probe[0], [wrong])  # the taught digit lands in the second stage's pixels too
    distances, indices = model.kneighbors(probe[:1])
    assert distances[0, 0] == 0 and indices[0, 0] == 2000
    assert model.predict(probe[:1]).tolist() == [wrong]
    model.fit(mnist_train[0][3000:3500], mnist_train[1][3000:3500])  # a refit forgets it all
    distances, indices = model.kneighbors(mnist_train[0][3000])
    assert distances[0, 0] == 0 and indices[0, 0] == 0


def test_unknown_second_stage_is_refused() -> None:
    with pytest.raises(ValueError, match="rerank_distance must be one of idm, tangent"):
        dataclasses.replace(get_preset("fast"), rerank_distance="hausdorff")


def test_cells_with_every_cell_probed_give_the_exact_candidates(mnist_train) -> None:
    X, y = mnist_train[0][:1500], mnist_train[1][:1500]
    queries = mnist_train[0][1500:1520]
    exact = DigitModel("fast").fit(X, y)
    probed = DigitModel(dataclasses.replace(exact.preset, cells=16, probes=16)).fit(X, y)
    np.testing.assert_array_equal(probed.kneighbors(queries)[1], exact.kneighbors(queries)[1])
    probed.add(queries[:1], [7])
    assert probed.kneighbors(queries[:1])[1][0, 0] == 1500  # the added digit is found


@pytest.mark.parametrize("cascade_margin", [0.0, 1.3])  # the full stage (the app), the cascade
def test_idm_abandoning_leaves_the_neighbours_as_the_plain_stage_has_them(
    mnist_train, monkeypatch: pytest.MonkeyPatch, cascade_margin: float
) -> None:
    X, y = mnist_train[0][:3000], mnist_train[1][:3000]
    queries = mnist_train[0][3000:3060]
    preset = dataclasses.replace(
        get_preset("accurate"), rerank=150, distorted=10, cascade_margin=cascade_margin
    )
    model = DigitModel(preset).fit(X, y)
    asked = []
    idm_candidates = models.rerank.idm_candidates

    def plain(*args, nearest=None, **kwargs):  # type: ignore[no-untyped-def]
        asked.append(nearest)
        return idm_candidates(*args, **kwargs)

    got = model.kneighbors(queries, 3)
    monkeypatch.setattr(models.rerank, "idm_candidates", plain)
    expected = model.kneighbors(queries, 3)
    assert set(asked) == {3}  # every IDM call could abandon, and the plain run did not
    np.testing.assert_array_equal(got[1], expected[1])
    np.testing.assert_array_equal(got[0], expected[0])


def test_for_drawings_votes_with_the_drawing_fields_on_the_same_fitted_data(mnist_train) -> None:
    images, labels = mnist_train[0][:600], mnist_train[1][:600]
    preset = Preset("toy", "", n_neighbors=1, drawing_neighbors=5, drawing_weight_power=2.0)
    model = DigitModel(preset).fit(images, labels)
    drawn = model.for_drawings()
    assert (drawn.n_neighbors, drawn.preset.weight_power) == (5, 2.0)
    assert drawn.train_images_ is model.train_images_ and model.n_neighbors == 1
    refit = DigitModel(dataclasses.replace(preset, n_neighbors=5, weight_power=2.0))
    queries = mnist_train[0][600:700]
    np.testing.assert_array_equal(
        drawn.predict_proba(queries), refit.fit(images, labels).predict_proba(queries)
    )
    plain = DigitModel("raw").fit(images, labels)
    assert plain.for_drawings() is plain  # no drawing fields: MNIST's vote
