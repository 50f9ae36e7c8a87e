"""Splitting a large raster into windows that run as separate tasks, and writing their
results into one output.

Each window has a core (the pixels it contributes) and a region that runs: the core widened
by at least the engine's overlap on each side (shifted inward at the raster's edges), all
regions of one size, so pixels near a core's edge are computed with context around them.
Every window runs the whole task (whole-scene scaling and global views are computed from the
entire raster, see `run_tiled(region=...)`) on its region and writes a part file; `assemble`
copies each part's core into the output. The plan depends only on the raster's size, the
window size and the overlap, so a run in one process and a run on a cluster compute exactly
the same windows and give the same pixels.
"""
from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import rasterio
from rasterio.enums import MaskFlags, Resampling
from rasterio.windows import Window

from ..inference.raster_writer import RasterDescription, RasterWriter, read_class_entries

#: window edges are kept on multiples of this (times a pansharpening ratio): GeoTIFF blocks
ALIGN = 16
#: a last window shorter than this share of the window size joins the one before it
MIN_LAST_SHARE = 0.25
#: rows copied per write when assembling
COPY_ROWS = 1024


@dataclass(frozen=True)
class WindowPlan:
    """One window of a split raster: its index, its core and the region that runs."""

    index: int
    core: Window
    region: Window


def _axis_cuts(length: int, size: int) -> list[tuple[int, int]]:
    if length <= size:
        return [(0, length)]
    starts = list(range(0, length, size))
    if len(starts) > 1 and length - starts[-1] < size * MIN_LAST_SHARE:
        starts.pop()
    return [(start, end) for start, end in zip(starts, starts[1:] + [length])]


def plan_windows(height: int, width: int, window_size: int, overlap: int,
                 multiple: int = 1) -> list[WindowPlan]:
    """Windows of at most about `window_size` pixels a side covering a (height, width) raster,
    with edges on multiples of ALIGN * `multiple` and regions `overlap` pixels (rounded up to
    that multiple) wider; one window when the raster fits in `window_size`."""
    align = math.lcm(ALIGN, multiple)
    size = max(window_size // align * align, align)
    halo = -(-overlap // align) * align
    rows, cols = _axis_cuts(height, size), _axis_cuts(width, size)
    # every region has the same side (as far as the raster allows): a region narrower than
    # its tiles would have them reach past the raster's edge, where the reader pads
    span = max(end - start for start, end in rows + cols) + 2 * halo
    plans = []
    for top, bottom in rows:
        first_row, last_row = _context(top, bottom, height, span)
        for left, right in cols:
            first_col, last_col = _context(left, right, width, span)
            plans.append(WindowPlan(len(plans), Window(left, top, right - left, bottom - top),
                                    Window(first_col, first_row, last_col - first_col,
                                           last_row - first_row)))
    return plans


def _context(start: int, end: int, length: int, span: int) -> tuple[int, int]:
    """The region of `span` pixels (at most `length`) around a core [start, end), centred on
    it and shifted inward at the raster's edges."""
    size = min(span, length)
    first = min(max(start - (size - (end - start)) // 2, 0), length - size)
    return first, first + size


def part_folder(output: Path) -> Path:
    """The hidden folder beside `output` where the window parts of it are written."""
    return output.with_name(f".{output.stem}.parts")


def part_path(output: Path, plan: WindowPlan) -> Path:
    """The part file of one window of `output`."""
    return part_folder(output) / f"window-{plan.index:05d}{output.suffix}"


def assemble(output: Path, reference: str, plans: list[WindowPlan]) -> Path:
    """Write `output` on the grid of `reference` from the part files of `plans` (each part's
    core), with the parts' data type, nodata, band names, mask, tags and overview resampling;
    the parts are deleted afterwards."""
    parts = [part_path(output, plan) for plan in plans]
    with rasterio.open(reference) as grid, rasterio.open(parts[0]) as first:
        profile = first.profile
        profile.update(height=grid.height, width=grid.width, transform=grid.transform)
        descriptions = [name or "" for name in first.descriptions]
        tags = first.tags()
        resampling = first.tags(ns="rio_overview").get("resampling", "nearest")
        masked = MaskFlags.per_dataset in first.mask_flag_enums[0]
    description = RasterDescription(band_names=descriptions, classes=read_class_entries(parts[0]),
                                    tags=tags, mask=masked)
    with RasterWriter(output, profile, description) as writer:
        for plan, part in zip(plans, parts):
            with rasterio.open(part) as source:
                _copy_core(source, writer, plan, masked)
        writer.build_overviews(Resampling[resampling])
        writer.commit()
    shutil.rmtree(part_folder(output), ignore_errors=True)
    return output


def _copy_core(source, writer: RasterWriter, plan: WindowPlan, masked: bool) -> None:
    core, region = plan.core, plan.region
    row_shift, col_shift = core.row_off - region.row_off, core.col_off - region.col_off
    for row in range(0, core.height, COPY_ROWS):
        rows = min(COPY_ROWS, core.height - row)
        window = Window(col_shift, row_shift + row, core.width, rows)
        writer.write(source.read(window=window), core.row_off + row, core.col_off)
        if masked:
            writer.write_mask(source.dataset_mask(window=window) > 0, core.row_off + row,
                              core.col_off)
