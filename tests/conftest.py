"""Shared fixtures: MNIST loaded once per session, and a private KNN_DIGITS_HOME."""

from __future__ import annotations

import http.server
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from knn_digits.datasets import load_mnist


@pytest.fixture(scope="session", autouse=True)
def private_home(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep caches and sample stores of the test run out of the user's real directories."""
    if "KNN_DIGITS_HOME" not in os.environ:
        os.environ["KNN_DIGITS_HOME"] = str(tmp_path_factory.mktemp("knn-digits-home"))


# spy(owner, name) -> the positional arguments of each call (see the fixture)
Spy = Callable[[object, str], list[tuple[Any, ...]]]


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Spy:
    """``spy(owner, name)`` wraps ``owner.name`` for the test: every call still goes through, and
    its positional arguments are appended to the list returned."""

    def install(owner: object, name: str) -> list[tuple[Any, ...]]:
        calls: list[tuple[Any, ...]] = []
        real = getattr(owner, name)

        def recorded(*args: Any, **kwargs: Any) -> Any:
            calls.append(args)
            return real(*args, **kwargs)

        monkeypatch.setattr(owner, name, recorded)
        return calls

    return install


@pytest.fixture(scope="session")
def mnist_train() -> tuple[np.ndarray, np.ndarray]:
    return load_mnist("train")


@pytest.fixture(scope="session")
def mnist_test() -> tuple[np.ndarray, np.ndarray]:
    return load_mnist("test")


class _Mirror(http.server.SimpleHTTPRequestHandler):
    """Serves a folder; a file whose name is in ``truncate`` is cut short mid-transfer."""

    truncate: set[str] = set()

    def log_message(self, *args: object) -> None:  # keep test output clean
        pass

    def copyfile(self, source, outputfile) -> None:  # type: ignore[override]
        data = source.read()
        if Path(self.path).name in self.truncate:
            data = data[: len(data) // 2]  # Content-Length still promises all of it
        outputfile.write(data)


@pytest.fixture
def serve() -> Iterator[Callable[..., str]]:
    """Start HTTP servers on 127.0.0.1 for folders; yields a function returning base URLs."""
    servers = []

    def start(folder: Path, truncate: frozenset[str] = frozenset()) -> str:
        handler = type("Handler", (_Mirror,), {"truncate": set(truncate)})
        server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), lambda *a: handler(*a, directory=str(folder))
        )
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
