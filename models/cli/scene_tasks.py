"""The units of work of a command line run, as plain functions of picklable values so that
they run the same in this process or on a Dask worker: a whole scene, one window of a split
scene, and the assembly of a split scene's windows. They never raise: a failure comes back as
an outcome with the reason, so one failed scene never stops the others."""
from __future__ import annotations

import logging
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import rasterio

from ..errors import GeoDistillError
from ..inference.scene_memo import shared_scene_results
from ..tasks.callbacks import Callbacks
from .manifest import sha256_of
from .scenes import Scene
from .tools import TOOLS, window_area
from .windows import WindowPlan, assemble, part_folder, part_path

#: the sub-folder of a split scene's part folder that holds its shared whole-scene results
SCENE_RESULTS = "scene"
#: a child of Dask's logger, so that a `dask worker` logs which scenes it ran (silent elsewhere)
LOG = logging.getLogger("distributed.geodistill")


@dataclass(frozen=True)
class SceneJob:
    """What to do with one scene: the tool, its option values, where the output goes, the
    windows of a split raster (empty: one task) and the torch threads of each task (the same
    everywhere: reductions such as global pooling are split by thread, so their float results,
    and rarely a rounded pixel, depend on the thread count)."""

    tool: str
    scene: Scene
    output: str
    values: dict
    windows: tuple[WindowPlan, ...] = ()
    threads: int = 1


@dataclass
class Outcome:
    """How a task went: the error message (None when it worked), the output's sha256, the
    workers it ran on, its seconds and the megapixels of its reference grid."""

    error: str | None = None
    sha256: str = ""
    workers: list[str] = field(default_factory=list)
    seconds: float = 0.0
    megapixels: float = 0.0


def worker_name() -> str:
    """The Dask worker running this task, or "local" outside a Dask worker."""
    distributed = sys.modules.get("distributed")  # never imported here for a local run
    if distributed is None:
        return "local"
    try:
        return distributed.get_worker().address
    except ValueError:
        return "local"


def describe_error(error: BaseException) -> str:
    """One line for the user: the message of our errors, the type and message of others."""
    if isinstance(error, GeoDistillError):
        return str(error)
    if isinstance(error, rasterio.errors.RasterioError):
        return f"cannot read or write a raster: {error}"
    return f"{type(error).__name__}: {error}"


def _set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _megapixels(path: str) -> float:
    with rasterio.open(path) as dataset:
        return dataset.height * dataset.width / 1e6


def run_scene(job: SceneJob) -> Outcome:
    """Run the tool over the whole scene and write its output."""
    started = time.perf_counter()
    tool = TOOLS[job.tool]
    try:
        _set_threads(job.threads)
        tool.run(tool.request(job.scene, job.output, job.values), job.output, Callbacks())
        LOG.info("geodistill %s: %s done", job.tool, job.scene.name)
        return Outcome(sha256=sha256_of(job.output), workers=[worker_name()],
                       seconds=time.perf_counter() - started,
                       megapixels=_megapixels(tool.reference(job.scene)))
    except Exception as error:  # reported per scene; the run goes on
        return Outcome(error=describe_error(error), workers=[worker_name()])


def run_window(job: SceneJob, plan: WindowPlan, after: Outcome | None = None) -> Outcome:
    """Run the tool over one window's region of the scene and write the window's part file.

    The whole-scene results every window needs (scaling statistics, global views, METHOD=auto's
    choice) are kept in the scene's part folder: the first window computes them and the others
    load them (`after`, the first window's outcome, only orders the tasks on a cluster)."""
    started = time.perf_counter()
    tool = TOOLS[job.tool]
    try:
        _set_threads(job.threads)
        part = part_path(Path(job.output), plan)
        part.parent.mkdir(exist_ok=True)
        area = window_area(tool.reference(job.scene), plan.region)
        with shared_scene_results(part.parent / SCENE_RESULTS):
            tool.run(tool.request(job.scene, part, job.values, area), str(part), Callbacks())
        LOG.info("geodistill %s: %s window %d done", job.tool, job.scene.name, plan.index + 1)
        return Outcome(workers=[worker_name()], seconds=time.perf_counter() - started,
                       megapixels=plan.core.height * plan.core.width / 1e6)
    except Exception as error:  # reported with its scene
        return Outcome(error=f"window {plan.index + 1}: {describe_error(error)}",
                       workers=[worker_name()])


def assemble_windows(job: SceneJob, *windows: Outcome) -> Outcome:
    """Write the scene's output from its window parts (or report the first failed window)."""
    started = time.perf_counter()
    workers = sorted({name for outcome in windows for name in outcome.workers} | {worker_name()})
    failed = [outcome.error for outcome in windows if outcome.error]
    try:
        if failed:
            return Outcome(error=failed[0], workers=workers)
        assemble(Path(job.output), TOOLS[job.tool].reference(job.scene), list(job.windows))
        LOG.info("geodistill %s: %s assembled from %d windows", job.tool, job.scene.name,
                 len(job.windows))
        return Outcome(sha256=sha256_of(job.output), workers=workers,
                       seconds=sum(o.seconds for o in windows) + time.perf_counter() - started,
                       megapixels=sum(o.megapixels for o in windows))
    except Exception as error:  # reported per scene
        return Outcome(error=describe_error(error), workers=workers)
    finally:
        shutil.rmtree(part_folder(Path(job.output)), ignore_errors=True)
