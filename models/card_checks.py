"""Bounded reading and range checks of model cards (the JSON inside a model package).

A card comes from a file anyone may have made, so it is read with limits: its size, its
nesting depth and the digits of its integers are capped before or while the JSON is parsed
(a hostile card can neither exhaust the stack nor spend minutes converting a huge number), and
every numeric field is checked against the range it can really take (a gsd of NaN or 1e308,
a tile of a billion pixels or a 5000-class model are refused with the field's valid range).
"""
from __future__ import annotations

import json
import math
from numbers import Real

from .errors import PackageError

MAX_CARD_CHARACTERS = 1_000_000
MAX_DEPTH = 12
MAX_INTEGER_DIGITS = 18
MAX_NAME_CHARACTERS = 200
MAX_BANDS = 256
MAX_CLASSES = 255
#: largest absolute value of a config number without a range of its own
MAX_CONFIG_NUMBER = 1_000_000
#: valid ranges of the numbers the engine sizes memory and grids with: (low, high) inclusive
CONFIG_RANGES = {"bands": (1, MAX_BANDS), "ms_bands": (1, MAX_BANDS), "classes": (1, MAX_CLASSES),
                 "ratio": (1, 32), "input_size": (8, 4096), "global_size": (8, 4096),
                 "multiple_of": (1, 1024)}
GSD_RANGE = (1e-4, 100_000.0)
RATIO_RANGE = (1, 32)
TILE_RANGE = (16, 8192)
#: config keys the tasks read directly, by task
REQUIRED_CONFIG = {"dehazing": ("bands",), "segmentation": ("bands",),
                   "classification": ("input_size",), "pansharpening": ("ms_bands",)}


class _TooManyDigits(ValueError):
    pass


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise _TooManyDigits(text[:12])
    return int(text)


def nesting_depth(text: str) -> int:
    """The deepest nesting of JSON arrays and objects in `text` (brackets inside strings skipped)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def parse_card_json(text: str, source: str) -> dict:
    """The card's JSON object, read within the size, depth and digit limits; PackageError
    naming `source` otherwise."""
    if not isinstance(text, str):
        raise PackageError(f"{source}: the model card is not text.")
    if len(text) > MAX_CARD_CHARACTERS:
        raise PackageError(f"{source}: the model card has {len(text):,} characters, more than "
                           f"the {MAX_CARD_CHARACTERS:,} a card may have; the file is damaged "
                           "or not a GeoDistill model.")
    if nesting_depth(text) > MAX_DEPTH:
        raise PackageError(f"{source}: the model card is nested deeper than {MAX_DEPTH} levels; "
                           "the file is damaged or not a GeoDistill model.")
    try:
        values = json.loads(text, parse_int=_bounded_int)
    except _TooManyDigits as error:
        raise PackageError(f"{source}: the model card holds an integer ({error}...) of more than "
                           f"{MAX_INTEGER_DIGITS} digits; the file is damaged or not a GeoDistill "
                           "model.") from None
    except (ValueError, RecursionError) as error:
        raise PackageError(f"{source}: the model card is not valid JSON ({error}).") from None
    if not isinstance(values, dict):
        raise PackageError(f"{source}: the model card must be a JSON object.")
    return values


def is_integer(value) -> bool:
    """True for an int that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value) -> bool:
    """True for a finite real number that is not a bool."""
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


def _range_problem(name: str, value, low, high, integer: bool) -> str | None:
    kind = "an integer" if integer else "a number"
    ok = (is_integer(value) if integer else is_number(value)) and low <= value <= high
    return None if ok else f"{name} must be {kind} from {low:g} to {high:g} (it is {_shown(value)})"


def _shown(value) -> str:
    text = json.dumps(value) if not isinstance(value, float) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _config_problems(task: str, config: dict) -> list[str]:
    problems = [f"config lacks '{key}' (what a {task} model needs to be used)"
                for key in REQUIRED_CONFIG.get(task, ()) if key not in config]
    for key, value in config.items():
        if key in CONFIG_RANGES:
            problems.append(_range_problem(f"config '{key}'", value, *CONFIG_RANGES[key], integer=True))
            continue
        for number in _numbers(value):
            if not is_number(number) or abs(number) > MAX_CONFIG_NUMBER:
                problems.append(f"config '{key}' holds {_shown(number)}, outside "
                                f"-{MAX_CONFIG_NUMBER:,} to {MAX_CONFIG_NUMBER:,}")
                break
    return [p for p in problems if p]


def _numbers(value):
    """Every number inside `value` (lists and objects walked; texts and booleans skipped)."""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        for item in value:
            yield from _numbers(item)
    elif isinstance(value, Real) and not isinstance(value, bool):
        yield value


def _scaling_problems(scaling) -> list[str]:
    if scaling is None:
        return []
    if not isinstance(scaling, dict) or not all(
            isinstance(s, dict) and isinstance(s.get("low"), list) and isinstance(s.get("high"), list)
            and len(s["low"]) == len(s["high"]) <= MAX_BANDS for s in scaling.values()):
        return [f"scaling must map each input to {{low: [...], high: [...]}} of equal length "
                f"(at most {MAX_BANDS})"]
    if not all(is_number(v) for s in scaling.values() for v in s["low"] + s["high"]):
        return ["scaling values must be finite numbers"]
    return []


def numeric_problems(card) -> list[str]:
    """What is out of range in the card's numeric fields (gsd, ratio, tile size, overlap,
    class ids, config numbers, scaling), each naming the field and its valid range."""
    problems = []
    if card.gsd is not None:
        problems.append(_range_problem("gsd (metres)", card.gsd, *GSD_RANGE, integer=False))
    if card.ratio is not None:
        problems.append(_range_problem("ratio", card.ratio, *RATIO_RANGE, integer=True))
    problems.append(_range_problem("tile_size", card.tile_size, *TILE_RANGE, integer=True))
    if is_integer(card.tile_size):
        problems.append(_range_problem("overlap", card.overlap, 0, card.tile_size - 1, integer=True))
    if isinstance(card.config, dict):
        problems.extend(_config_problems(card.task, card.config))
        if card.ratio is not None and card.config.get("ratio", card.ratio) != card.ratio:
            problems.append(f"ratio {_shown(card.ratio)} and config 'ratio' "
                            f"{_shown(card.config['ratio'])} disagree; they must be equal")
    problems.extend(_scaling_problems(card.scaling))
    if isinstance(card.classes, list):
        if len(card.classes) > MAX_CLASSES:
            problems.append(f"classes lists {len(card.classes)} classes; at most {MAX_CLASSES} "
                            "are supported")
        if any(isinstance(c, dict) and "id" in c and not (
                is_integer(c["id"]) and abs(c["id"]) < 2**31) for c in card.classes):
            problems.append("class ids must be integers from -2147483647 to 2147483647")
    if isinstance(card.name, str) and len(card.name) > MAX_NAME_CHARACTERS:
        problems.append(f"name must have at most {MAX_NAME_CHARACTERS} characters")
    return [p for p in problems if p]
