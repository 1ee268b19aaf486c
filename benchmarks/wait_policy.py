"""What OpenMP's wait policy costs one drawing: spinning threads against sleeping ones.

numba runs its parallel kernels (deskew, IDM, tangent distance) on OpenMP threads. By default
they spin for a while after each parallel region, waiting for the next; ``knn_digits`` sets
``OMP_WAIT_POLICY=PASSIVE`` (they sleep) unless the user chose otherwise. One drawing calls a
dozen short kernels, so on a busy machine — a web server, other requests, other programs — the
spinning threads hold cores the rest of the work needs.

Each policy runs in its own process (the policy is read once, when OpenMP starts), alternating,
``--repeat`` times each, with ``--load`` busy processes beside them (0: the machine as it is).
Each process loads the cached ``--preset`` model and reads ``--drawings`` MNIST validation
digits one at a time through the full second stage, as the app reads a drawing
(``without_cascade().explain``), then a batch of ``--batch`` at once; it prints the median wall
and CPU time per read.

Run: ``python benchmarks/wait_policy.py [--preset accurate] [--load 2] [--repeat 2]``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing
import os
import subprocess
import sys
import time

import numpy as np

READER = """
import json, sys, time
import numpy as np
from knn_digits import load_mnist, load_model

preset, drawings, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
images, _ = load_mnist("train")
model = load_model(preset).without_cascade()
model.explain(images[-2:])  # compile and warm up

def timed(call):
    wall, cpu = time.perf_counter(), time.process_time()
    call()
    return time.perf_counter() - wall, time.process_time() - cpu

one = np.array([timed(lambda: model.explain(images[-3 - i : -2 - i])) for i in range(drawings)])
many = timed(lambda: model.explain(images[-3 - batch : -3]))
print(json.dumps({"one": np.median(one, axis=0).tolist(), "batch": [t / batch for t in many]}))
"""


def busy() -> None:
    """Keep one core busy until killed: the other programs of a shared machine."""
    while True:
        pass


def read_with(policy: str, args: argparse.Namespace) -> dict[str, list[float]]:
    env = {**os.environ, "OMP_WAIT_POLICY": policy}
    command = [sys.executable, "-c", READER, args.preset, str(args.drawings), str(args.batch)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="accurate")
    parser.add_argument("--drawings", type=int, default=40, help="digits read one at a time")
    parser.add_argument("--batch", type=int, default=200, help="digits read in one batch")
    parser.add_argument("--load", type=int, default=0, help="busy processes beside the reader")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)

    load = [multiprocessing.Process(target=busy, daemon=True) for _ in range(args.load)]
    for process in load:
        process.start()
    started, load_before = time.perf_counter(), os.getloadavg()[0]
    results: dict[str, list[dict[str, list[float]]]] = {"ACTIVE": [], "PASSIVE": []}
    try:
        for _ in range(args.repeat):
            for policy in results:
                results[policy].append(read_with(policy, args))
                print(policy, results[policy][-1], file=sys.stderr, flush=True)
    finally:
        for process in load:
            process.kill()
    print(
        f"Preset `{args.preset}`, {args.load} busy processes beside the reader, "
        f"{datetime.date.today().isoformat()}, {time.perf_counter() - started:.0f} s, "
        f"load average before the run {load_before:.1f}; medians over {args.repeat} "
        "processes per policy, milliseconds per digit.\n"
    )
    print(
        "| OMP_WAIT_POLICY | one drawing: wall | CPU | batch of "
        f"{args.batch}, per digit: wall | CPU |"
    )
    print("| --- | ---: | ---: | ---: | ---: |")
    for policy, runs in results.items():
        one = np.median([run["one"] for run in runs], axis=0) * 1000
        batch = np.median([run["batch"] for run in runs], axis=0) * 1000
        print(f"| {policy} | {one[0]:.1f} | {one[1]:.1f} | {batch[0]:.1f} | {batch[1]:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
