"""Planning a command line run: each scene's output path, its manifest entry as it would be
recorded, whether the existing output still matches (then it is skipped), and the windows a
large raster is split into."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..inference.alignment import input_grid
from ..inference.raster_io import open_raster
from .manifest import Entry, Manifest, file_signature
from .scene_tasks import SceneJob, describe_error
from .scenes import Scene
from .tools import Tool
from .windows import plan_windows


@dataclass
class RunPlan:
    """The jobs to run with the entries they will record, the scenes skipped as current, and
    the scenes that could not be planned (with the reason)."""

    jobs: list[SceneJob] = field(default_factory=list)
    entries: dict[str, Entry] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def plan_run(tool: Tool, scenes: list[Scene], output_dir: Path, values: dict, window_size: int,
             manifest: Manifest, threads: int) -> RunPlan:
    """Plan every scene (see the module docstring)."""
    plan = RunPlan()
    for scene in scenes:
        output = output_dir / f"{scene.name}{tool.suffix}"
        try:
            parameters = dict(tool.parameters(scene, values), window_size=window_size)
            wanted = Entry([file_signature(path) for path in scene.inputs], tool.name,
                           parameters, sha256="")
            if manifest.is_current(output, wanted):
                plan.skipped.append(scene.name)
                continue
            windows = _windows(tool, scene, parameters, window_size)
        except Exception as error:  # an unreadable input fails its scene only
            plan.failed.append((scene.name, describe_error(error)))
            continue
        manifest.forget(output)
        plan.entries[scene.name] = wanted
        plan.jobs.append(SceneJob(tool.name, scene, str(output), values, tuple(windows), threads))
    return plan


def _windows(tool: Tool, scene: Scene, parameters: dict, window_size: int):
    """The windows of a scene larger than `window_size` (none for a scene run whole)."""
    if not tool.windowed or parameters.get("adapt_iterations"):
        return []  # adapting to the scene is learned once per scene, not per window
    reference = tool.reference(scene)
    with open_raster(reference) as dataset:
        height, width = dataset.height, dataset.width
    if max(height, width) <= window_size:
        return []
    ratio = input_grid(reference, scene.inputs[0]).ratio if tool.pairs else 1
    plans = plan_windows(height, width, window_size, parameters.get("overlap", 0), ratio)
    return plans if len(plans) > 1 else []
