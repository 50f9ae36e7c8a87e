"""Run a GeoDistill tool over many scenes: `geodistill <tool> INPUT [INPUT ...] --output-dir DIR
[--workers N | --scheduler ADDRESS] [--window-size PX] [--threads N] [--<parameter> VALUE ...]`.

Outputs go to DIR/<scene>.tif (.gpkg for classify) and DIR/manifest.json; a rerun skips the
outputs that still match their entry. Progress goes to stderr, the summary to stdout. Exit
status: 0 when every scene is done or skipped, 1 when a scene failed, 2 for unusable arguments.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import GeoDistillError
from .manifest import Manifest
from .planning import plan_run
from .scene_tasks import Outcome, SceneJob
from .scenes import pair_scenes, single_scenes
from .tools import TOOLS, Option
from .virtual_paths import is_virtual

DEFAULT_WINDOW_SIZE = 4096
BAR_WIDTH = 24


@dataclass
class RunSummary:
    """What a run did: scenes done, skipped and failed (with reasons), tasks per worker,
    seconds and megapixels of the scenes done."""

    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    workers: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    megapixels: float = 0.0

    def lines(self) -> list[str]:
        """The summary for the user."""
        rate = len(self.done) / self.seconds if self.seconds else 0.0
        lines = [f"{len(self.done)} done, {len(self.skipped)} skipped, {len(self.failed)} failed "
                 f"in {self.seconds:.1f} s ({rate:.2f} scenes/s, "
                 f"{self.megapixels / max(self.seconds, 1e-9):.2f} Mpx/s)"]
        lines += [f"failed: {name}: {reason}" for name, reason in self.failed]
        lines += [f"worker {name}: tasks of {count} scene(s)"
                  for name, count in sorted(self.workers.items())]
        return lines


def _band_list(text: str) -> list[int]:
    try:
        bands = [int(token) for token in text.replace(";", ",").split(",") if token.strip()]
    except ValueError:
        bands = []
    if not bands or min(bands) < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a list of band numbers such as 3,2,1")
    return bands


_KINDS = {"int": int, "float": float, "text": str, "bands": _band_list}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser: one sub-command per tool with that tool's options."""
    parser = argparse.ArgumentParser(prog="geodistill", description=__doc__.split("\n\n")[0])
    tools = parser.add_subparsers(dest="tool", required=True, metavar="TOOL")
    for tool in TOOLS.values():
        sub = tools.add_parser(tool.name, help=f"{tool.name} every scene")
        sub.add_argument("inputs", nargs="+", metavar="INPUT",
                         help="rasters or folders of rasters" + (
                             " (MS/PAN pairs matched by name, or CSV files with ms,pan columns)"
                             if tool.pairs else ""))
        sub.add_argument("--output-dir", required=True, type=Path, metavar="DIR",
                         help="folder for the outputs and manifest.json")
        where = sub.add_mutually_exclusive_group()
        where.add_argument("--workers", type=int, metavar="N",
                           help="run on a local Dask cluster of N worker processes")
        where.add_argument("--scheduler", metavar="ADDRESS",
                           help="run on the Dask cluster whose scheduler is at ADDRESS")
        sub.add_argument("--threads", type=int, default=os.cpu_count() or 1, metavar="N",
                         help="torch threads of every task, in one process and on every worker "
                              "alike, so that pixels do not depend on where a task ran "
                              "(default: this machine's cores)")
        sub.add_argument("--window-size", type=int, default=DEFAULT_WINDOW_SIZE, metavar="PX",
                         help="split rasters larger than this many pixels a side into windows "
                              f"run as separate tasks (default {DEFAULT_WINDOW_SIZE})")
        for option in tool.options:
            _add_option(sub, option)
    return parser


def _add_option(parser: argparse.ArgumentParser, option: Option) -> None:
    parser.add_argument(option.flag, f"--{option.name}", dest=option.field,
                        type=_KINDS[option.kind], metavar="VALUE",
                        help=f"{option.name}: {option.help}")


class Progress:
    """A text progress bar on stderr, one line per finished scene."""

    def __init__(self, total: int, stream=None):
        self.total, self.count, self.stream = total, 0, stream or sys.stderr

    def finished(self, name: str, outcome: Outcome) -> None:
        """Report one finished scene."""
        self.count += 1
        filled = BAR_WIDTH * self.count // max(self.total, 1)
        state = f"failed: {outcome.error}" if outcome.error else f"done in {outcome.seconds:.1f} s"
        print(f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {self.count}/{self.total} "
              f"{name}: {state}", file=self.stream, flush=True)


def run(argv: list[str] | None = None) -> RunSummary:
    """Parse `argv`, run the tool over every scene and return the summary (raises
    GeoDistillError for arguments that cannot be used, SystemExit for malformed ones)."""
    args = build_parser().parse_args(argv)
    tool = TOOLS[args.tool]
    if args.workers is not None and args.workers < 1:
        raise GeoDistillError("--workers must be 1 or more.")
    if args.threads < 1:
        raise GeoDistillError("--threads must be 1 or more.")
    if args.window_size < 64:
        raise GeoDistillError("--window-size must be at least 64 pixels.")
    values = {option.field: getattr(args, option.field) for option in tool.options
              if getattr(args, option.field) is not None}
    found = pair_scenes(args.inputs) if tool.pairs else single_scenes(args.inputs)
    if is_virtual(str(args.output_dir)):
        raise GeoDistillError(f"--output-dir {args.output_dir}: outputs are written to a folder on "
                              f"a filesystem (a shared one for a cluster); GDAL virtual paths "
                              f"(/vsi...) are for inputs only.")
    try:
        args.output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise GeoDistillError(f"Cannot create the output folder {args.output_dir}: "
                              f"{error.strerror}.") from error
    manifest = Manifest(args.output_dir)
    plan = plan_run(tool, found.scenes, args.output_dir, values, args.window_size, manifest,
                    args.threads)
    summary = RunSummary(skipped=plan.skipped, failed=found.problems + plan.failed)
    progress = Progress(len(plan.jobs))
    started = time.perf_counter()

    def on_finish(job: SceneJob, outcome: Outcome) -> None:
        progress.finished(job.scene.name, outcome)
        for name in outcome.workers:
            summary.workers[name] = summary.workers.get(name, 0) + 1
        if outcome.error:
            summary.failed.append((job.scene.name, outcome.error))
            return
        entry = plan.entries[job.scene.name]
        entry.sha256, entry.workers, entry.seconds = outcome.sha256, outcome.workers, outcome.seconds
        manifest.record(Path(job.output), entry)
        summary.done.append(job.scene.name)
        summary.megapixels += outcome.megapixels

    if plan.jobs and (args.workers or args.scheduler):
        from .runners import run_on_dask
        run_on_dask(plan.jobs, on_finish, workers=args.workers, scheduler=args.scheduler)
    elif plan.jobs:
        from .runners import run_locally
        run_locally(plan.jobs, on_finish)
    summary.seconds = time.perf_counter() - started
    return summary


def main(argv: list[str] | None = None) -> int:
    """The command line entry point; returns the exit status."""
    try:
        summary = run(argv)
    except GeoDistillError as error:
        print(f"geodistill: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # e.g. the manifest could not be saved
        print(f"geodistill: {error.strerror or error}: {error.filename or ''}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("geodistill: stopped. Finished outputs are in the manifest; a rerun goes on "
              "from there.", file=sys.stderr)
        return 130
    print("\n".join(summary.lines()))
    return 1 if summary.failed else 0
