"""The categories of the errors this package raises for faults a user can fix.

Every documented fault is an instance of :class:`MnistLogregError` and of one category below.
The modules keep their own classes (``images.ImageError``, ``modelio.ModelFileError``, ...);
each also subclasses a category here, and keeps its builtin base (``ValueError`` mostly), so
``except ValueError`` still catches what it caught before.

The command line and the web page answer by category, never by message text: the exit status
is the class's :attr:`~MnistLogregError.exit_code`, the HTTP status its
:attr:`~MnistLogregError.http_status`.

========================  ====================================================  =====  ====
category                  what went wrong                                       exit   HTTP
========================  ====================================================  =====  ====
:class:`InputError`       a bad option, image, model file or output path        2      400
:class:`OptionError`      a bad option or parameter value (also a ValueError)   2      400
:class:`NoDigitError`     an image was read but holds no digit to read          2      422
:class:`ResourceLimitError`  more memory or disk than there is                  2      503
:class:`DataError`        a data source, cache or store gave no valid data      2      502
========================  ====================================================  =====  ====

This module is the bottom layer: it imports nothing from the package.
"""

from __future__ import annotations

__all__ = ["DataError", "InputError", "MnistLogregError", "NoDigitError", "OptionError", "ResourceLimitError"]


class MnistLogregError(Exception):
    """A fault the user can fix (or wait out); the message says what and where, in one line.

    Attributes
    ----------
    exit_code : int
        The command line's exit status for it (2: the user's fault, as argparse's).
    http_status : int
        The web page's HTTP status for it.
    """

    exit_code: int = 2
    http_status: int = 400


class InputError(MnistLogregError):
    """Bad input from the user: an option, an image, a model file, an output path."""

    exit_code = 2
    http_status = 400


class OptionError(InputError, ValueError):
    """A bad option or parameter value (``--C -1``, ``--task digit:12``); a ``ValueError`` too."""


class NoDigitError(InputError):
    """An image was read, but there is no digit in it to read (it is blank)."""

    http_status = 422


class ResourceLimitError(MnistLogregError):
    """The work needs more memory or disk than there is; the message says how much."""

    exit_code = 2
    http_status = 503


class DataError(MnistLogregError):
    """A data source, a cache or a store could not deliver valid data (network, checksum, format)."""

    exit_code = 2
    http_status = 502
