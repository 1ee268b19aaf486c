"""The page: ``build_demo(service)`` lays out the UI and wires each event to a handler;
``launch`` serves it.

A drawing's answer lands in hidden twins of the outputs, tagged with the drawing's number, and
the page copies it onto the visible ones only while the canvas still holds that drawing
(``PUBLISH_IF_CURRENT_JS``): the pen overtaking an answer never shows a stale one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import gradio as gr

from knn_digits.drawing_pad import DrawingPad
from knn_digits.models import DEFAULT_PRESET, PRESETS, load_model
from knn_digits.store import SampleStore, default_store_path
from knn_digits.visitors import Limits, Visitors

from . import answers
from .answers import CUT_HEIGHT, answer_as_files, handle_classify_image, handle_drawing
from .handlers import (
    handle_about,
    handle_delete,
    handle_export,
    handle_neighbour_columns,
    handle_preset,
    handle_select_sample,
    handle_teach,
    handle_use_samples,
    sample_gallery,
)
from .service import DigitService, VisitorService

CANVAS = (420, 420)  # (width, height): room for a finger, and for a number of 3–4 digits
BRUSH_RADIUS = 9  # a felt pen on this canvas; the pipeline redraws any width anyway
QUEUE_STATUS_S = 1.0  # how often a waiting request hears its place in the queue


def build_demo(service: DigitService) -> gr.Blocks:
    """The UI around ``service``: draw/upload → label, neighbours, the 28×28 seen; teach."""
    gr.set_static_paths([answers.IMAGE_DIR])  # the answers' images, served where they are

    def bind(handler: Callable[..., Any]) -> Callable[..., Any]:
        # gradio passes the request first (it names the session); the handler gets the
        # service as this session's visitor sees it (in local mode, the service itself).
        def call(request: gr.Request, *args: Any) -> Any:
            return handler(service.for_visitor(request.session_hash), *args)

        call.__doc__ = handler.__doc__  # shown in the API page
        return call

    with gr.Blocks(title="knn-digits") as demo:
        gr.Markdown(
            "# Handwritten digits, read by k nearest neighbours\n"
            "Draw a digit — or a number — and see which MNIST digits it is closest to. "
            "If the answer is wrong, teach it the right one.",
            elem_id="intro",
        )
        with gr.Tab("Classify"), gr.Row():
            with gr.Column(scale=1):
                with gr.Tab("Draw"):
                    pad = DrawingPad(size=CANVAS, brush_radius=BRUSH_RADIUS, elem_id="sketchpad")
                    classify = gr.Button("Classify", elem_id="classify", variant="primary")
                with gr.Tab("Upload"):
                    upload = gr.File(
                        elem_id="upload",
                        label="A photo or scan of a digit on paper, or an MNIST-style image",
                        file_types=["image"],
                        type="filepath",
                    )
                # Right under the canvas, so a phone shows the drawing and its answer together.
                prediction = gr.Label(elem_id="prediction", label="Prediction", num_top_classes=3)
                with gr.Accordion("Teach it", open=False):
                    correct = gr.Radio(
                        [str(d) for d in range(10)], label="The right digit", elem_id="correct"
                    )
                    teach = gr.Button("Teach", elem_id="teach")
                    notice = gr.Markdown(elem_id="notice")
                with gr.Accordion("Your samples and settings", open=False):
                    samples = gr.Gallery(
                        sample_gallery(service),
                        elem_id="samples",
                        label="Your samples (click one to select it)",
                        columns=6,
                        fit_columns=False,
                        allow_preview=False,
                        height="auto",
                    )
                    with gr.Row():
                        sample_id = gr.Number(
                            None, label="Sample #", precision=0, elem_id="sample_id"
                        )
                        delete = gr.Button("Delete", elem_id="delete")
                    use_samples = gr.Checkbox(
                        service.store.enabled if service.store is not None else True,
                        label="Use my samples",
                        elem_id="use_samples",
                        interactive=service.store is not None or service.public,
                    )
                    export = gr.Button("Export as IDX", elem_id="export")
                    exported = gr.File(
                        label="Exported files", file_count="multiple", interactive=False, height=100
                    )
                    preset = gr.Dropdown(
                        list(PRESETS), value=service.preset, label="Preset", elem_id="preset"
                    )
            with gr.Column(scale=1):
                explanation = gr.Markdown(elem_id="explanation")
                seen = gr.Image(
                    elem_id="seen",
                    label="What the model sees (28×28)",
                    type="numpy",
                    interactive=False,
                    height=240,
                    format="png",
                )
                neighbours = gr.Gallery(
                    elem_id="neighbours",
                    label="Nearest training digits",
                    columns=service.voters,
                    fit_columns=False,
                    allow_preview=False,
                    height=300,
                    format="png",
                )
                segmentation = gr.Image(
                    elem_id="segmentation",
                    label="How the drawing was cut into digits",
                    type="numpy",
                    interactive=False,
                    height=CUT_HEIGHT + 60,
                    format="png",
                )

        with gr.Tab("About the model"):
            about = gr.Markdown(elem_id="about")
            figures = gr.Gallery(
                elem_id="about_figures",
                label="Evaluation report",
                columns=1,
                fit_columns=False,
                allow_preview=True,
                height="auto",
            )

        results = [prediction, neighbours, seen, explanation, segmentation]
        # A drawing's answer lands in hidden twins first, tagged with the drawing's number; the
        # page shows it only if the canvas still holds that drawing (PUBLISH_IF_CURRENT_JS).
        staged = [
            gr.Label(visible=False, num_top_classes=3),
            gr.Gallery(visible=False, format="png"),
            gr.Image(visible=False, type="numpy", format="png"),
            gr.Markdown(visible=False),
            gr.Image(visible=False, type="numpy", format="png"),
        ]
        answered = gr.Number(visible=False, precision=0)
        publish: dict[str, Any] = {
            "fn": None,
            "inputs": [pad, answered, *staged],
            "outputs": results,
            "js": PUBLISH_IF_CURRENT_JS,
            "show_progress": "hidden",
        }
        read_drawing = bind(answer_as_files(handle_drawing))
        classify.click(read_drawing, pad, [*staged, answered], api_name="classify").success(
            **publish
        )
        pad.change(
            read_drawing,
            pad,
            [*staged, answered],
            api_visibility="private",
            trigger_mode="always_last",
            show_progress="hidden",
        ).success(**publish)
        upload.upload(
            bind(answer_as_files(handle_classify_image)),
            upload,
            results,
            api_name="classify_image",
        )
        teach.click(bind(handle_teach), [pad, correct], [notice, samples], api_name="teach")

        def select_sample(event: gr.SelectData, request: gr.Request) -> float | None:
            return handle_select_sample(service.for_visitor(request.session_hash), event.index)

        samples.select(select_sample, None, sample_id, api_visibility="private")
        delete.click(bind(handle_delete), sample_id, [notice, samples], api_name="delete_sample")
        use_samples.input(bind(handle_use_samples), use_samples, notice, api_name="use_samples")
        export.click(bind(handle_export), None, [notice, exported], api_name="export_samples")
        preset.input(bind(handle_preset), preset, notice, api_name="preset").then(
            bind(handle_about), None, [about, figures], api_visibility="private"
        ).then(bind(handle_neighbour_columns), None, neighbours, api_visibility="private")
        # The same for everyone: no visitor is made (or looked up) for it.
        about_model = functools.partial(handle_about, service)
        demo.load(about_model, None, [about, figures], api_visibility="private")
        if service.visitors is not None:
            _remember_visitors(demo, service.visitors, samples, use_samples)
    return demo


def _remember_visitors(
    demo: gr.Blocks,
    visitors: Visitors[VisitorService],
    samples: gr.Gallery,
    use_samples: gr.Checkbox,
) -> None:
    """A public page keeps its visitor's token in the browser's local storage; on every load
    the session becomes that visitor again (or a new one) and shows their samples."""
    # BrowserState encrypts what it stores, but the browser holds the key: it is no secret.
    # A fixed one keeps the token readable after the server restarts.
    saved = gr.BrowserState(None, storage_key="knn-digits-visitor", secret="knn-digits")

    def restore(token: Any, request: gr.Request) -> tuple[str, list[Any], bool]:
        view, token = visitors.restore(request.session_hash, token)
        assert view.store is not None
        return token, sample_gallery(view), view.store.enabled

    demo.load(restore, saved, [saved, samples, use_samples], api_visibility="private")


# Shows a drawing's staged answer only if the canvas still holds that drawing; otherwise leaves
# every output as it is ({"__type__": "update"} changes nothing, like gr.skip()): the answer
# for the newer drawing is on its way (the pad's change event always runs for the last one).
# The canvas's data-answered attribute then says which drawing the page shows the answer for.
PUBLISH_IF_CURRENT_JS = """
(drawing, answered, ...answer) => {
  const current = drawing && typeof drawing === "object" ? drawing.version ?? null : null;
  if (current !== answered) return answer.map(() => ({__type__: "update"}));
  const canvas = document.querySelector("#sketchpad canvas");
  if (canvas) canvas.dataset.answered = String(answered ?? 0);
  return answer;
}
"""

# The digits the model saw and its neighbours come at 28×28: enlarged here, pixels kept square.
# A phone (narrow screen): a smaller title, no intro, so the canvas and the answer under it fit.
PAGE_CSS = """
#seen img, #neighbours img { image-rendering: pixelated; }
#seen img { width: 100%; height: 100%; object-fit: contain; }
@media (max-width: 640px) {
  #intro h1 { font-size: 1.3rem; margin: 0; }
  #intro p { display: none; }
}
"""


def launch(
    *,
    host: str = "127.0.0.1",
    port: int = 7860,
    preset: str | None = None,
    store_path: str | None = None,
    references: Sequence[str] = (),
    public: bool = False,
    limits: Limits | None = None,
) -> None:
    """Serve the app until interrupted (``knn-digits app``); ``references`` as in load_model.

    ``public``: serve strangers, each with their own samples, within ``limits``
    (:mod:`knn_digits.visitors`).
    """
    store = SampleStore(default_store_path(store_path))
    loader = functools.partial(load_model, references=references)
    service = DigitService(
        loader(preset or DEFAULT_PRESET), store, loader=loader, public=public, limits=limits
    )
    demo = build_demo(service)
    # Two workers for two cores; a 50 MB cap keeps absurd uploads from being stored at all.
    # Places in the queue go out once a second, not to every waiting request each time one
    # starts (Gradio's "auto": with 100 waiting, ~5,000 messages for a burst of 100).
    demo.queue(default_concurrency_limit=2, status_update_rate=QUEUE_STATUS_S).launch(
        server_name=host, server_port=port, max_file_size="50mb", css=PAGE_CSS
    )
