"""What the token service saw: tokens issued per client and grant, refusals per AADSTS code.

The server exposes a :meth:`TokenStats.snapshot` through its admin endpoint or in-process handle, so a test can
assert on the token service's view (for example, that a connector cached its token instead of fetching one per
request). Not for: per-request logs or anything identifying a user's secret.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from typing import TypedDict

from dataverse_sandbox.contracts import TokenEventRecorder

__all__ = ["TokenEventFanout", "TokenStats", "TokenStatsSnapshot"]


class TokenStatsSnapshot(TypedDict):
    """A JSON-ready copy of the counters.

    ``issued`` maps client id → grant type (``client_credentials``, ``authorization_code``, ``refresh_token``) →
    access tokens issued; ``refused`` maps the AADSTS code, as a string, to the number of refusals.
    """

    issued: dict[str, dict[str, int]]
    refused: dict[str, int]


class TokenStats:
    """Thread-safe counters of the token service's outcomes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._issued: Counter[tuple[str, str]] = Counter()
        self._refused: Counter[int] = Counter()

    def record_issued(self, client_id: str, grant_type: str) -> None:
        """Count one access token issued.

        :param client_id: the application it was issued to.
        :param grant_type: the grant that produced it.
        """
        with self._lock:
            self._issued[(client_id, grant_type)] += 1

    def record_refused(self, code: int) -> None:
        """Count one refusal.

        :param code: the AADSTS number.
        """
        with self._lock:
            self._refused[code] += 1

    def issued(self, client_id: str | None = None, grant_type: str | None = None) -> int:
        """:returns: how many tokens were issued, optionally only to one client and/or for one grant."""
        with self._lock:
            return sum(
                count
                for (client, grant), count in self._issued.items()
                if (client_id is None or client == client_id) and (grant_type is None or grant == grant_type)
            )

    def snapshot(self) -> TokenStatsSnapshot:
        """:returns: a copy of every counter, safe to serialise and to keep."""
        with self._lock:
            issued: dict[str, dict[str, int]] = {}
            for (client, grant), count in sorted(self._issued.items()):
                issued.setdefault(client, {})[grant] = count
            refused = {str(code): count for code, count in sorted(self._refused.items())}
        return {"issued": issued, "refused": refused}

    def reset(self) -> None:
        """Forget every count (between benchmark phases)."""
        with self._lock:
            self._issued.clear()
            self._refused.clear()


class TokenEventFanout:
    """Reports each token-service outcome to several recorders, in order (the service's counters first).

    :param recorders: every :class:`~dataverse_sandbox.contracts.TokenEventRecorder` to tell.
    """

    def __init__(self, recorders: Sequence[TokenEventRecorder]) -> None:
        self._recorders = tuple(recorders)

    def record_issued(self, client_id: str, grant_type: str) -> None:
        """Tell every recorder that an access token was issued."""
        for recorder in self._recorders:
            recorder.record_issued(client_id, grant_type)

    def record_refused(self, code: int) -> None:
        """Tell every recorder that a request was refused with AADSTS ``code``."""
        for recorder in self._recorders:
            recorder.record_refused(code)
