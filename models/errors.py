"""Errors raised by `models`: each message is written for the user and says what to fix.

The plugin maps every `GeoDistillError` to a `QgsProcessingException` with the same text.
"""


class GeoDistillError(Exception):
    """Base class of all errors whose message a user can act on."""


class InputError(GeoDistillError):
    """An input raster, vector or parameter cannot be used as given."""


class PackageError(GeoDistillError):
    """A model package is missing, malformed, tampered with or of an unknown architecture."""


class DeviceError(GeoDistillError):
    """The requested compute device does not exist or cannot be used."""


class Cancelled(GeoDistillError):
    """The user cancelled the run; partial outputs have been removed."""
