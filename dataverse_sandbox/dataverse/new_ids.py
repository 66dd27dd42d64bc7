"""Ids for records the service creates itself: ascending in SQL Server's ``uniqueidentifier`` order, as Dataverse's.

Dataverse assigns sequential ids: the two ids of its ``CreateMultiple`` example (Learn, bulk operation messages) are
``8f4c3f92-312b-ee11-bdf4-000d3a993550`` and ``904c3f92-312b-ee11-bdf4-000d3a993550``, each greater than the last in
the order of :mod:`.guid_order`, so a table's primary-key index grows at its end (random ids made each insert touch
another page of it). The sandbox's ids ascend in the same order but count in the last six bytes, which that order
compares first, instead of in the first four (``NEWSEQUENTIALID``'s layout): the same order, and the sandbox's
collation decides a comparison on that group alone. The other ten bytes are random, fixed per sandbox process (as
each Dataverse server has its own), and the count starts from the time the process started, in 10-microsecond ticks.
Not for the order itself: :mod:`.guid_order`.
"""

from __future__ import annotations

import os
import threading
import time

__all__ = ["SequentialIds", "next_record_id"]

_LAST_SIX_BYTES = (1 << 48) - 1


class SequentialIds:
    """Makes ids that ascend in SQL Server's order. Thread-safe."""

    def __init__(self) -> None:
        server = os.urandom(10).hex()
        self._server = f"{server[:8]}-{server[8:12]}-{server[12:16]}-{server[16:20]}-"
        self._count = time.time_ns() // 10_000
        self._lock = threading.Lock()

    def __call__(self) -> str:
        """:returns: a new id, greater in SQL Server's order than every id made before."""
        with self._lock:
            self._count += 1
            count = self._count
        return f"{self._server}{count & _LAST_SIX_BYTES:012x}"


next_record_id = SequentialIds()
"""The sandbox's generator for the ids of records a request creates without its own."""
