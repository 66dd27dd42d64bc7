"""What a benchmark's measuring process reports about itself: its peak resident set size, and a digest of the record
ids it read (so that every side of a comparison can be shown to have read the same set).

The functions import what they need inside, so that their source text (:data:`DRIVER_PRELUDE`) also runs at the top
of a driver script in a peer's own virtual environment, which cannot import this package. Not for running children:
:mod:`benchmarks.children`.
"""

from __future__ import annotations

import inspect

__all__ = ["DRIVER_PRELUDE", "id_digest", "peak_mb"]


def peak_mb() -> float:
    """:returns: this process's peak resident set size in MB: ``VmHWM``, the process image's own peak (``ru_maxrss``,
    the fallback where ``/proc`` is missing, would also count the parent's memory at fork time).
    """
    import resource

    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def id_digest(ids: list[str]) -> dict[str, object]:
    """:returns: ``records``, ``distinct`` and ``digest`` (SHA-256 of the sorted ids, one per line)."""
    import hashlib

    ordered = sorted(ids)
    digest = hashlib.sha256("\n".join(ordered).encode()).hexdigest()
    return {"records": len(ordered), "distinct": len(set(ordered)), "digest": digest}


DRIVER_PRELUDE = inspect.getsource(peak_mb) + "\n\n" + inspect.getsource(id_digest)
"""Both functions as source text, for a driver script that runs where this package cannot be imported."""
