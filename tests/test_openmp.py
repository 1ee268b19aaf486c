"""OpenMP's wait policy: sleeping threads unless the user chose otherwise."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SHOW = "import knn_digits, os; print(os.environ['OMP_WAIT_POLICY'])"


@pytest.mark.parametrize(("given", "expected"), [(None, "PASSIVE"), ("active", "active")])
def test_threads_sleep_unless_the_user_chose(given: str | None, expected: str) -> None:
    env = {key: value for key, value in os.environ.items() if key != "OMP_WAIT_POLICY"}
    if given is not None:
        env["OMP_WAIT_POLICY"] = given
    shown = subprocess.run(
        [sys.executable, "-c", SHOW], env=env, capture_output=True, text=True, check=True
    )
    assert shown.stdout.strip() == expected
