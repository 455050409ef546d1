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

from collections.abc import Callable
from string import Template

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


class _Names(dict):  # type: ignore[type-arg]
    """A mapping that names each option by ``name_of(option)`` (default: the option itself)."""

    def __init__(self, name_of: Callable[[str], str] | None = None) -> None:
        super().__init__()
        self.name_of = name_of or (lambda option: option)

    def __missing__(self, key: str) -> str:
        return self.name_of(key)


class OptionError(InputError, ValueError):
    """A bad option or parameter value (``--C -1``, ``--task digit:12``); a ``ValueError`` too.

    Made by :meth:`naming`, the message names options as ``$name``: the library's message shows
    the parameter's name (``worker_memory``), the command line its flag (``--worker-memory``,
    :meth:`message_naming`), so that library errors never speak of flags.
    """

    template: str | None = None

    @classmethod
    def naming(cls, template: str) -> OptionError:
        """An error whose ``template`` names options as ``$name`` (``string.Template``'s syntax).

        Parameters
        ----------
        template : str
            The message, ``$option`` (or ``${option}``) where an option is named.

        Returns
        -------
        OptionError
            Its message shows each option by its parameter name.
        """
        exc = cls(Template(template).safe_substitute(_Names()))
        exc.template = template
        return exc

    def message_naming(self, name_of: Callable[[str], str]) -> str:
        """The message with each option named by ``name_of(option)`` (the CLI: its flag).

        Parameters
        ----------
        name_of : callable
            Maps a parameter name to what the reader knows it as.

        Returns
        -------
        str
        """
        if self.template is None:
            return str(self)
        return Template(self.template).safe_substitute(_Names(name_of))


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
