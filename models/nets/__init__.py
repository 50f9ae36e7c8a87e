"""Registry of network architectures: a name maps to a config dataclass and an `nn.Module`.

A model card stores the architecture name and its config as a dict, so
`build(card.architecture, card.config)` recreates the net. Each net module registers itself
with `@register("name", ConfigClass)`; the modules are listed in `_MODULES` and imported on
first use so that importing this package stays cheap.
"""
from __future__ import annotations

import dataclasses
import importlib

_MODULES: tuple[str, ...] = ("psdnet", "pansharpen_lite", "pansharpen_teachers", "ginet", "ktdn",
                             "classifiers", "efficientnet_classifier")
_REGISTRY: dict[str, tuple[type, type]] = {}
_loaded = False


def register(name: str, config_class: type):
    """Class decorator registering a net class under `name` with its config dataclass."""

    def decorate(net_class: type) -> type:
        _REGISTRY[name] = (config_class, net_class)
        return net_class

    return decorate


def _load_all() -> None:
    global _loaded
    if not _loaded:
        for module in _MODULES:
            importlib.import_module(f"{__name__}.{module}")
        _loaded = True


def architecture_names() -> list[str]:
    """Sorted names of every registered architecture."""
    _load_all()
    return sorted(_REGISTRY)


def is_known(name: str) -> bool:
    """True when `name` is a registered architecture."""
    _load_all()
    return name in _REGISTRY


def config_from_dict(name: str, values: dict):
    """The config dataclass of architecture `name` filled from `values` (unknown keys refused)."""
    _load_all()
    if name not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise KeyError(f"unknown architecture '{name}' (known: {known})")
    config_class = _REGISTRY[name][0]
    field_names = {f.name for f in dataclasses.fields(config_class)}
    unknown = sorted(set(values) - field_names)
    if unknown:
        raise KeyError(f"architecture '{name}' has no config field(s) {', '.join(unknown)}")
    return config_class(**values)


def build(name: str, config: dict | object):
    """Instantiate architecture `name` from a config dataclass or a dict of its fields."""
    if isinstance(config, dict):
        config = config_from_dict(name, config)
    else:
        _load_all()
    return _REGISTRY[name][1](config)
