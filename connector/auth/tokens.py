"""The token lifecycle of one connection: :class:`TokenSource`, the transport's bearer provider.

* **Cache**: one token set per source (one source per connection), valid until ``expires_at`` minus the refresh
  margin (``OAuthSettings.refresh_margin_seconds``, capped at half the token's lifetime so a short-lived token is
  not renewed on every call).
* **Single flight**: a lock around renewal, so many threads needing a token at once cause one token request; the
  others wait and get the same token. :meth:`TokenSource.renew` (after a 401) returns a token another thread has
  already obtained instead of asking again.
* **Token store**: every new token set, a rotated refresh token included, is saved with ``context.token_store`` under
  :func:`token_store_key` *before* it is used; if the store fails, the tokens are kept in memory (never lost: a
  rotated refresh token is the only valid one) and saving is retried before they are used. A store that raises a
  ``ConfigError`` (damaged, another key's, a directory) fails the call as configuration, on load and on save; any
  other failure of a save is transient. The store is the source of truth across workers: before refreshing, the
  source adopts a newer token set another worker saved.
* **Single flight across workers**: when the store lends a lock (:class:`~connector.context.LockingTokenStore`),
  renewal happens under it (:mod:`connector.auth.refresh_lock`): the store is loaded again under the lock and a token
  set another worker saved meanwhile is adopted instead of renewing; otherwise the new tokens are requested and saved
  before the lock is released. A worker that finds the lock taken keeps using a token that has not yet expired, or
  waits. A store that refused to renew the lock for a reason retrying will not change fails the call with its error
  (a ``ConfigError`` naming ``token_store``) once the lock is released, the new tokens saved first; a call that failed
  otherwise meanwhile (an interrupt, the token service's refusal) raises its own error unchanged, the refusal only
  logged. Without a lock only the in-process single flight applies, and two workers may send the same refresh token.
* **Authorization code**: the tokens the callback produced are loaded from the store and refreshed before expiry. A
  refresh refused with ``invalid_grant`` raises an error telling the user to authorize again, and that refresh token
  is never sent again.

Not for: building requests (``grants``) or signing assertions (``assertion``).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable

from connector.auth.entra_errors import AUTHORIZATION_REQUIRED, authorization_required
from connector.auth.refresh_lock import DEFAULT_LEASE_SECONDS, Lease, SharedLock
from connector.context import RuntimeContext
from connector.errors import AuthError, ConfigError, ConnectorError, TransientError
from connector.oauth_settings import CLIENT_ID_FIELD, OAuthSettings
from connector.results import AuthorizationCallback, AuthorizationStart, Connection, Diagnostic, TokenSet
from connector.settings import ConnectionSettings

if TYPE_CHECKING:
    from connector.auth.assertion import ClientAssertionSigner
    from connector.auth.grants import TokenTransport

__all__ = [
    "STORE_KEY_PREFIX",
    "TokenSource",
    "TokenState",
    "build_token_source",
    "token_source_of",
    "token_store_key",
]

STORE_KEY_PREFIX: Final = "dynamics365-ce/oauth2/"
_OBTAINED_AT: Final = "obtained_at"  # saved beside the token set: lets another worker know the token's lifetime

_log = logging.getLogger(__name__)


def token_store_key(settings: OAuthSettings) -> str:
    """The token store key of a connection's tokens.

    :param settings: the OAuth settings.
    :returns: :data:`STORE_KEY_PREFIX` + the first 40 hex digits of the SHA-256 of the grant type, access token URL,
        client id, resource and scope (one per line). Connections that would get interchangeable tokens share a key;
        changing any of these starts afresh. The key reveals none of them.
    """
    parts = (settings.grant_type, settings.access_token_url, settings.client_id, settings.resource, settings.scope)
    material = "\n".join(part or "" for part in parts)
    return STORE_KEY_PREFIX + hashlib.sha256(material.encode("utf-8")).hexdigest()[:40]


class TokenSource:
    """Keeps a connection's access token valid; implements the transport's ``BearerProvider``.

    :param settings: the OAuth settings.
    :param context: the runtime context (its token store).
    :param transport: sends token requests (the connection's transport, without a bearer).
    :param clock: epoch seconds; inject a fake one to test expiry without sleeping.
    :param signer: signs client assertions; built from the settings when ``None`` and the settings need one.
    :param lease_seconds: the lease of the token store's lock (``refresh_lock.DEFAULT_LEASE_SECONDS``).
    :param sleep: waits between attempts to take the token store's lock.
    :param monotonic: the clock of the longest wait for that lock.
    """

    def __init__(
        self,
        settings: OAuthSettings,
        context: RuntimeContext,
        transport: TokenTransport,
        *,
        clock: Callable[[], float] = time.time,
        signer: ClientAssertionSigner | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.store_key = token_store_key(settings)
        self._store = context.token_store
        self._transport = transport
        self._clock = clock
        if signer is None and settings.client_assertion_type == "jwt" and settings.jwt is not None:
            from connector.auth.assertion import ClientAssertionSigner

            signer = ClientAssertionSigner(settings.jwt, clock=clock)
        self._signer = signer
        self._lock = threading.Lock()
        self.shared_lock = SharedLock(
            self._store, self.store_key, lease_seconds=lease_seconds, sleep=sleep, monotonic=monotonic
        )
        """The token store's lock of :attr:`store_key`, when the store lends one."""
        self._held: Lease | None = None  # kept while new tokens wait to be saved
        self._current: TokenSet | None = None
        self._obtained_at: float | None = None
        self._unsaved: tuple[TokenSet, float] | None = None
        self._dead_refresh_token: str | None = None
        self.requests = 0
        """How many grants this source has attempted (for tests and diagnostics)."""

    def __repr__(self) -> str:
        return (
            f"TokenSource(grant_type={self.settings.grant_type!r}, client_id={self.settings.client_id!r}, "
            f"store_key={self.store_key!r})"
        )

    # -- BearerProvider ---------------------------------------------------------------------------------------

    def bearer(self) -> str:
        """:returns: a valid access token, obtained or refreshed first when the cached one is near expiry.

        :raises AuthError: when the identity provider refuses, or the connection must be authorized again.
        :raises TransientError: when the token service is unreachable or the token store fails.
        :raises ConfigError: when the settings (key, URL) are wrong.
        """
        current = self._current
        if current is not None and self._unsaved is None and self._fresh(current, self._obtained_at):
            return current.access_token
        with self._lock:
            return self._valid().access_token

    def renew(self, rejected: str) -> str:
        """Replace an access token the Web API rejected (a 401).

        :param rejected: the refused access token.
        :returns: a token another thread (or worker) obtained meanwhile, else a newly requested one.
        :raises AuthError: as :meth:`bearer`.
        """
        with self._lock:
            self._flush_unsaved()
            current = self._current
            if current is not None and current.access_token != rejected and self._fresh(current, self._obtained_at):
                return current.access_token
            stored = self._load()
            if stored is not None and stored[0].access_token != rejected and self._fresh(*stored):
                self._adopt(*stored)
                return stored[0].access_token
            _log.info("the service rejected the access token; obtaining a new one")
            return self._obtain_single_flight(rejected).access_token

    # -- for the authorize hook -------------------------------------------------------------------------------

    def fetch(self) -> TokenSet:
        """Get a new token set now: a new client-credentials token, or a refresh of the stored authorization.

        :returns: the new token set (already saved in the token store).
        """
        with self._lock:
            self._flush_unsaved()
            return self._obtain_single_flight(force=True)

    def start_authorization(self) -> AuthorizationStart:
        """Begin the authorization-code grant; see :func:`connector.auth.grants.start_authorization`."""
        from connector.auth.grants import start_authorization

        return start_authorization(self.settings)

    def complete_authorization(self, callback: AuthorizationCallback) -> TokenSet:
        """Redeem the callback's code, save the token set, and use it from now on.

        :param callback: the callback's parameters with the kept state and verifier.
        :returns: the token set, for the host to store.
        """
        from connector.auth.grants import redeem_authorization_code

        with self._lock:
            # Under the store's lock too: a worker renewing meanwhile would otherwise save tokens of the old grant
            # over the new ones (or the new ones would be saved while it still sends the old refresh token).
            lease = self.shared_lock.acquire(lambda: None) if self.shared_lock.available else None
            try:
                sent_at = self._clock()
                self.requests += 1
                token_set = redeem_authorization_code(self.settings, callback, self._transport, clock=self._clock)
                self._commit(token_set, sent_at)
                self._dead_refresh_token = None
            except BaseException:
                if lease is not None:
                    self._let_go(lease, failing=True)
                raise
            if lease is not None:
                self._let_go(lease, failing=False)
            return token_set

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        """Warnings about the credentials (an expired certificate ...); loads the signature key when there is one."""
        return self._signer.diagnostics if self._signer is not None else ()

    # -- internals (called with the lock held) ----------------------------------------------------------------

    def _fresh(self, token_set: TokenSet, obtained_at: float | None) -> bool:
        if token_set.expires_at is None:
            return True  # lifetime unknown: used until the service rejects it, then renewed
        margin = float(self.settings.refresh_margin_seconds)
        if obtained_at is not None:
            margin = min(margin, max(0.0, token_set.expires_at - obtained_at) / 2)
        return self._clock() < token_set.expires_at - margin

    def _valid(self) -> TokenSet:
        self._flush_unsaved()
        current = self._current
        if current is not None and self._fresh(current, self._obtained_at):
            return current
        stored = self._load()
        if stored is not None and self._fresh(*stored):
            self._adopt(*stored)
            return stored[0]
        return self._obtain_single_flight()

    def _obtain_single_flight(self, rejected: str | None = None, *, force: bool = False) -> TokenSet:
        """Obtain new tokens holding the token store's lock, unless another worker renewed them meanwhile.

        :param rejected: an access token the service refused, never adopted.
        :param force: obtain new tokens even when the store holds fresh ones (``authorize(..., "token")``).
        """
        if not self.shared_lock.available:
            return self._obtain()
        outcome = self.shared_lock.acquire(lambda: None if force else self._usable_meanwhile(rejected))
        if isinstance(outcome, TokenSet):
            return outcome
        try:
            stored = None if force else self._load()
            if stored is not None and stored[0].access_token != rejected and self._fresh(*stored):
                self._adopt(*stored)  # another worker renewed while this one waited for the lock
                token_set = stored[0]
            else:
                token_set = self._obtain()
        except BaseException:
            self._let_go(outcome, failing=True)
            raise
        self._let_go(outcome, failing=False)
        return token_set

    def _let_go(self, lease: Lease, *, failing: bool) -> None:
        """End the work under the token store's lock: release it, or keep it while new tokens wait to be saved.

        :param failing: whether that work raised. Its exception then propagates unchanged (a Ctrl-C stays an
            interrupt, the token service's refusal stays an ``AuthError``), and a refusal to renew the lock is not
            raised over it: the lease's keeper logged it when it came.
        :raises ConnectorError: the store's refusal to renew the lock (:meth:`Lease.check`), once the lock is
            released, when the work succeeded.
        """
        if self._unsaved is not None:
            # The new tokens are not in the store yet: another worker taking the lock now would renew with the spent
            # refresh token. Keep the lease (it is renewed) until they are saved; a refusal is reported then.
            self._held = lease
            return
        lease.release(wait=not failing)
        if not failing:
            lease.check()

    def _usable_meanwhile(self, rejected: str | None) -> TokenSet | None:
        """While another worker holds the lock: tokens it has saved, else ones that have not expired yet."""
        stored = self._load()
        if stored is not None and stored[0].access_token != rejected and self._fresh(*stored):
            self._adopt(*stored)
            return stored[0]
        for candidate in (self._current, stored[0] if stored is not None else None):
            if candidate is None or candidate.access_token == rejected:
                continue
            if candidate.expires_at is None or self._clock() < candidate.expires_at:
                return candidate
        return None

    def _obtain(self) -> TokenSet:
        sent_at = self._clock()
        if self.settings.grant_type == "managed_identity":
            from connector.auth.managed_identity import request_managed_identity_token

            self.requests += 1
            token_set = request_managed_identity_token(self.settings, self._transport, clock=self._clock)
        elif self.settings.grant_type == "client_credentials":
            from connector.auth.grants import request_client_credentials

            self.requests += 1
            token_set = request_client_credentials(
                self.settings, self._transport, clock=self._clock, signer=self._signer
            )
        else:
            token_set = self._refresh()
        self._commit(token_set, sent_at)
        return token_set

    def _refresh(self) -> TokenSet:
        from connector.auth.grants import refresh_token_set

        base = self._current
        stored = self._load()
        if stored is not None and (base is None or stored[0].refresh_token != base.refresh_token):
            # Another worker (or the host, after the callback) saved newer tokens: theirs is the live refresh token.
            base = stored[0]
        if base is None:
            raise authorization_required("no tokens are stored for this connection yet")
        if not base.refresh_token:
            raise authorization_required("the stored tokens have no refresh token")
        if base.refresh_token == self._dead_refresh_token:
            raise authorization_required("the refresh token was refused earlier")
        self.requests += 1
        try:
            return refresh_token_set(self.settings, base, self._transport, clock=self._clock)
        except AuthError as error:
            if error.code == AUTHORIZATION_REQUIRED:
                # Never send this refresh token again: with rotation, a reuse would revoke the whole grant.
                self._dead_refresh_token = base.refresh_token
                self._current = None
            raise

    def _commit(self, token_set: TokenSet, obtained_at: float) -> None:
        self._unsaved = (token_set, obtained_at)
        self._flush_unsaved()

    def _flush_unsaved(self) -> None:
        if self._unsaved is None:
            return
        token_set, obtained_at = self._unsaved
        try:
            self._store.save(self.store_key, {**token_set.to_dict(), _OBTAINED_AT: obtained_at})
        except ConfigError as error:
            # The store says it cannot be used (damaged, another key, a directory): retrying will not help, and what
            # it says is what the user must fix. The tokens stay in memory, saved once the store works again.
            _log.warning("the token store cannot be used: the new tokens are kept in memory")
            raise ConfigError(
                error.errors,
                summary=(
                    "The new tokens could not be saved, because the token store cannot be used (they are kept in "
                    "memory and saved once it can be; if this process ends first, authorize again)"
                ),
            ) from None
        except ConnectorError:
            raise  # the host's own classification (a TransientError of a store that is down)
        except Exception as error:  # the host's store may fail in any way; its message may hold the data
            _log.warning("the token store could not save the new tokens (%s)", type(error).__name__)
            raise TransientError(
                "The host's token store could not save the new tokens; they are kept in memory and will be saved "
                "before they are used. Try again.",
                internal_message=f"token store save failed: {type(error).__name__}",
            ) from None
        self._unsaved = None
        self._adopt(token_set, obtained_at)
        if self._held is not None:
            held, self._held = self._held, None
            self._let_go(held, failing=False)

    def _adopt(self, token_set: TokenSet, obtained_at: float | None) -> None:
        self._current = token_set
        self._obtained_at = obtained_at

    def _load(self) -> tuple[TokenSet, float | None] | None:
        try:
            data = self._store.load(self.store_key)
        except ConnectorError:
            # The store says what is wrong (a damaged file, another key): reading on as if it were empty would ask
            # the user to authorize again, or save over what it could not read.
            raise
        except Exception as error:  # the host's store may fail in any way; its message may hold the data
            _log.warning("the token store could not be read (%s)", type(error).__name__)
            return None
        if not data:
            return None
        return _parse_stored(data)


def _parse_stored(data: Mapping[str, Any]) -> tuple[TokenSet, float | None] | None:
    try:
        token_set = TokenSet.from_dict(data)
        obtained_at = data.get(_OBTAINED_AT)
        return token_set, float(obtained_at) if obtained_at is not None else None
    except (KeyError, TypeError, ValueError):
        _log.warning("ignoring a stored token set that cannot be read")
        return None


def build_token_source(
    settings: ConnectionSettings,
    context: RuntimeContext,
    *,
    clock: Callable[[], float] = time.time,
    transport: TokenTransport | None = None,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
) -> TokenSource:
    """Build the token source of a connection.

    :param settings: the connection's validated settings.
    :param context: the runtime context (token store).
    :param clock: epoch seconds.
    :param transport: sends token requests; defaults to a new :class:`~connector.transport.Transport` over the
        connection's settings (time-outs, proxy, CA bundle, retries), without a bearer.
    :param lease_seconds: the lease of the token store's lock.
    :returns: the token source; the Web API transport takes it as its ``bearer``.
    """
    if transport is None:
        from connector.transport import Transport

        transport = Transport(settings)
    return TokenSource(settings.oauth, context, transport, clock=clock, lease_seconds=lease_seconds)


@runtime_checkable
class TokenState(Protocol):
    """What authorization reads of a connection's live state: its token source.

    ``connector.live.LiveConnection`` is one. ``Connection.state`` is ``object`` in the hook contract, so
    :func:`token_source_of` narrows it with ``isinstance`` against this protocol.
    """

    @property
    def token_source(self) -> TokenSource:
        """The connection's token source."""
        ...


def token_source_of(connection: Connection) -> TokenSource:
    """:returns: the connection's token source (``connection.state.token_source``), or a new one if it holds none.

    :raises ConfigError: when the connection is not one of this connector's (no OAuth settings).
    """
    state = connection.state
    if isinstance(state, TokenState):
        return state.token_source
    settings = connection.settings
    if not isinstance(settings, ConnectionSettings):
        raise ConfigError.single(CLIENT_ID_FIELD, "the connection has no OAuth settings")
    return build_token_source(settings, connection.context)
