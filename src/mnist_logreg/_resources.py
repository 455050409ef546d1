"""Memory and disk estimated before big work, refused with the size needed and what there is.

The estimates are measured, not derived: a run's peak memory on this project's machines (2
cores), as a fixed part plus a part per element of the largest array the work holds.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .errors import ResourceLimitError

__all__ = ["ResourceError", "available_memory", "check_disk", "check_memory", "format_bytes"]


class ResourceError(ResourceLimitError, ValueError):
    """The work asked for needs more memory or disk than there is (the message says how much)."""


def format_bytes(n: float) -> str:
    """``n`` bytes in the largest binary unit that keeps it at 1 or more (``"4.3 GiB"``)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} EiB"  # pragma: no cover


def available_memory() -> int:
    """Bytes of memory available to new work: ``MemAvailable`` of ``/proc/meminfo`` (Linux), else
    the physical memory."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not a POSIX system
        return 1 << 62


def check_memory(needed: float, what: str) -> None:
    """Raise :class:`ResourceError` when ``needed`` bytes exceed the memory available."""
    there = available_memory()
    if needed > there:
        raise ResourceError(f"{what} needs about {format_bytes(needed)} of memory; this machine has "
                            f"{format_bytes(there)} available")


def check_disk(folder: str | os.PathLike[str], needed: float, what: str) -> None:
    """Raise :class:`ResourceError` when ``needed`` bytes exceed the free space where ``folder``
    (or its nearest existing parent) is."""
    place = Path(folder).absolute()
    while not place.exists() and place != place.parent:
        place = place.parent
    free = shutil.disk_usage(place).free
    if needed > free:
        raise ResourceError(f"{what} needs about {format_bytes(needed)} of disk; {place} has {format_bytes(free)} free")
