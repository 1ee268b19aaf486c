"""What a public app's visitor costs: reading with their own samples, and building their view.

A visitor's samples are searched beside the shared references (``PersonalModel``) instead of
being added to the model. This compares, in the same run, one digit read by

- the shared model alone (a visitor without samples),
- the shared model with the visitor's samples added (``DigitModel.add``: what the owner gets),
- the shared model and the samples side by side (``PersonalModel``: what a visitor gets),

and checks that the last two give the same answers. Samples are MNIST validation digits
(train 50,000–59,999, never the test set) with their six taught variants, as the app stores
them; queries are the first test digits (only timed, their errors are not the point).

Run: ``python benchmarks/bench_visitors.py [--presets fast accurate] [--samples 500]``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import time
import tracemalloc

import numpy as np

from bench_presets import best_of
from knn_digits import load_mnist, load_model
from knn_digits.app import with_variants
from knn_digits.models import DigitModel
from knn_digits.personal import PersonalModel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", nargs="+", default=["fast", "accurate"])
    parser.add_argument("--samples", type=int, default=500, help="the visitor's taught digits")
    parser.add_argument("--queries", type=int, default=50, help="digits read one at a time")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    train_images, train_labels = load_mnist("train")
    test_images, _ = load_mnist("test")
    own_images, own_labels = with_variants(
        train_images[50_000 : 50_000 + args.samples], train_labels[50_000 : 50_000 + args.samples]
    )
    queries = test_images[: args.queries]
    print(
        f"\n{datetime.date.today()}, {os.cpu_count()} cores, a visitor with {args.samples} "
        f"samples ({len(own_labels)} digits with variants), {args.queries} digits read one at "
        f"a time, best of {args.repeat}\n"
    )
    print(
        "| preset | shared alone ms | samples added ms | side by side ms | side by side "
        "× added | same answers | view built s | view MB |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in args.presets:
        shared, added = load_model(name), load_model(name).add(own_images, own_labels)
        tracemalloc.start()  # numpy reports its arrays: what the visitor's view keeps
        start = time.perf_counter()
        personal = PersonalModel(shared).add(own_images, own_labels)
        built = time.perf_counter() - start
        size, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()

        def per_digit(model: DigitModel) -> float:
            seconds, _ = best_of(args.repeat, lambda: [model.predict(q) for q in queries])
            return 1000 * seconds / len(queries)

        for model in (shared, added, personal):
            per_digit(model)  # a warm-up round: compiled kernels and caches before timing
        alone, with_added, side = per_digit(shared), per_digit(added), per_digit(personal)
        same = np.array_equal(personal.predict(queries), added.predict(queries))
        print(
            f"| {name} | {alone:.1f} | {with_added:.1f} | {side:.1f} | {side / with_added:.2f} "
            f"| {'yes' if same else 'NO'} | {built:.2f} | {size / 2**20:.1f} |"
        )


if __name__ == "__main__":
    main()
