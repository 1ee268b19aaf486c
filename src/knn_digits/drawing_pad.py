"""A drawing pad for the Gradio app: a plain ``<canvas>`` that sends its strokes, not PNG layers.

Gradio's Sketchpad draws through WebGL and, on a machine without a GPU, follows the pen at
~200 ms per pointer move; it sends three full-size PNG layers about a second after each stroke.
:class:`DrawingPad` is a ``gr.HTML`` whose script (``drawing_pad.js``) paints on a 2D canvas at
once and, as each stroke ends, sets its value to the numbered strokes
(:mod:`knn_digits.canvas`). Its ``preprocess`` turns either that or a Sketchpad value (what
programs send through ``gradio_client``: ``{"background", "layers", "composite"}``) into the
Sketchpad value the handlers already read, plus the drawing's ``version`` when it has one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

import gradio as gr
import numpy as np
from gradio import component_meta
from gradio.data_classes import GradioModel

from knn_digits.canvas import is_stroke_drawing, strokes_to_ink
from knn_digits.errors import ImageError

__all__ = ["DrawingPad"]

_TEMPLATE = """
<div class="drawing-pad">
  <div class="tools" role="toolbar" aria-label="Drawing tools">
    <button type="button" data-action="brush" aria-label="Brush">Pen</button>
    <button type="button" data-action="erase" aria-label="Erase">Eraser</button>
    <button type="button" data-action="undo" aria-label="Undo">Undo</button>
    <button type="button" data-action="redo" aria-label="Redo">Redo</button>
    <button type="button" data-action="clear" aria-label="Clear canvas">Clear</button>
  </div>
  <canvas width="WIDTH" height="HEIGHT" data-radius="RADIUS"
    aria-label="Draw a digit here"></canvas>
</div>
"""

_CSS = """
.drawing-pad { display: flex; flex-direction: column; gap: 6px; }
.tools { display: flex; flex-wrap: wrap; gap: 4px; }
.tools button { padding: 0 7px; height: 32px; border-radius: 6px; font: inherit;
  font-size: 14px; font-weight: normal;
  border: 1px solid var(--border-color-primary); background: var(--background-fill-primary); }
.tools button.selected { border-color: var(--color-accent); background: var(--color-accent-soft); }
.tools button:disabled { opacity: 0.4; }
canvas { width: 100%; max-width: MAXWIDTHpx; max-height: 48vh; aspect-ratio: ASPECT;
  object-fit: contain; align-self: center; touch-action: none; cursor: crosshair;
  background: #ffffff; border: 1px solid var(--border-color-primary); border-radius: 8px; }
"""


@contextmanager
def _no_stub_files() -> Iterator[None]:
    """Gradio writes a ``.pyi`` stub beside the source of every component class it sees defined
    (for its own components' event methods); an installed package must not write into itself,
    and this class adds no events."""
    write_stub = component_meta.create_or_modify_pyi
    component_meta.create_or_modify_pyi = lambda *args: None  # type: ignore[assignment]
    try:
        yield
    finally:
        component_meta.create_or_modify_pyi = write_stub


with _no_stub_files():

    class DrawingPad(gr.HTML):
        """A canvas of ``size`` (width, height) pixels with a round brush of ``brush_radius``.

        The value a handler receives is a Sketchpad value with numpy RGBA layers
        (``knn_digits.preprocess.sketch_to_ink`` reads it), with ``"version"`` added when it came
        from the pad itself; ``None`` when nothing was sent.
        """

        def __init__(
            self, *, size: tuple[int, int], brush_radius: float, elem_id: str, **kwargs: Any
        ) -> None:
            width, height = size
            template = (
                _TEMPLATE.replace("WIDTH", str(width))
                .replace("HEIGHT", str(height))
                .replace("RADIUS", str(brush_radius))
            )
            css = _CSS.replace("MAXWIDTH", str(width)).replace("ASPECT", f"{width} / {height}")
            script = resources.files("knn_digits").joinpath("drawing_pad.js").read_text("utf-8")
            # Programs keep sending Sketchpad values: Gradio's own Sketchpad decodes them.
            self._sketchpad = gr.Sketchpad(type="numpy", image_mode="RGBA", render=False)
            super().__init__(
                None,
                html_template=template,
                css_template=css,
                js_on_load=script,
                elem_id=elem_id,
                **kwargs,
            )

        def preprocess(self, payload: Any) -> dict[str, Any] | None:  # type: ignore[override]
            if payload is None or payload == "":
                return None
            if is_stroke_drawing(payload):
                try:
                    ink = strokes_to_ink(payload)
                except ImageError as exc:
                    raise gr.Error(str(exc)) from None
                layer = np.zeros((*ink.shape, 4), np.uint8)
                layer[:, :, 3] = np.rint(ink * 255).astype(np.uint8)
                layers = [layer] if ink.any() else []
                version = int(payload.get("version") or 0)
                return {"background": None, "layers": layers, "composite": None, "version": version}
            if not isinstance(payload, dict):
                raise gr.Error("Expected the pad's strokes or a Sketchpad value.")
            data = self._sketchpad.data_model
            assert issubclass(data, GradioModel)
            value = self._sketchpad.preprocess(data.model_validate(payload))
            return dict(value) if value is not None else None

        def api_info(self) -> dict[str, Any]:
            info = dict(self._sketchpad.api_info())
            info["description"] = (
                "a Sketchpad value {background, layers, composite}, or the pad's strokes "
                "{version, width, height, strokes: [{points: [x0, y0, ...], radius, erase}]}"
            )
            return info

        def example_payload(self) -> Any:
            return self._sketchpad.example_payload()

        def example_value(self) -> Any:
            return self._sketchpad.example_value()
