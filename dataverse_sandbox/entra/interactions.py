"""State of interactive sign-ins: pending authorize requests, single-sign-on sessions, and remembered consent.

A pending sign-in holds a validated authorize request between the login and consent pages; it is bound to an
anti-forgery value that is both a cookie and a hidden form field, and expires after ``lifetime`` seconds. A
session remembers the signed-in user for later authorize requests (the ``sandbox_sso`` cookie), and consent is
remembered per user and application, so a second sign-in goes straight back to the application as in Entra.
Only hashes of session ids are kept. Thread-safe. Not for: HTML or HTTP (``authcode.py``, ``pages.py``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass

from dataverse_sandbox.contracts import Clock
from dataverse_sandbox.entra.directory import TenantRef
from dataverse_sandbox.entra.pkce import ChallengeMethod
from dataverse_sandbox.entra.scopes import RequestedAccess

__all__ = ["InteractionStore", "PendingSignIn", "ResponseTarget"]


@dataclass(frozen=True)
class ResponseTarget:
    """Where and how the authorize response goes back to the application.

    :param redirect_uri: the validated redirect URI.
    :param response_mode: ``query``, ``fragment`` or ``form_post``.
    :param state: the application's ``state``, echoed unchanged.
    """

    redirect_uri: str
    response_mode: str
    state: str | None


@dataclass
class PendingSignIn:
    """A validated authorize request waiting for the user.

    :param ctx: its id, carried by the forms.
    :param csrf: the anti-forgery value expected in both cookie and form.
    :param user_id: set once the user has signed in.
    """

    ctx: str
    csrf: str
    tenant: TenantRef
    client_id: str
    target: ResponseTarget
    access: RequestedAccess
    version: str
    nonce: str | None
    challenge: str | None
    method: ChallengeMethod | None
    force_consent: bool
    expires_at: float
    user_id: str | None = None


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


class InteractionStore:
    """Pending sign-ins, sessions and consents, in memory.

    :param clock: the time source.
    :param lifetime: seconds a pending sign-in waits for the user.
    :param session_lifetime: seconds a single-sign-on session lasts.
    """

    def __init__(self, *, clock: Clock, lifetime: int = 600, session_lifetime: int = 12 * 3600) -> None:
        self._clock = clock
        self._lifetime = lifetime
        self._session_lifetime = session_lifetime
        self._lock = threading.Lock()
        self._pending: dict[str, PendingSignIn] = {}
        self._sessions: dict[str, tuple[str, float]] = {}
        self._consents: set[tuple[str, str]] = set()

    def start(
        self,
        *,
        csrf: str,
        tenant: TenantRef,
        client_id: str,
        target: ResponseTarget,
        access: RequestedAccess,
        version: str,
        nonce: str | None,
        challenge: str | None,
        method: ChallengeMethod | None,
        force_consent: bool,
    ) -> PendingSignIn:
        """Remember a validated authorize request.

        :returns: the pending sign-in, with a new ``ctx``.
        """
        now = self._clock.now()
        pending = PendingSignIn(
            ctx=secrets.token_urlsafe(24),
            csrf=csrf,
            tenant=tenant,
            client_id=client_id,
            target=target,
            access=access,
            version=version,
            nonce=nonce,
            challenge=challenge,
            method=method,
            force_consent=force_consent,
            expires_at=now + self._lifetime,
        )
        with self._lock:
            self._pending = {ctx: item for ctx, item in self._pending.items() if item.expires_at > now}
            self._pending[pending.ctx] = pending
        return pending

    def resume(self, ctx: str, *, cookie_csrf: str | None, form_csrf: str | None) -> PendingSignIn | None:
        """Find a pending sign-in for a form post.

        :param ctx: the form's ``ctx``.
        :param cookie_csrf: the anti-forgery cookie.
        :param form_csrf: the form's ``csrf`` field.
        :returns: the pending sign-in, or ``None`` when unknown, expired, or the anti-forgery values differ.
        """
        with self._lock:
            pending = self._pending.get(ctx)
        if pending is None or pending.expires_at <= self._clock.now():
            return None
        expected = pending.csrf.encode("utf-8")
        if not cookie_csrf or not form_csrf:
            return None
        if not (
            hmac.compare_digest(expected, cookie_csrf.encode("utf-8"))
            and hmac.compare_digest(expected, form_csrf.encode("utf-8"))
        ):
            return None
        return pending

    def finish(self, ctx: str) -> None:
        """Forget a pending sign-in (answered or cancelled), so its forms cannot be posted again."""
        with self._lock:
            self._pending.pop(ctx, None)

    def open_session(self, user_id: str) -> str:
        """:returns: a new session id for the signed-in user (the cookie value)."""
        session = secrets.token_urlsafe(32)
        now = self._clock.now()
        with self._lock:
            self._sessions = {key: value for key, value in self._sessions.items() if value[1] > now}
            self._sessions[_digest(session)] = (user_id, now + self._session_lifetime)
        return session

    def session_user(self, session: str | None) -> str | None:
        """:returns: the user id of a live session, or ``None``."""
        if not session:
            return None
        with self._lock:
            found = self._sessions.get(_digest(session))
        if found is None or found[1] <= self._clock.now():
            return None
        return found[0]

    def grant_consent(self, user_id: str, client_id: str) -> None:
        """Remember that the user consented to the application."""
        with self._lock:
            self._consents.add((user_id, client_id.lower()))

    def has_consent(self, user_id: str, client_id: str) -> bool:
        """:returns: whether the user consented to the application before."""
        with self._lock:
            return (user_id, client_id.lower()) in self._consents
