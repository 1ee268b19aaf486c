"""How the app feels: pen, answer, freshness, server load and the phone, as issue 10 measures them.

Starts ``knn-digits app`` (default preset) in a subprocess and measures, tried as a new user
would, in headless Debian chromium driven by Playwright (software WebGL, a stand-in for a modest
laptop or phone) and through ``gradio_client``:

- pen: seconds for the canvas to follow a stroke of 8 pointer moves (p50, p95);
- answer: ms from the last pointer-up to the answer for the complete drawing, nothing clicked;
- stale: two-stroke digits in which a label that is not the final one shows after the last
  pointer-up (a flashing wrong answer), without clicking and with Classify clicked at once;
- server: one drawing through ``gradio_client`` (p50), and 50 simultaneous users × 2 drawings
  (all answered? right? p50, p95), sent as PNG composites by default clients, by clients
  sharing one SSL context, and as the pad's strokes; where a request's time goes (Gradio's
  profiler, CPU time of the server and of the clients, and the CPU floor that sets on two
  cores) and what a Gradio app that does nothing costs, alone and under the same load
  (``app_server.py``);
- phone (390×844, touch through CDP): canvas and answer visible together without scrolling, a
  touch stroke's time, the answer's latency and whether it is right.

Works on the Gradio Sketchpad (before issue 10) and on the plain canvas (after).
Run: ``python benchmarks/app_latency.py [--trials 8] [--users 50] [--preset accurate]``
(``--skip-browser`` for the server's figures alone).
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse  # noqa: E402
import datetime  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from app_server import (  # noqa: E402
    CANVAS,
    floor_figures,
    running_app,
    server_figures,
)

CHROMIUM = "/usr/bin/chromium"
# The launch flags ../shared/BROWSER_TESTING.md prescribes (tests/e2e/conftest.py uses them too).
CHROMIUM_ARGS = (
    "--headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
    "--disable-background-networking --disable-component-update --disable-sync"
).split()
LABEL = '#prediction [data-testid="label-output-value"]'
SETTLE_S = 2.5  # no label change for this long after the last pointer-up: the answer is final

Point = tuple[float, float]
# Two-stroke digits whose first stroke alone reads differently; canvas pixels (420×420).
TWO_STROKES: dict[str, list[list[Point]]] = {
    "7": [[(300, 90), (250, 200), (190, 340)], [(120, 90), (300, 90)]],  # stem (a 1), then bar
    "4": [[(170, 70), (120, 250), (320, 250)], [(260, 120), (255, 370)]],  # the L, then the stem
    "5": [[(150, 90), (140, 190), (260, 200), (280, 300), (140, 340)], [(150, 90), (290, 90)]],
}
# A stroke of 8 pointer moves (9 points) for the pen test: a zigzag across the middle.
PEN_STROKE = [(60 + 37.5 * i, 180 + (40 if i % 2 else -40)) for i in range(9)]
PHONE_ONE = [[(215, 70), (212, 150), (208, 230), (205, 350)]]


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, float), q)) if values else float("nan")


# --------------------------------------------------------------------------------------------
# The browser
# --------------------------------------------------------------------------------------------

# Records every label the page shows (time, text) and every pointer-up, in page time.
RECORDER_JS = """
() => {
  window.__labels = []; window.__ups = [];
  const read = () => {
    const el = document.querySelector('LABEL');
    const text = el ? el.textContent.trim() : "";
    const last = window.__labels[window.__labels.length - 1];
    if (!last || last[1] !== text) window.__labels.push([performance.now(), text]);
  };
  new MutationObserver(read).observe(document.querySelector('#prediction'),
    {subtree: true, childList: true, characterData: true});
  read();
  // The pad marks the drawing whose answer the page shows (data-answered): when it reaches
  // the canvas's own number, the answer for the complete drawing is on screen.
  window.__answers = [];
  const canvas = document.querySelector('#sketchpad canvas[data-ready]');
  if (canvas) new MutationObserver(() => {
    const {answered, version} = canvas.dataset;
    if (answered && answered === version) window.__answers.push(performance.now());
  }).observe(canvas, {attributes: true});
  const up = () => window.__ups.push(performance.now());
  window.addEventListener('pointerup', up, true);
  window.addEventListener('touchend', up, true);
}
""".replace("LABEL", LABEL.replace("'", "\\'"))


class Surface:
    """Where and how to draw: the Sketchpad's pixi canvas (zoomed) or a plain ``<canvas>``."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.sketchpad = page.locator("#sketchpad .pixi-target canvas").count() > 0
        selector = "#sketchpad .pixi-target canvas" if self.sketchpad else "#sketchpad canvas"
        self.canvas = page.locator(selector).first

    def to_screen(self) -> Callable[[Point], Point]:
        box = self.canvas.bounding_box()
        centre = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        if self.sketchpad:  # the image is centred in the pixi canvas and zoomed
            span = self.page.locator("#sketchpad .zoom-number span").inner_text()
            scale = float(span.strip("%")) / 100
        else:
            scale = box["width"] / CANVAS
        return lambda p: (
            centre[0] + (p[0] - CANVAS / 2) * scale,
            centre[1] + (p[1] - CANVAS / 2) * scale,
        )

    def stroke(self, points: Sequence[Point]) -> float:
        """One mouse stroke; returns the seconds the browser took to follow it."""
        screen, mouse = self.to_screen(), self.page.mouse
        mouse.move(*screen(points[0]))
        start = time.perf_counter()
        mouse.down()
        for point in points[1:]:
            mouse.move(*screen(point))
        mouse.up()
        return time.perf_counter() - start

    def touch_stroke(self, cdp: Any, points: Sequence[Point]) -> float:
        """One finger stroke through CDP touch events; returns seconds to follow it."""
        screen = self.to_screen()

        def touch(kind: str, point: Point | None) -> None:
            spots = [] if point is None else [{"x": point[0], "y": point[1], "id": 1}]
            cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": spots})

        start = time.perf_counter()
        touch("touchStart", screen(points[0]))
        for point in points[1:]:
            touch("touchMove", screen(point))
        touch("touchEnd", None)
        return time.perf_counter() - start


def open_page(browser: Any, url: str, **context_options: Any) -> tuple[Any, Any, Surface]:
    context = browser.new_context(**context_options)
    page = context.new_page()
    page.goto(url)
    page.locator("#sketchpad canvas").first.wait_for(timeout=30_000)
    if not page.locator("#sketchpad .pixi-target canvas").count():  # the plain canvas
        page.wait_for_function(  # listening, and the page's loading veil gone
            "() => { const c = document.querySelector('#sketchpad canvas[data-ready]');"
            " if (!c) return false; const b = c.getBoundingClientRect();"
            " return document.elementFromPoint(b.x + b.width / 2, b.y + b.height / 2) === c; }",
            timeout=30_000,
        )
    else:  # the Sketchpad ignores strokes until its brush is selected
        brush = page.locator("#sketchpad").get_by_role("button", name="Brush", exact=True)
        deadline = time.monotonic() + 30
        while "highlight" not in (brush.get_attribute("class") or ""):
            if time.monotonic() > deadline:
                raise RuntimeError("the Sketchpad's brush was never selected")
            time.sleep(0.1)
    page.evaluate(RECORDER_JS)
    return context, page, Surface(page)


Trial = tuple[list[tuple[float, str]], list[float], list[float]]  # labels, pointer-ups, answers


def settled(page: Any, timeout: float = 20.0) -> Trial:
    """Wait until the label has not changed for SETTLE_S; returns what the page recorded."""
    deadline = time.monotonic() + timeout
    script = "[window.__labels, window.__ups, window.__answers, performance.now()]"
    while True:
        labels, ups, answers, now = page.evaluate(script)
        quiet = labels and ups and now - max(labels[-1][0], ups[-1]) > SETTLE_S * 1000
        if quiet or time.monotonic() > deadline:
            return [tuple(item) for item in labels], ups, answers
        time.sleep(0.2)


def read_trial(trial: Trial, since: float | None = None) -> tuple[str, float | None, bool]:
    """(final label, ms from the last pointer-up to it, whether another label showed after
    ``since``, by default the last pointer-up).

    The answer's arrival: on the pad, the first time the page shows the answer for the canvas's
    latest drawing; on the Sketchpad (no such mark), the last change of the label after the
    pointer-up, if any."""
    labels, ups, answers = trial
    last_up = ups[-1]
    since = last_up if since is None else since
    final = labels[-1][1]
    stale = any(text != final for t, text in labels if t > since)
    arrivals = [t for t in answers if t > last_up]
    if not answers:
        arrivals = [t for t, text in labels[-1:] if t > last_up]
    latency = arrivals[0] - last_up if arrivals else None
    return final, latency, stale


def browser_figures(url: str, trials: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    out: dict[str, Any] = {"pen": [], "answer_ms": [], "stale": 0, "right": 0, "n": 0}
    out |= {"stale_click": 0, "right_click": 0, "n_click": 0}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        desktop = {"viewport": {"width": 1280, "height": 1100}}
        # Pen: strokes of 8 moves on a fresh page each.
        context, page, surface = open_page(browser, url, **desktop)
        for _ in range(trials):
            out["pen"].append(surface.stroke(PEN_STROKE))
        context.close()
        # Answer and freshness: two-stroke digits, without and with clicking Classify.
        digits = list(TWO_STROKES)
        for trial in range(2 * trials):
            click = trial % 2 == 1
            digit = digits[(trial // 2) % len(digits)]
            context, page, surface = open_page(browser, url, **desktop)
            for stroke in TWO_STROKES[digit]:
                surface.stroke(stroke)
            clicked_at = None
            if click:
                clicked_at = page.evaluate("performance.now()")
                page.locator("#classify").click()
            final, latency, stale = read_trial(settled(page), clicked_at)
            if click:
                out["n_click"] += 1
                out["stale_click"] += stale
                out["right_click"] += final == digit
            else:
                out["n"] += 1
                out["stale"] += stale
                out["right"] += final == digit
                if latency is not None:
                    out["answer_ms"].append(latency)
            context.close()
        out |= phone_figures(browser, url, trials)
        browser.close()
    return out


def phone_figures(browser: Any, url: str, trials: int) -> dict[str, Any]:
    phone = {
        "viewport": {"width": 390, "height": 844},
        "is_mobile": True,
        "has_touch": True,
        "device_scale_factor": 2,
    }
    out: dict[str, Any] = {"phone_pen": [], "phone_answer_ms": [], "phone_right": 0}
    out |= {"phone_n": 0, "phone_stale": 0}
    for _ in range(max(2, trials // 2)):
        context, page, surface = open_page(browser, url, **phone)
        height = page.viewport_size["height"]
        canvas, label = surface.canvas.bounding_box(), page.locator("#prediction").bounding_box()
        out["phone_together"] = (
            canvas is not None
            and label is not None
            and canvas["y"] >= 0
            and canvas["y"] + canvas["height"] <= height
            and label["y"] >= 0
            and label["y"] + label["height"] <= height
        )
        cdp = context.new_cdp_session(page)
        for stroke in PHONE_ONE:
            out["phone_pen"].append(surface.touch_stroke(cdp, stroke))
        final, latency, stale = read_trial(settled(page))
        out["phone_n"] += 1
        out["phone_right"] += final == "1"
        out["phone_stale"] += stale
        if latency is not None:
            out["phone_answer_ms"].append(latency)
        context.close()
    return out


# --------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------


def ms(values: Sequence[float], q: float = 50) -> str:
    return f"{percentile(values, q):.0f}"


def table(figures: dict[str, Any], users: int) -> str:
    f = figures
    rows = []
    if "pen" in f:
        rows += [
            (
                "pen: 8-move stroke, p50 / p95 (target p95 ≤ 0.3 s)",
                f"{percentile(f['pen'], 50):.2f} / {percentile(f['pen'], 95):.2f} s",
            ),
            (
                "answer after the last pointer-up, no click, p50 / p95 (target p95 ≤ 300 ms)",
                f"{ms(f['answer_ms'])} / {ms(f['answer_ms'], 95)} ms",
            ),
            (
                "two-stroke digits with a wrong answer flashing, no click (target 0)",
                f"{f['stale']} of {f['n']} (read right: {f['right']})",
            ),
            (
                "… with Classify clicked at once (target 0)",
                f"{f['stale_click']} of {f['n_click']} (read right: {f['right_click']})",
            ),
        ]
    if "single_ms" in f:
        rows += server_rows(f, users)
    if "phone_n" in f:
        rows += [
            (
                "phone 390×844: canvas and answer visible together",
                "yes" if f.get("phone_together") else "no",
            ),
            (
                "phone: touch stroke, p50 / answer p50",
                f"{percentile(f['phone_pen'], 50):.2f} s / {ms(f['phone_answer_ms'])} ms",
            ),
            (
                "phone: read right / wrong answer flashing",
                f"{f['phone_right']} / {f['phone_stale']} of {f['phone_n']}",
            ),
        ]
    lines = ["| measure | value |", "| --- | --- |"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    return "\n".join(lines)


LOADS = {  # the load test's variants: (key prefix, what was sent and by which clients)
    "": "PNG composites, default gradio_client",
    "shared_": "PNG composites, clients sharing one SSL context",
    "strokes_": "the pad's strokes, clients sharing one SSL context",
    "echo_": "the echo app (Gradio's floor), clients sharing one SSL context",
}


def load_rows(f: dict[str, Any], users: int, variant: str) -> list[tuple[str, str]]:
    """The rows of one load test (``LOADS``): latency, the server's queue, and the CPU floor.

    Each user has one request in flight, so a request waits behind about one of every other
    user's; with the clients on the same cores, no request can then take less than ``users`` ×
    the CPU a request costs (server and client) / the cores: that, and the server's part alone,
    is the floor under the latency. The burst's wall is about twice it (two requests each).
    """
    if f"{variant}load_s" not in f:
        return []
    busy, times = f[f"{variant}load_phases"], f[f"{variant}load_s"]
    wall, server_cpu, clients_cpu = f[f"{variant}load_cpu"]
    requests = f[f"{variant}requests"]
    cores = os.cpu_count() or 1
    server_ms, clients_ms = 1000 * server_cpu / requests, 1000 * clients_cpu / requests
    return [
        (
            f"{users} users × 2, {LOADS[variant]}: answered / right",
            f"{f[f'{variant}answered']} / {f[f'{variant}load_right']} of {requests}",
        ),
        (
            "… latency p50 / p95 (target p95 ≤ 2 s)",
            f"{percentile(times, 50):.2f} / {percentile(times, 95):.2f} s",
        ),
        (
            "… inside the server: queue wait p50 / p95, handler p50",
            f"{busy['queue_wait']:.0f} / {busy['queue_wait_p95']:.0f} ms, {busy['fn_call']:.0f} ms",
        ),
        (
            f"… CPU per request: server / clients; the floor under a request's latency on "
            f"{cores} cores: all / the server's alone; the burst's wall",
            f"{server_ms:.0f} / {clients_ms:.0f} ms; "
            f"{users * (server_ms + clients_ms) / cores / 1000:.2f} / "
            f"{users * server_ms / cores / 1000:.2f} s; {wall:.1f} s",
        ),
    ]


def server_rows(f: dict[str, Any], users: int) -> list[tuple[str, str]]:
    one = f["single_phases"]
    strokes_cpu = f"{f['strokes_cpu_ms']:.0f}" if "strokes_cpu_ms" in f else "—"
    return [
        (
            "server: one drawing (PNG) via gradio_client, p50 (target ≤ 50 ms)",
            f"{ms(f['single_ms'])} ms",
        ),
        (
            "… with clients sharing one SSL context: PNG / the pad's strokes; strokes by plain "
            "HTTP, p50",
            f"{ms(f['single_shared_ms'])} / {ms(f.get('single_strokes_ms', []))} ms; "
            f"{ms(f.get('http_strokes_ms', []))} ms",
        ),
        (
            "… the echo app (Gradio's floor): gradio_client / sharing one SSL context / plain "
            "HTTP, p50; its server CPU per call",
            f"{ms(f['echo_client_ms'])} / {ms(f['echo_shared_ms'])} / "
            f"{ms(f['echo_http_ms'])} ms; {f['echo_cpu_ms']:.0f} ms",
        ),
        (
            "… inside the server (Gradio's profiler), PNG: queue / preprocess / handler / "
            "postprocess / total, p50",
            " / ".join(
                f"{one[k]:.0f}"
                for k in ("queue_wait", "preprocess", "fn_call", "postprocess", "total")
            )
            + " ms",
        ),
        (
            "… server CPU per drawing, one at a time: PNG / strokes",
            f"{f['single_cpu_ms']:.0f} / {strokes_cpu} ms",
        ),
        *(row for variant in LOADS for row in load_rows(f, users, variant)),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8, help="browser trials per measure")
    parser.add_argument("--users", type=int, default=50, help="simultaneous gradio_client users")
    parser.add_argument("--singles", type=int, default=30, help="one-at-a-time client calls")
    parser.add_argument("--preset", default=None, help="the app's preset (default: its own)")
    parser.add_argument("--skip-browser", action="store_true")
    parser.add_argument("--skip-server", action="store_true")
    args = parser.parse_args(argv)
    figures: dict[str, Any] = {}
    started = time.perf_counter()
    with running_app(args.preset) as server:
        if not args.skip_browser:
            figures |= browser_figures(server.url, args.trials)
        if not args.skip_server:
            figures |= server_figures(server, args.users, args.singles)
    if not args.skip_server:
        figures |= floor_figures(args.singles, args.users)
    print(
        f"\napp latency, {datetime.date.today()}, {os.cpu_count()} cores, preset "
        f"{args.preset or 'default'}, {args.trials} trials, {time.perf_counter() - started:.0f} s\n"
    )
    print(table(figures, args.users))
    return 0


if __name__ == "__main__":
    sys.exit(main())
