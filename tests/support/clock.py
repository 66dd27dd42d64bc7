"""The suite's one fake clock: time that moves only when a test advances it, the code under test sleeps, or (with a
step) each time it is read.
"""

from __future__ import annotations

import threading


class FakeClock:
    """Epoch seconds (also usable as a monotonic clock) that move only on :meth:`advance`, :meth:`sleep` or a read.

    Call it for the time; pass :meth:`sleep` where the code under test would sleep: the time moves on at once and the
    duration is recorded in :attr:`sleeps`, so retry tests never wait.

    :param now: the time it starts at.
    :param step: seconds the time moves on after each read, for code that measures a duration between two reads
        (every step then takes ``step``); ``0`` keeps it still between advances.
    """

    def __init__(self, now: float = 1_700_000_000.0, *, step: float = 0.0) -> None:
        self.now = now
        self.step = step
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            read = self.now
            self.now += self.step
            return read

    def advance(self, seconds: float) -> None:
        """Move the time on by ``seconds``."""
        with self._lock:
            self.now += seconds

    def sleep(self, seconds: float) -> None:
        """What the code under test calls instead of :func:`time.sleep`: records the wait and moves the time on."""
        with self._lock:
            self.sleeps.append(round(seconds, 3))
            self.now += seconds
