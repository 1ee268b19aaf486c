"""Shared fixtures: MNIST loaded once per session, and a private KNN_DIGITS_HOME."""

from __future__ import annotations

import os

import numpy as np
import pytest

from knn_digits.datasets import load_mnist


@pytest.fixture(scope="session", autouse=True)
def private_home(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep caches and sample stores of the test run out of the user's real directories."""
    if "KNN_DIGITS_HOME" not in os.environ:
        os.environ["KNN_DIGITS_HOME"] = str(tmp_path_factory.mktemp("knn-digits-home"))


@pytest.fixture(scope="session")
def mnist_train() -> tuple[np.ndarray, np.ndarray]:
    return load_mnist("train")


@pytest.fixture(scope="session")
def mnist_test() -> tuple[np.ndarray, np.ndarray]:
    return load_mnist("test")
