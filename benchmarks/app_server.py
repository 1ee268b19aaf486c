"""The server side of ``app_latency.py``: the app in a subprocess, and where a request's time goes.

Measured through ``gradio_client`` (as programs call the app) and by plain HTTP (Gradio's queue
API without the client's own waits), beside a Gradio app that only echoes its input (the floor
that Gradio and ``gradio_client`` set for any app on this machine, in the same run). The app runs
with Gradio's profiler on (``GRADIO_PROFILING=1``: its ``/profiling/summary`` splits the
server's time into queue wait, preprocessing, the handler and postprocessing), and the CPU time
of the server process and of this one (the clients) is read around each phase.

The 50 users are measured three ways: sending PNG composites through default ``gradio_client``
clients (as the issue measured), the same through clients sharing one SSL context, and sending
the pad's own strokes through those; and the echo app under the same load, the floor Gradio and
``gradio_client`` set on this machine.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from knn_digits.datasets import load_mnist
from knn_digits.preprocess import render_drawing

CANVAS = 420  # the app's canvas side in canvas pixels

# A Gradio app that does nothing: Blocks, one queued endpoint echoing a string.
ECHO_APP = """
import sys, gradio as gr
with gr.Blocks() as demo:
    box = gr.Textbox()
    box.submit(lambda text: text, box, box, api_name="classify")
demo.queue(default_concurrency_limit=2).launch(server_port=int(sys.argv[1]))
"""


@dataclass(frozen=True)
class Server:
    url: str
    pid: int

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def profile(self, action: str) -> Any:
        """Gradio's profiler: ``"summary"`` (phases in ms: p50, p95, …) or ``"clear"``."""
        url = f"{self.url}/gradio_api/profiling/{action}"
        request = urllib.request.Request(url, method="POST" if action == "clear" else "GET")
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(command: list[str], folder: Path, port: int) -> Iterator[Server]:
    """Run ``command`` (a Gradio app on ``port``) with its profiler on until it answers."""
    env = {**os.environ, "GRADIO_TEMP_DIR": str(folder / "gradio"), "PYTHONUNBUFFERED": "1"}
    env |= {"GRADIO_PROFILING": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    log = open(folder / "server.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((folder / "server.log").read_text()[-3000:])
            try:
                with urllib.request.urlopen(url + "/config", timeout=2):
                    break
            except OSError:
                time.sleep(0.5)
        yield Server(url, process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def running_app(preset: str | None) -> Any:
    """``knn-digits app`` in a subprocess with a throwaway store; yields a :class:`Server`."""
    folder = Path(tempfile.mkdtemp(prefix="knn-latency-"))
    port = _free_port()
    command = [sys.executable, "-m", "knn_digits", "app", "--port", str(port)]
    command += ["--store", str(folder / "samples.sqlite3")]
    if preset:
        command += ["--preset", preset]
    return serving(command, folder, port)


def echo_app() -> Any:
    folder = Path(tempfile.mkdtemp(prefix="knn-latency-echo-"))
    port = _free_port()
    return serving([sys.executable, "-c", ECHO_APP, str(port)], folder, port)


# --------------------------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------------------------


Drawing = tuple[Path, dict[str, Any], int]  # (PNG composite, the pad's strokes, label)


def drawings(folder: Path, n: int) -> list[Drawing]:
    """n MNIST test digits drawn as on the canvas: as a saved composite, and as the pen strokes
    the pad would send for it (its path, traced), with the label."""
    images, labels = load_mnist("test")
    out = []
    for i in range(n):
        radius = 6 + i % 5
        layer = render_drawing(images[i], canvas=(CANVAS, CANVAS), brush_radius=radius)
        composite = np.where(layer[:, :, 3:] > 0, 0, 255).astype(np.uint8).repeat(3, axis=2)
        path = folder / f"{i}.png"
        Image.fromarray(composite).save(path)
        thin = render_drawing(images[i], canvas=(CANVAS, CANVAS), brush_radius=0.5)
        strokes = [
            {"points": points, "radius": radius, "erase": False}
            for points in pen_paths(thin[:, :, 3] > 0)
        ]
        pad = {"version": 1, "width": CANVAS, "height": CANVAS, "strokes": strokes}
        out.append((path, pad, int(labels[i])))
    return out


def pen_paths(path: np.ndarray, step: int = 4) -> list[list[int]]:
    """A one-pixel-wide path (H, W) bool traced into pen strokes ``[x0, y0, x1, y1, ...]``, a
    point every ``step`` pixels: each stroke starts at a loose end where there is one and
    follows its neighbours (straight ones first) until it runs out; branches left behind
    become strokes of their own, as a pen lifted and put down again."""
    left = set(zip(*np.nonzero(path), strict=True))

    def next_to(y: int, x: int) -> list[tuple[int, int]]:
        around = [(y + dy, x + dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]
        return sorted((p for p in around if p in left), key=lambda p: abs(p[0] - y) + abs(p[1] - x))

    strokes = []
    while left:
        start = next((p for p in sorted(left) if len(next_to(*p)) <= 1), min(left))
        trail = [start]
        left.discard(start)
        while following := next_to(*trail[-1]):
            trail.append(following[0])
            left.discard(following[0])
        kept = trail[::step] + ([trail[-1]] if (len(trail) - 1) % step else [])
        strokes.append([int(v) for y, x in kept for v in (x, y)])
    return strokes


def sketch_value(path: Path) -> dict[str, Any]:
    from gradio_client import handle_file

    return {"background": None, "layers": [], "composite": handle_file(str(path))}


def top(result: Sequence[Any]) -> str | None:
    label = result[0]
    return label.get("label") if isinstance(label, dict) else None


# The pad's own payload for a 7 (three points, brush radius 9, on the 420 px canvas).
SEVEN_STROKES = {
    "version": 1,
    "width": CANVAS,
    "height": CANVAS,
    "strokes": [{"points": [120, 90, 300, 90, 180, 340], "radius": 9, "erase": False}],
}


def over_http(url: str, payload: Any, n: int) -> list[float]:
    """Seconds per ``/classify`` call over Gradio's queue API by plain HTTP: join, then read
    the event stream until the answer. gradio_client adds its own waits on top: it looks for
    new messages every 50 ms (``gradio_client.utils.stream_sse_v1plus``) and joins the queue
    on a new connection each time."""
    import httpx

    config = httpx.get(url + "/config").json()
    prefix = config.get("api_prefix", "/gradio_api")
    fn_index = next(d["id"] for d in config["dependencies"] if d.get("api_name") == "classify")
    times = []
    with httpx.Client(base_url=url, timeout=60) as http:
        for _ in range(n + 1):  # the first one warms the connection up
            session = uuid.uuid4().hex
            start = time.perf_counter()
            join = {"data": [payload], "fn_index": fn_index, "session_hash": session}
            http.post(f"{prefix}/queue/join", json=join).raise_for_status()
            with http.stream("GET", f"{prefix}/queue/data", params={"session_hash": session}) as r:
                for line in r.iter_lines():
                    if line.startswith("data:") and '"process_completed"' in line:
                        assert json.loads(line[5:])["success"], line
                        break
            times.append(time.perf_counter() - start)
    return times[1:]


# gradio_client passes ``ssl_verify`` to httpx for each of its requests, and makes a new httpx
# client for each (the upload, the queue join, the event stream): with ``True``, each loads the
# certificate store anew (~20 ms of CPU, even for http://). One SSL context, made once and shared,
# verifies all the same and costs nothing per request.
SHARED_SSL = ssl.create_default_context()


def new_client(url: str, *, shared_ssl: bool) -> Any:
    """A gradio_client Client for ``url``: default, or with one shared SSL context."""
    from gradio_client import Client

    verify: Any = SHARED_SSL if shared_ssl else True
    return Client(url, verbose=False, download_files=False, ssl_verify=verify)


def client_calls(
    url: str, payloads: Sequence[Any], *, shared_ssl: bool = False
) -> tuple[list[float], Any]:
    """Seconds per ``/classify`` call through one ``gradio_client`` Client (after a warm-up
    call), and the last answer."""
    client = new_client(url, shared_ssl=shared_ssl)
    try:
        answer = client.predict(payloads[0], api_name="/classify")
        times = []
        for payload in payloads:
            start = time.perf_counter()
            answer = client.predict(payload, api_name="/classify")
            times.append(time.perf_counter() - start)
    finally:
        client.close()
    return times, answer


def phases(server: Server) -> dict[str, float]:
    """p50 (and the queue's p95) of the server's phases since the last clear, in ms."""
    summary = server.profile("summary")["phases"]
    out = {name: summary[name]["p50"] for name in summary}
    out["queue_wait_p95"] = summary["queue_wait"]["p95"]
    return out


# --------------------------------------------------------------------------------------------
# The measures
# --------------------------------------------------------------------------------------------


def floor_figures(singles: int, users: int) -> dict[str, Any]:
    """gradio_client and plain HTTP against the echo app, one call at a time and ``users`` at
    once: what any Gradio app costs here."""
    with echo_app() as echo:
        client_calls(echo.url, ["7"])  # warm up: the first call imports and compiles
        cpu = echo.cpu_seconds()
        client, _ = client_calls(echo.url, ["7"] * singles)
        cpu_ms = 1000 * (echo.cpu_seconds() - cpu) / (singles + 1)
        shared, _ = client_calls(echo.url, ["7"] * singles, shared_ssl=True)
        http = over_http(echo.url, "7", singles)
        load = load_figures(echo, ["7"] * (2 * users), [None] * (2 * users), shared_ssl=True)
    return {
        "echo_client_ms": [1000 * s for s in client],
        "echo_shared_ms": [1000 * s for s in shared],
        "echo_http_ms": [1000 * s for s in http],
        "echo_cpu_ms": cpu_ms,
    } | {f"echo_{name}": value for name, value in load.items()}


def server_figures(server: Server, users: int, singles: int) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="knn-latency-drawings-"))
    pool = drawings(folder, max(2 * users, singles))
    pngs = [sketch_value(path) for path, _, _ in pool]
    pads, labels = [pad for _, pad, _ in pool], [label for _, _, label in pool]
    client_calls(server.url, pngs[:1])  # warm up, as above
    server.profile("clear")
    cpu = server.cpu_seconds()
    single, _ = client_calls(server.url, pngs[:singles])
    out: dict[str, Any] = {"single_ms": [1000 * s for s in single]}
    out["single_cpu_ms"] = 1000 * (server.cpu_seconds() - cpu) / (singles + 1)
    out["single_phases"] = phases(server)
    shared, _ = client_calls(server.url, pngs[:singles], shared_ssl=True)
    out["single_shared_ms"] = [1000 * s for s in shared]
    try:
        cpu = server.cpu_seconds()
        strokes, answer = client_calls(server.url, pads[:singles], shared_ssl=True)
        out["strokes_cpu_ms"] = 1000 * (server.cpu_seconds() - cpu) / (singles + 1)
    except Exception:  # noqa: BLE001 - the Sketchpad (before issue 10) takes no strokes
        strokes, answer = [], None
    if top(answer or [None]) is not None:  # else not understood (the Sketchpad: an empty canvas)
        out["single_strokes_ms"] = [1000 * s for s in strokes]
        out["http_strokes_ms"] = [1000 * s for s in over_http(server.url, SEVEN_STROKES, singles)]
    n = 2 * users
    out |= load_figures(server, pngs[:n], labels[:n], shared_ssl=False)
    variants = {"shared_": (pngs[:n], labels[:n])}
    if "single_strokes_ms" in out:
        variants["strokes_"] = (pads[:n], labels[:n])
    for variant, (payloads, truth) in variants.items():
        load = load_figures(server, payloads, truth, shared_ssl=True)
        out |= {f"{variant}{name}": value for name, value in load.items()}
    return out


def load_figures(
    server: Server, payloads: Sequence[Any], labels: Sequence[int | None], *, shared_ssl: bool
) -> dict[str, Any]:
    """``len(payloads) // 2`` gradio_client users at once, two payloads each (clients as in
    :func:`new_client`). A ``None`` label: any answer counts as right (the echo app)."""
    users = len(payloads) // 2
    clients = [new_client(server.url, shared_ssl=shared_ssl) for _ in range(users)]
    times: list[float] = []
    answers: list[tuple[Any, int | None]] = []
    lock, start_line = threading.Lock(), threading.Barrier(users)

    def user(i: int) -> None:
        start_line.wait()
        for j in (2 * i, 2 * i + 1):
            start = time.perf_counter()
            try:
                result = clients[i].predict(payloads[j], api_name="/classify")
                answer = result if labels[j] is None else top(result)
            except Exception:  # noqa: BLE001 - an unanswered request is what we count
                answer = None
            with lock:
                times.append(time.perf_counter() - start)
                answers.append((answer, labels[j]))

    server.profile("clear")
    cpu, own_cpu, start = server.cpu_seconds(), time.process_time(), time.perf_counter()
    threads = [threading.Thread(target=user, args=(i,)) for i in range(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    server_cpu, clients_cpu = server.cpu_seconds() - cpu, time.process_time() - own_cpu
    for client in clients:
        client.close()
    return {
        "load_s": times,
        "answered": sum(a is not None for a, _ in answers),
        "load_right": sum(a is not None and (t is None or a == str(t)) for a, t in answers),
        "requests": len(payloads),
        "load_phases": phases(server),
        "load_cpu": (wall, server_cpu, clients_cpu),
    }
