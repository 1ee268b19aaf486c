"""docs/tutorial.md runs as written, on a small slice of MNIST so that it takes seconds."""

from __future__ import annotations

import re
from pathlib import Path

import knn_digits

TUTORIAL = Path(__file__).parents[1] / "docs" / "tutorial.md"


def test_tutorial_code_blocks_run_in_order(mnist_train, mnist_test, monkeypatch, tmp_path) -> None:
    slices = {
        "train": (mnist_train[0][:600], mnist_train[1][:600]),
        "test": (mnist_test[0][:150], mnist_test[1][:150]),
    }
    monkeypatch.setattr(knn_digits, "load_mnist", lambda split, data_dir=None: slices[split])
    monkeypatch.chdir(tmp_path)  # the scan it saves lands here
    blocks = re.findall(r"```python\n(.*?)```", TUTORIAL.read_text(), flags=re.DOTALL)
    assert len(blocks) == 6
    namespace: dict = {}
    for number, block in enumerate(blocks, 1):  # a traceback names the block that broke
        exec(compile(block, f"{TUTORIAL.name}, block {number}", "exec"), namespace)
    assert set(namespace["search"].best_params_) == {"n_neighbors", "metric"}
    assert namespace["confusion"].sum() == 150
    assert namespace["answer"] == mnist_test[1][0]
