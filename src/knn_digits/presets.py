"""Named presets: everything that defines a model, as plain values that make its cache key.

A preset says which feature steps (deskew, blur, PCA), which k, metric and weighting, and
optionally a second stage re-ranking the first stage's nearest candidates (tangent distance or
the image distortion model) with distorted references, a cascade, styled references. The
numbers were chosen on the validation split (``benchmarks/tune.py``, ``benchmarks/best.py``,
``docs/validation.md``, ``docs/best.md``), never on the test set. :mod:`knn_digits.models`
applies a preset to images.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

from . import styles

__all__ = ["DEFAULT_PRESET", "LATER_FIELDS", "PRESETS", "RERANK_DISTANCES", "Preset", "get_preset"]


RERANK_DISTANCES = ("idm", "tangent")
#: Fields hashed into a preset's key only when set, so presets that leave them at their
#: defaults keep the cache keys they had before the fields existed.
LATER_FIELDS = ("more_angles", "thicken", "drawing_neighbors", "drawing_weight_power")


@dataclass(frozen=True)
class Preset:
    """Everything that defines a model, as plain values (they make its cache key)."""

    name: str
    description: str
    n_neighbors: int = 3  # 3 beats 1 on raw pixels: 2.83 % against 3.09 %
    metric: str = "euclidean"
    p: float = 2  # Minkowski exponent, used when metric == "minkowski"
    weights: str = "uniform"
    weight_power: float = 1.0  # with weights="distance" a voter counts 1/d^weight_power
    # Feature steps, applied alike to training and query digits (knn_digits.features).
    deskew: bool = False  # shear upright, centre by mass: 5.0 → 2.4 % for plain k-NN
    blur: float = 0.0  # Gaussian sigma in pixels; 0 = none
    pca: int = 0  # principal components kept; 0 = all 784 pixels
    # With a second stage, its candidates may come from an approximate first stage: only the
    # references in the `probes` nearest of `cells` k-means cells (knn_digits.neighbors.cells).
    cells: int = 0  # 0 = exact first stage
    probes: int = 0
    # Second stage: a finer distance re-ranks the first stage's `rerank` nearest candidates.
    rerank: int = 0  # candidates per query; 0 = no second stage
    rerank_distance: str = "idm"  # "idm" (knn_digits.rerank) or "tangent" (knn_digits.tangent)
    tangent_sigma: float = 1.0  # Gaussian sigma of the smoothing tangents are taken from
    distorted: int = 0  # IDM only: the nearest this many are also tried distorted, in pairs ±:
    rotate: float = 0.0  # rotations by ± this many degrees
    shear: float = 0.0  # horizontal shears by ± this (px per px)
    zoom: float = 0.0  # scalings by 1 ± this
    more_angles: tuple[float, ...] = ()  # and rotations by ± each of these degrees
    thicken: float = 0.0  # and a copy drawn thicker, mixed in by this share (rerank.thicken)
    # IDM only, a cascade: tangent distance to the first stage's `cascade_tangents` nearest;
    # where its nearest other digit is more than `cascade_margin` times as far as its nearest,
    # IDM compares only the `cascade_idm` tangent-nearest, the `cascade_distorted` IDM-nearest
    # of them also distorted, and keeps that answer if its nearest is within `cascade_far`
    # (0 = no limit); every other digit gets the full second stage. 0 = no cascade.
    cascade_margin: float = 0.0
    cascade_tangents: int = 20
    cascade_idm: int = 8
    cascade_distorted: int = 0
    cascade_far: float = 0.0
    # Probabilities: vote shares smoothed by this strength (knn_digits.calibration); decisions
    # are unchanged. Fitted on validation by benchmarks/calibrate.py.
    smoothing: float = 0.0
    # References in styles MNIST's writers rarely used (knn_digits.styles): (label, styled
    # copies per training digit of that label) pairs, synthesized at fit time.
    styles: tuple[tuple[int, float], ...] = ()
    # Digits from the drawing pipeline (drawings, uploaded images; DigitModel.for_drawings)
    # sit farther from every reference than MNIST's own digits do, and more voters read them
    # better: k and weight power for those, 0 = as for MNIST digits.
    drawing_neighbors: int = 0
    drawing_weight_power: float = 0.0

    def __post_init__(self) -> None:
        # JSON (the cache file) turns the pairs into lists: keep them tuples, hashable and equal.
        object.__setattr__(self, "styles", tuple((int(a), float(b)) for a, b in self.styles))
        object.__setattr__(self, "more_angles", tuple(float(a) for a in self.more_angles))
        if self.rerank_distance not in RERANK_DISTANCES:
            raise ValueError(
                f"rerank_distance must be one of {', '.join(RERANK_DISTANCES)}, "
                f"got {self.rerank_distance!r}"
            )

    def for_drawings(self) -> Preset:
        """This preset as it votes on digits from the drawing pipeline."""
        return dataclasses.replace(
            self,
            n_neighbors=self.drawing_neighbors or self.n_neighbors,
            weight_power=self.drawing_weight_power or self.weight_power,
        )

    def key(self) -> str:
        """A short hash of every field (and of how styled copies are drawn, if it has any):
        a changed preset never reuses an old cache."""
        fields = dataclasses.asdict(self)
        for field in dataclasses.fields(self):  # fields added after caches were written
            if field.name in LATER_FIELDS and fields[field.name] == field.default:
                del fields[field.name]
        if self.styles:
            fields["styles_version"] = styles.VERSION
        text = json.dumps(fields, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


# For MNIST alone, as slow as it needs to be (docs/best.md, benchmarks/best.py): the image
# distortion model for every digit, no styled references (they cost MNIST digits), no cascade.
# Its figures (docs/best.md) were measured with exactly these values; `accurate` is this recipe
# plus its styles and cascade, so a change here moves both (tests/test_presets.py pins best's
# key). 1000 candidates, not 200, and k = 3 (docs/validation.md, "Candidates for drawn
# digits"): real writers' drawn digits often have their right neighbours far down the PCA
# ranking (tune writers' pen misreads 302 → 245 of 7,494); MNIST validation 49 → 41. The 30
# nearest also rotated ±12° and drawn thicker were found here first; taken by `accurate` too,
# with its styles and cascade: MNIST validation 45 → 42 errors, tune writers' pen digits
# 234 → 227 and 230 → 225 misreads (two halves of 3,747), scans 41 → 38 and 42 → 40
# (docs/real_handwriting.md, "best's distortions").
_BEST = Preset(
    "best",
    "deskew + PCA-50 → 1000 candidates re-ranked by IDM for every digit, 30 nearest "
    "also distorted (±8°, ±12°, shears, scales, thicker strokes)",
    n_neighbors=3,
    weights="distance",
    weight_power=4.0,
    deskew=True,
    pca=50,
    rerank=1000,
    distorted=30,
    rotate=8.0,
    more_angles=(12.0,),
    shear=0.25,
    zoom=0.1,
    thicken=0.5,
)

PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset("raw", "raw pixels, Euclidean, k=3: the textbook baseline"),
        # Validation (docs/validation.md): 1.03 %; PCA-30 and 20 candidates keep it in budget.
        # Not the default: candidates from the 32 nearest of 512 k-means cells (cells=512,
        # probes=32; benchmarks/fast_cells.py) gave 103 validation errors as the exact search
        # does, but 1.21 % on the test set against 1.19 % (the bound is 1.20 %).
        Preset(
            "fast",
            "deskew + blur + PCA-30 → 20 candidates re-ranked by tangent distance, k=4",
            n_neighbors=4,
            deskew=True,
            blur=0.5,
            pca=30,
            rerank=20,
            rerank_distance="tangent",
            tangent_sigma=0.75,
        ),
        # Validation (docs/validation.md): 0.48 %; 0.49 % with the styled references; today
        # 45 errors of 10,000 (tests/test_presets.py). `best`'s recipe, plus:
        dataclasses.replace(
            _BEST,
            name="accurate",
            description="deskew + PCA-50 → 1000 candidates re-ranked by IDM, 30 nearest also "
            "distorted (±8°, ±12°, shears, scales, thicker strokes; clear digits: IDM on their 8 "
            "tangent-nearest only)",
            # benchmarks/cascade.py (validation, with the styles): a digit whose nearest other
            # class is more than 1.3× as far by tangent distance gets IDM on its 8
            # tangent-nearest only, the nearest also distorted, and keeps that answer if its
            # nearest is within 32.2 (the 96th percentile): 90 % of the digits. 48 errors
            # against the full stage's 49 (1 lost, 2 won), 52 IDM comparisons per digit
            # instead of 380. The app reads with the full stage (knn_digits.scoring).
            cascade_margin=1.3,
            cascade_idm=8,
            cascade_distorted=1,
            cascade_far=32.2,
            # benchmarks/calibrate.py (fitted on MNIST validation + the tune writers' drawings),
            # re-fitted when drawings got their own vote (below): ECE on the confirm writers'
            # drawings 1.46 → 0.93 %, on MNIST validation 0.52 → 0.81 % (k = 3 for both had
            # 0.001175, k = 4 0.00096).
            smoothing=0.0007791,
            # knn_digits.styles: flagged 1s, half as many as MNIST has 1s, and 9s with a hooked
            # tail, 0.4 as many as it has 9s. Tune writers' pen digits: thin 94.7 → 96.1 %,
            # medium 95.3 → 96.7 % (1→7 and 9→3 misreads halved); MNIST validation on its
            # 1s, 2s, 4s, 7s and 9s 25 → 26 errors. Later crossed 7s, 0.3 per 7 (tune writers' pen
            # misreads with them alone: writers 2, 4, …, 20, where it was chosen, 340 → 326, the
            # odd ones 87 → 83; 0.5 per 7 gave 323 / 81), and slashed zeros, 0.3 per 0 (the dev
            # writers write none: pen-drawn "Ø"s read 0 59 → 150 of 150). Both: tune pen misreads
            # 427 → 401 of 14,988, MNIST validation 42 → 44 (docs/real_handwriting.md). Then
            # narrow 4s whose right stem starts low, 0.3 per 4 (styles.narrow_four; drawn last):
            # tune pen misreads 401 → 337 (4→6 88 → 29; even writers, where it was chosen,
            # 322 → 257, odd 79 → 80; 1→4 13 → 23), tune scans 75 → 73 of 3,868, MNIST
            # validation 44 → 45; 0.2 per 4 gave 341 and 45.
            styles=((0, 0.3), (1, 0.5), (4, 0.3), (7, 0.3), (9, 0.4)),
            # Drawings and uploaded images vote with 5 neighbours weighted 1/d³, not MNIST's 3
            # by 1/d⁴ (benchmarks: real_handwriting.py). Chosen on the tune writers 2, 4, …, 20
            # (pen misreads 322 → 310 over three brushes); the odd ones 79 → 72, their scans
            # 75 → 70 of 3,868. MNIST digits are read as before.
            drawing_neighbors=5,
            drawing_weight_power=3.0,
        ),
        _BEST,
    )
}
# The app's default: the most accurate preset that reads one drawing well inside 100 ms (~10 ms
# on two idle cores) and reads people's own handwriting best (README, "Real handwriting").
DEFAULT_PRESET = "accurate"


def get_preset(preset: str | Preset) -> Preset:
    """The preset of that name (or the preset itself), with a helpful error for a typo."""
    if isinstance(preset, Preset):
        return preset
    try:
        return PRESETS[preset]
    except KeyError:
        raise ValueError(
            f"unknown preset {preset!r}; choose one of: {', '.join(PRESETS)}"
        ) from None
