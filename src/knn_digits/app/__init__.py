"""The Gradio app: draw a digit (or a number), see it classified and why, teach it.

``build_demo(service)`` lays out the UI around a :class:`DigitService` — the model, the taught
samples and a lock — and wires events to the ``handle_*`` functions. Those are plain
functions of a service and the components' values, so tests call them without a server.

Contract for automation (issue 4): element ids ``sketchpad`` (holding the drawing ``<canvas>``),
``classify``, ``prediction``, ``neighbours``, ``upload``; API ``/classify`` (a Sketchpad value or
the pad's strokes, :mod:`knn_digits.canvas`; the drawing's number comes back last),
``/classify_image`` (an image file) and ``/teach`` (a drawing, digit "0"–"9"); each returns its
main result first. The pad (:mod:`knn_digits.drawing_pad`) sends each finished stroke at once;
an answer is shown only while the canvas still holds the drawing it was asked for.
A number is cut into digits by recognition-driven segmentation (the model scores the ways to
cut it, :mod:`knn_digits.scoring`); ``segmentation`` shows the cut it chose.

In public mode (``knn-digits app --public``) every handler gets the service as the calling
visitor sees it (:meth:`DigitService.for_visitor`, by gradio's session): a
:class:`VisitorService` with their own samples on top of the shared model. Who is who, and the
limits: :mod:`knn_digits.visitors`.

The package by concept: :mod:`.service` (the model, the samples, visitors' views),
:mod:`.answers` (classifying, and the answer as shown), :mod:`.handlers` (teaching, samples,
preset, About), :mod:`.layout` (the page, its events, ``launch``).

Works offline: analytics and telemetry are switched off before gradio is imported, and the
default theme loads nothing from outside.
"""

from __future__ import annotations

import os

# huggingface_hub and gradio read these at import time (../shared/BROWSER_TESTING.md).
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
if any(
    os.environ.get(name)
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")
):
    # Otherwise launch() fails checking its own URL through the proxy.
    _no_proxy = os.environ.get("NO_PROXY", os.environ.get("no_proxy", ""))
    os.environ["NO_PROXY"] = ",".join(filter(None, [_no_proxy, "127.0.0.1", "localhost"]))

from .answers import (  # noqa: E402
    answer_as_files,
    handle_classify,
    handle_classify_image,
    handle_drawing,
)
from .handlers import (  # noqa: E402
    handle_about,
    handle_delete,
    handle_export,
    handle_neighbour_columns,
    handle_preset,
    handle_select_sample,
    handle_teach,
    handle_use_samples,
)
from .layout import CANVAS, build_demo, launch  # noqa: E402
from .service import DigitService, Reading, VisitorService, with_variants  # noqa: E402

__all__ = [
    "CANVAS",
    "DigitService",
    "Reading",
    "VisitorService",
    "answer_as_files",
    "build_demo",
    "handle_about",
    "handle_classify",
    "handle_classify_image",
    "handle_delete",
    "handle_drawing",
    "handle_export",
    "handle_neighbour_columns",
    "handle_preset",
    "handle_select_sample",
    "handle_teach",
    "handle_use_samples",
    "launch",
    "with_variants",
]
