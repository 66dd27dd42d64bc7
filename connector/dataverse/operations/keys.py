"""Client-assigned primary keys: where the id of a record a create (or an upsert) writes comes from.

A create whose body carries the record's primary key can be sent again, or its record read back, without making a
second record (:mod:`connector.dataverse.operations.creates`, :mod:`connector.dataverse.operations.resends`). The key
comes from, in this order:

* the document's own primary key member;
* with the option ``key_source_field``, a **name-based UUID** (RFC 4122 version 5) of the table's logical name and
  the document's value of that field, the record's id in the source system:
  ``uuid5(RECORD_KEY_NAMESPACE, "<logical name>:<value>")``. The same source record gives the same id in every run
  and on every worker, so re-running a job that stopped midway writes each record once (a record already written is
  refused as a duplicate and found by reading it back), and any other system can compute the id
  (:data:`RECORD_KEY_NAMESPACE` is fixed and documented);
* else, with ``client_keys`` (``always``, or ``bulk`` in bulk requests), a new key from :class:`SequentialKeys`:
  new on every run, so it makes a retry within a run safe but not a second run of the same input, which stores the
  records again. Its keys ascend in SQL Server's ``uniqueidentifier`` order, as the ids Dataverse assigns itself do,
  so the records of a job go to the end of the table's primary-key index instead of to random places in it.

Not for deciding what may be sent again (the transport and the operations do that) nor for alternate keys.
"""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Final

from connector.dataverse.operations.inputs import DocumentError

__all__ = ["RECORD_KEY_NAMESPACE", "SequentialKeys", "derived_key", "new_record_key", "source_key"]

RECORD_KEY_NAMESPACE: Final = uuid.UUID("3d81bada-3b0e-5423-af70-5947d30a7447")
"""The namespace of derived record ids: ``uuid5(NAMESPACE_URL, "https://schemas.dynamics365-ce-connector.invalid/
record-keys")``. It never changes: every id derived so far depends on it."""


def derived_key(logical_name: str, value: str) -> str:
    """The record id derived from a source system's id.

    :param logical_name: the table's logical name (``account``), so equal source ids in two tables differ.
    :param value: the source system's id, as text (a whole number in decimal).
    :returns: ``uuid5(RECORD_KEY_NAMESPACE, "<logical name>:<value>")``, lower-case.
    """
    return str(uuid.uuid5(RECORD_KEY_NAMESPACE, f"{logical_name}:{value}"))


def source_key(document: Mapping[str, Any], field: str, logical_name: str) -> str:
    """The record id a document's source field gives.

    :param document: the input document.
    :param field: the ``key_source_field`` option: the member holding the source system's id.
    :param logical_name: the table's logical name.
    :returns: the derived id.
    :raises DocumentError: naming ``field`` when the document lacks it, or its value is not text or a whole number
        (a number with a fraction, a boolean, an object: their text is not one id in every system).
    """
    value = document.get(field)
    if value is None:
        raise DocumentError(field, "is missing: the record's id is derived from it (option key_source_field)")
    if isinstance(value, bool) or not isinstance(value, str | int):
        kind = "a boolean" if isinstance(value, bool) else f"a {type(value).__name__}"
        raise DocumentError(field, f"must be text or a whole number to derive the record's id from, not {kind}")
    text = str(value)
    if not text.strip():
        raise DocumentError(field, "is blank: the record's id is derived from it (option key_source_field)")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise DocumentError(field, "is not valid Unicode text (a lone surrogate)") from None
    return derived_key(logical_name, text)


class SequentialKeys:
    """Makes new record keys that ascend in SQL Server's ``uniqueidentifier`` order. Thread-safe.

    SQL Server compares a ``uniqueidentifier`` by its last six bytes first, then bytes 8-9, then the rest (Learn,
    "Comparing GUID and uniqueidentifier Values"), and Dataverse's own ids ascend in that order (its
    ``CreateMultiple`` example answers ``8f4c3f92-…-000d3a993550`` then ``904c3f92-…-000d3a993550``). Random keys land
    all over a table's primary-key index: each insert touches another page, and many pages split. These keys carry,
    in their last six bytes, the time in milliseconds (42 bits: until the year 2109) and a count within that
    millisecond (6 bits), so one generator's keys strictly ascend and a job's records fill the end of the index; the
    other ten bytes are random but for the RFC 4122 version and variant digits, so keys of other generators,
    processes or machines in the same millisecond differ by 74 random bits. More than 64 keys in one millisecond
    borrow the next one.

    :param rng: the random source (one OS seed per generator: keys need to be unique, not unpredictable).
    :param clock: epoch seconds.
    """

    def __init__(self, rng: random.Random | None = None, clock: Callable[[], float] = time.time) -> None:
        self._random = rng or random.Random(os.urandom(32))  # noqa: S311 - record ids are not secrets
        self._clock = clock
        self._lock = threading.Lock()
        self._sequence = 0

    def reseed(self) -> None:
        """Draw a new random state from the OS (after a fork: a child must not repeat its parent's keys)."""
        with self._lock:
            self._random = random.Random(os.urandom(32))  # noqa: S311 - record ids are not secrets

    def __call__(self) -> str:
        """:returns: a new key, greater in SQL Server's order than every key this generator made before."""
        with self._lock:
            now = int(self._clock() * 1000) << _COUNT_BITS & _LAST_SIX_BYTES
            self._sequence = max(now, self._sequence + 1)
            value = self._random.getrandbits(80) << 48 | self._sequence
        # RFC 4122 version 4 and variant bits set, written directly: a bulk run makes one key per record, and a
        # uuid.UUID built only to be printed cost a quarter of a record's planning.
        digits = f"{value & _RANDOM_BITS | _VERSION_4:032x}"
        return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


_COUNT_BITS: Final = 6
_LAST_SIX_BYTES: Final = (1 << 48) - 1
_VERSION_4: Final = 0x4 << 76 | 0x2 << 62
"""The version digit (4) and the variant bits (``10``) of an RFC 4122 random UUID."""
_RANDOM_BITS: Final = ((1 << 128) - 1) ^ (0xF << 76) ^ (0x3 << 62)
"""Every bit but those."""

new_record_key: Final = SequentialKeys()
"""The connector's generator for creates sent on their own (a bulk run has one of its own)."""

# A host that forks after importing the connector would give its children the parent's random state, and so the
# same keys within a millisecond: each child seeds its own.
os.register_at_fork(after_in_child=new_record_key.reseed)
