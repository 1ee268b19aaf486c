"""``knn-digits``: the command line. Each subcommand translates arguments, calls the library,
and prints; nothing else lives here.

Exit codes: 0 success, 1 a problem with the user's input (one line on stderr, no traceback),
2 bad usage (argparse), 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import glob
import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .errors import ImageError, KnnDigitsError
from .visitors import Limits, is_loopback

__all__ = ["main"]


def _progress_bar(total: int | None, description: str) -> Any:
    """A tqdm bar on stderr; silent when stderr is not a terminal and CI asks for quiet."""
    from tqdm import tqdm

    return tqdm(total=total, desc=description, unit="img", file=sys.stderr, leave=False)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from . import datasets
    from .evaluate import evaluate_model
    from .models import get_preset, load_model

    preset = get_preset(args.preset)
    overrides = {
        name: value
        for name, value in (
            ("n_neighbors", args.k),
            ("metric", args.metric),
            ("weights", args.weights),
        )
        if value is not None
    }
    if args.p is not None:
        overrides["p"] = args.p
    if overrides:
        preset = dataclasses.replace(preset, **overrides)
    start = time.perf_counter()
    model = load_model(
        preset, data_dir=args.data_dir, cache=not overrides, references=args.references
    )
    fit_seconds = time.perf_counter() - start
    images, labels = datasets.load_mnist("test", args.data_dir)
    if args.limit is not None:
        if args.limit < 1:
            raise KnnDigitsError(f"--limit must be at least 1, got {args.limit}")
        images, labels = images[: args.limit], labels[: args.limit]
    with _progress_bar(len(images), f"classifying ({preset.name})") as bar:
        result = evaluate_model(model, images, labels, progress=bar.update)
    per_class = result.per_class_accuracy()
    print(
        f"preset {preset.name}: k={preset.n_neighbors}, metric={preset.metric}, "
        f"weights={preset.weights}"
    )
    print(
        f"test error: {100 * result.error_rate:.2f} % "
        f"({int(np.sum(result.predictions != result.labels))} of {result.n_test} wrong)"
    )
    print(
        "per-class accuracy: "
        + "  ".join(
            f"{digit}: {100 * acc:.1f}%" for digit, acc in enumerate(per_class) if np.isfinite(acc)
        )
    )
    print(
        f"fit {fit_seconds:.2f} s, predict {result.predict_seconds:.2f} s "
        f"({result.n_test / result.predict_seconds:,.0f} images/s)"
    )
    if args.json:
        report = {
            "error_rate": result.error_rate,
            "n_test": result.n_test,
            "fit_seconds": fit_seconds,
            "predict_seconds": result.predict_seconds,
            "preset": preset.name,
            "params": dataclasses.asdict(preset),
            "per_class_accuracy": [None if not np.isfinite(a) else float(a) for a in per_class],
            "confusion_matrix": result.confusion.tolist(),
        }
        _write_json(Path(args.json), report)
    return 0


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    try:
        path.write_text(json.dumps(payload, indent=2) + "\n")
    except OSError as exc:
        raise KnnDigitsError(f"{path}: cannot write ({exc.strerror})") from None


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
PREDICT_BATCH = 256  # digits classified together: one search per batch; more batches get a bar
CSV_COLUMNS = ("file", "prediction", "confidence", "error")


def _image_paths(arguments: Sequence[str]) -> list[tuple[Path, str | None]]:
    """Files, folders (their images, sorted) and globs, in order: (path, problem or None).

    A folder or glob that yields no file becomes an entry with its problem, like an unreadable
    file, so that it is reported in its place while the others are still classified.
    """
    entries: list[tuple[Path, str | None]] = []
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            files = sorted(
                child
                for child in path.iterdir()
                if child.suffix.lower() in IMAGE_SUFFIXES and not child.name.startswith(".")
            )
            problem = "no image files (PNG, JPEG, WebP, BMP, GIF or TIFF) in this folder"
        elif not path.exists() and any(char in argument for char in "*?["):
            files = sorted(Path(match) for match in glob.glob(argument, recursive=True))
            problem = "no file matches this pattern"
        else:  # a file, or a missing one that reading will report
            entries.append((path, None))
            continue
        entries += [(file, None) for file in files if not file.is_dir()] or [(path, problem)]
    return entries


def _read_digit(path: Path) -> np.ndarray | str:
    """The image file as an MNIST-like digit, or what is wrong with it (without its name)."""
    from .preprocess import image_to_mnist, load_image

    try:
        return image_to_mnist(load_image(path))
    except ImageError as exc:
        return str(exc).removeprefix(f"{path.name}: ")


def _classify(entries: list[tuple[Path, str | None]], args: argparse.Namespace) -> Iterator[dict]:
    """One result per entry, in order, classifying the readable digits a batch at a time."""
    from .models import load_model
    from .neighbors import break_ties

    model = None  # loaded at the first readable digit: a run of broken files needs none
    for start in range(0, len(entries), PREDICT_BATCH):
        batch = entries[start : start + PREDICT_BATCH]
        read = [problem or _read_digit(path) for path, problem in batch]
        digits = [digit for digit in read if isinstance(digit, np.ndarray)]
        answers: Iterator[tuple[Any, np.ndarray]] = iter(())
        if digits:
            if model is None:
                model = load_model(
                    args.preset, data_dir=args.data_dir, references=args.references
                ).for_drawings()  # image files come through the drawing pipeline
            proba, _, indices = model.explain(np.stack(digits))
            # The model's tie rule (the nearest voter's digit), as predict() would: one search.
            answers = zip(break_ties(proba, model.train_labels_[indices]), proba, strict=True)
        for (path, _), digit in zip(batch, read, strict=True):
            if isinstance(digit, str):
                yield {"file": str(path), "digit": None, "confidence": None, "error": digit}
            else:
                answer, p = next(answers)
                yield {
                    "file": str(path),
                    "digit": int(answer),
                    "confidence": float(p[answer]),
                    "probabilities": [float(x) for x in p],
                    "error": None,
                }


def _csv_row(result: dict[str, Any]) -> list[Any]:
    """A result as the CSV's columns (``CSV_COLUMNS``), blank where it has no value."""
    if result["error"] is not None:
        return [result["file"], "", "", result["error"]]
    return [result["file"], result["digit"], f"{result['confidence']:.4f}", ""]


def _cmd_predict(args: argparse.Namespace) -> int:
    entries = _image_paths(args.images)
    results = []
    with contextlib.ExitStack() as stack:
        table = (
            csv.writer(stack.enter_context(open(args.csv, "w", newline=""))) if args.csv else None
        )
        if table is not None:
            table.writerow(CSV_COLUMNS)
        bar = None
        if len(entries) > PREDICT_BATCH:
            bar = stack.enter_context(_progress_bar(len(entries), "classifying"))
        for result in _classify(entries, args):
            results.append(result)
            if table is not None:
                table.writerow(_csv_row(result))
            if bar is not None:
                bar.update()
    failures = [row for row in results if row["error"] is not None]
    if args.json:
        print(json.dumps(results, indent=2))
    elif args.csv:
        print(f"{len(results) - len(failures)} classified, {len(failures)} failed: {args.csv}")
    else:
        for row in results:
            if row["error"] is None:
                print(f"{row['file']}: {row['digit']} ({100 * row['confidence']:.0f} %)")
    for row in failures:
        print(f"knn-digits: error: {row['file']}: {row['error']}", file=sys.stderr)
    return 1 if failures else 0


def _cmd_report(args: argparse.Namespace) -> int:
    from .paths import report_dir
    from .report import write_report

    bars: dict[str, Any] = {}

    def progress(step: str, done: int, total: int) -> None:
        """One bar per step, each closed when the next step starts."""
        if step not in bars:
            for bar in bars.values():
                bar.close()
            bars.clear()
            bars[step] = _progress_bar(total, step)
        bar = bars[step]
        bar.update(done - bar.n)

    try:
        html = write_report(
            args.preset,
            args.out or report_dir(args.preset),
            data_dir=args.data_dir,
            limit=args.limit,
            progress=progress,
        )
    finally:
        for bar in bars.values():
            bar.close()
    print(f"report written: {html}")
    return 0


def _cmd_app(args: argparse.Namespace) -> int:
    from .app import launch

    public = args.public or not is_loopback(args.host)
    if public and not args.public:
        print(
            f"Serving {args.host} to the network: public mode, each visitor's samples are "
            "their own (--public; see the README).",
            file=sys.stderr,
        )
    limits = Limits(
        teach_per_minute=args.teach_per_minute,
        samples_per_visitor=args.samples_per_visitor,
        samples_in_total=args.samples_in_total,
    )
    launch(
        host=args.host,
        port=args.port,
        preset=args.preset,
        store_path=args.store,
        references=args.references,
        public=public,
        limits=limits,
    )
    return 0


def _cmd_download(args: argparse.Namespace) -> int:
    from .datasets import download

    bars: list[Any] = []

    def progress(name: str, total: int | None) -> Callable[[int], None]:
        bar = _progress_bar(total, name)
        bar.unit, bar.unit_scale = "B", True
        bars.append(bar)
        return bar.update

    try:
        paths = download(args.dest, args.dataset, mirrors=args.mirror, progress=progress)
    finally:
        for bar in bars:
            bar.close()
    for path in paths:
        print(f"{path}: verified")
    return 0


def _parser() -> argparse.ArgumentParser:
    from .models import DEFAULT_PRESET, PRESETS

    parser = argparse.ArgumentParser(
        prog="knn-digits",
        description="A from-scratch k-nearest-neighbour classifier for handwritten digits.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def data_dir_option(command: argparse.ArgumentParser) -> None:
        command.add_argument(
            "--data-dir",
            metavar="DIR",
            help="folder with the MNIST IDX files (canonical or Kaggle names); "
            "default: the copy shipped with the package",
        )

    def references_option(command: argparse.ArgumentParser) -> None:
        command.add_argument(
            "--references",
            nargs="+",
            default=[],
            metavar="PATH",
            help="more labelled digits for the model: IDX image files (labels file beside) "
            "or UNIPEN pen files, e.g. other writers' digits",
        )

    def preset_option(command: argparse.ArgumentParser, default: str = DEFAULT_PRESET) -> None:
        command.add_argument(
            "--preset",
            choices=list(PRESETS),
            default=default,
            help=f"model preset (default: {default})",
        )

    evaluate = commands.add_parser("evaluate", help="measure the test error on MNIST")
    preset_option(evaluate, default="raw")  # the plain baseline, which --k/--metric adjust
    evaluate.add_argument("--k", type=int, help="number of neighbours (overrides the preset)")
    evaluate.add_argument(
        "--metric",
        choices=["euclidean", "manhattan", "cosine", "minkowski"],
        help="distance (overrides the preset; minkowski uses --p)",
    )
    evaluate.add_argument("--p", type=float, help="Minkowski exponent, e.g. 3 for L3")
    evaluate.add_argument("--weights", choices=["uniform", "distance"], help="vote weighting")
    evaluate.add_argument("--limit", type=int, metavar="N", help="classify only the first N")
    evaluate.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    data_dir_option(evaluate)
    references_option(evaluate)
    evaluate.set_defaults(run=_cmd_evaluate)

    predict = commands.add_parser(
        "predict",
        help="classify image files (PNG, JPEG, …), folders of them and globs",
        description="Classify one digit per image. An unreadable file is reported (and its CSV "
        "row says why) while the others are still classified; the exit code is then 1.",
    )
    predict.add_argument(
        "images",
        nargs="+",
        metavar="PATH",
        help="an image file, a folder (its images, not subfolders) or a glob such as 'scans/*.png'",
    )
    preset_option(predict)
    predict.add_argument("--json", action="store_true", help="print JSON instead of text")
    predict.add_argument(
        "--csv",
        metavar="OUT",
        help="write one row per image to OUT: file,prediction,confidence,error",
    )
    data_dir_option(predict)
    references_option(predict)
    predict.set_defaults(run=_cmd_predict)

    report = commands.add_parser("report", help="write an evaluation report (HTML, figures, JSON)")
    preset_option(report)
    report.add_argument(
        "--out",
        metavar="DIR",
        help="folder to write (default: the app's report folder for the preset, "
        "$KNN_DIGITS_HOME/reports/PRESET or the user data directory)",
    )
    report.add_argument("--limit", type=int, metavar="N", help="classify only the first N")
    data_dir_option(report)
    report.set_defaults(run=_cmd_report)

    app = commands.add_parser("app", help="start the Gradio web app")
    app.add_argument("--host", default="127.0.0.1")
    app.add_argument("--port", type=int, default=7860)
    preset_option(app)
    references_option(app)
    app.add_argument(
        "--store",
        metavar="PATH",
        help="SQLite file for taught samples (default: $KNN_DIGITS_HOME or the "
        "user data directory)",
    )
    app.add_argument(
        "--public",
        action="store_true",
        help="serve other people: each visitor's samples are their own (automatic when "
        "--host is not a loopback address)",
    )
    defaults = Limits()
    for option, default, what in (
        ("--teach-per-minute", defaults.teach_per_minute, "teachings per visitor a minute"),
        ("--samples-per-visitor", defaults.samples_per_visitor, "samples one visitor may keep"),
        ("--samples-in-total", defaults.samples_in_total, "samples all visitors may keep"),
    ):
        app.add_argument(
            option, type=int, default=default, metavar="N", help=f"public mode: {what}"
        )
    app.set_defaults(run=_cmd_app)

    download = commands.add_parser("download", help="fetch and verify the MNIST files")
    download.add_argument("--dest", required=True, metavar="DIR")
    download.add_argument("--dataset", default="mnist", choices=["mnist"])
    download.add_argument(
        "--mirror",
        action="append",
        metavar="URL",
        help="base URL to try (repeatable; default: the public mirrors)",
    )
    download.set_defaults(run=_cmd_download)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (KnnDigitsError, ValueError) as exc:
        print(f"knn-digits: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"knn-digits: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("knn-digits: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
