"""A real app for the end-to-end tests: one server process per session, clients and a browser.

The server is ``knn-digits app`` itself (as ``python -m knn_digits app``), in a subprocess, with
the cheap ``raw`` preset and a private store; gradio's own warnings then stay out of this
process, where warnings are errors. Facts about gradio 6.31, gradio_client and
Playwright + Debian chromium on this machine: ../shared/BROWSER_TESTING.md.
"""

from __future__ import annotations

import os

# Read at import time by huggingface_hub (imported by gradio_client): no telemetry, no calls out.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from collections.abc import Callable, Iterator, Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from knn_digits.datasets import load_mnist  # noqa: E402
from knn_digits.preprocess import render_drawing  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STARTUP_SECONDS = 180  # the first start fits and caches the raw preset


@dataclass(frozen=True)
class Server:
    url: str
    store: Path
    log: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_serving(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the app exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url + "/config", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"the app did not answer within {STARTUP_SECONDS} s:\n{log.read_text()[-3000:]}")


class AppProcess:
    """``knn-digits app`` (as ``python -m knn_digits app``) in a subprocess, on a free port, with
    the ``raw`` preset and a fresh store in ``folder``; ``options`` are added to the command.

    ``restart(kill=True)`` kills it outright (``kill -9``) and starts it again on the same port
    and store, as a crash and a restart would.
    """

    def __init__(self, folder: Path, options: Sequence[str] = ()) -> None:
        self.folder, self.options, self.port = folder, list(options), _free_port()
        self.server = Server(
            f"http://127.0.0.1:{self.port}", folder / "samples.sqlite3", folder / "server.log"
        )
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        command = [
            sys.executable,
            "-m",
            "knn_digits",
            "app",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--preset",
            "raw",
            "--store",
            str(self.server.store),
            *self.options,
        ]
        env = {
            **os.environ,
            "GRADIO_TEMP_DIR": str(self.folder / "gradio"),
            "PYTHONUNBUFFERED": "1",
        }
        with open(self.server.log, "ab") as out:
            self._process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        _wait_until_serving(self.server.url, self._process, self.server.log)
        return self.server

    def stop(self, *, kill: bool = False) -> None:
        if self._process is None:
            return
        if kill:
            self._process.kill()
        else:
            self._process.terminate()  # SIGTERM: gradio exits at once, without a traceback
        try:
            self._process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def restart(self, *, kill: bool = False) -> Server:
        self.stop(kill=kill)
        return self.start()

    def check_log(self) -> None:
        """Fails on any traceback in the server's log but those of clients that hung up."""
        unexpected = _unexpected_tracebacks(self.server.log.read_text())
        assert not unexpected, unexpected[0][-3000:]


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The app in local mode (the owner's), with a fresh sample store.

    ``KNN_DIGITS_HOME`` is the test session's private one (tests/conftest.py), so the model
    cache is fitted afresh there: a few seconds for ``raw``.
    """
    app = AppProcess(tmp_path_factory.mktemp("e2e-app"))
    try:
        yield app.start()
    finally:
        app.stop()
    app.check_log()


# Small limits, so the tests reach them in a few calls.
PUBLIC_OPTIONS = ("--public", "--teach-per-minute", "3", "--samples-per-visitor", "2")


@pytest.fixture(scope="session")
def public_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppProcess]:
    """The app serving strangers (``--public``) with small limits; tests may restart it."""
    app = AppProcess(tmp_path_factory.mktemp("e2e-public"), PUBLIC_OPTIONS)
    try:
        app.start()
        yield app
    finally:
        app.stop()
    app.check_log()


# A client that hangs up mid-upload (the 8000×8000 image, refused by its size) makes starlette
# log ClientDisconnect: the client's doing, not the app's. Any other traceback fails the run.
_BENIGN_ERRORS = ("starlette.requests.ClientDisconnect",)


def _unexpected_tracebacks(log: str) -> list[str]:
    """The tracebacks in a server log, less those of clients that disconnected."""
    blocks = log.split("Traceback (most recent call last):")[1:]
    return [block for block in blocks if not any(name in block for name in _BENIGN_ERRORS)]


@pytest.fixture(scope="session")
def client(server: Server) -> Iterator[Any]:
    from gradio_client import Client

    api = Client(server.url, verbose=False, download_files=False)
    yield api
    api.close()


@pytest.fixture(scope="session")
def test_digits() -> dict[int, np.ndarray]:
    """The first MNIST test digit of each class."""
    images, labels = load_mnist("test")
    return {d: images[labels == d][0] for d in range(10)}


def _drawing_png(digit: np.ndarray, path: Path, **kwargs: Any) -> Path:
    layer = render_drawing(digit, **kwargs)
    composite = np.where(layer[:, :, 3:] > 0, 0, 255).astype(np.uint8).repeat(3, axis=2)
    Image.fromarray(composite).save(path)
    return path


@pytest.fixture(scope="session")
def drawing_png() -> Callable[..., Path]:
    """``drawing_png(digit, path, **render_drawing options)``: a digit drawn as on the
    Sketchpad, saved as its composite (black ink on white); returns the path."""
    return _drawing_png


def _sketch_value(path: Path | None) -> dict[str, Any]:
    from gradio_client import handle_file

    return {
        "background": None,
        "layers": [],
        "composite": handle_file(str(path)) if path is not None else None,
    }


@pytest.fixture(scope="session")
def sketch_value() -> Callable[[Path | None], dict[str, Any]]:
    """``sketch_value(path)``: the Sketchpad value gradio_client sends — only a composite
    (a bare file won't do for a Sketchpad input)."""
    return _sketch_value


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's chromium driven by Playwright. Missing: a skip locally, a failure in CI."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: apt-get install chromium (never `playwright install`)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
