"""What the web host's buttons do with the saved config: Generate (sign in), Test Connection, Browse and the query
preview, each through the hook facade exactly as the CLI's commands do.

Every action opens the connection from the config file as it is saved (:func:`~connector.host.session.open_session`:
references resolved, the encrypted token store and the checkpoint file lent as the runtime context's stores, the web
host's callback URL as the OAuth callback) and answers JSON-ready data. Messages are scrubbed of every secret value
the config holds before they leave; expected failures are answers (``ok: false`` with the message and the field to
fix), not exceptions.

Authorization-code sign-ins in progress are kept here by their ``state``, with the connection that started them, until
the provider's redirect reaches :meth:`ConnectionActions.complete` or they expire.

Not for HTTP (:mod:`connector.host.web.server`) or for the config's form (:mod:`connector.host.web.config_form`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from connector.errors import ConfigError, ConnectorError
from connector.host.config_file import ConfigFileError
from connector.host.facade import ConnectorHost
from connector.host.redaction import scrub_text
from connector.host.report_view import report_to_dict, settings_failure_report
from connector.host.session import OpenSession, begin_sign_in, open_session
from connector.results import AuthorizationCallback, AuthorizationStart, BrowseRequest, Connection, ResultStatus

__all__ = ["PREVIEW_MAX", "ConnectionActions"]

PREVIEW_MAX: Final = 50
"""The most records a query preview asks for."""

SIGN_IN_TTL_S: Final = 600.0
"""How long a started sign-in waits for its redirect."""


@dataclass
class _SignIn:
    connection: Connection
    start: AuthorizationStart
    secrets: frozenset[str]
    started: float
    outcome: dict[str, Any] | None = None


def _failure(error: ConnectorError, secrets: frozenset[str] = frozenset()) -> dict[str, Any]:
    answer: dict[str, Any] = {"ok": False, "error": scrub_text(error.user_message, secrets), "field": error.field}
    if isinstance(error, ConfigError | ConfigFileError):
        problems = error.errors if isinstance(error, ConfigError) else error.problems
        answer["fields"] = {item.path: scrub_text(item.message, secrets) for item in problems}
    return answer


class ConnectionActions:
    """The buttons' work for one connector and one config file.

    :param host: the facade over the installed connectors.
    :param connector_id: the connector.
    :param config_path: the config file the form saves.
    :param token_store_path: the encrypted token store; the default location when ``None``.
    :param callback_url: the web host's OAuth callback URL.
    :param clock: seconds, for expiring sign-ins (injectable for tests).
    """

    def __init__(
        self,
        host: ConnectorHost,
        connector_id: str,
        config_path: Path,
        token_store_path: Path | None,
        callback_url: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.host = host
        self.connector_id = connector_id
        self.config_path = config_path
        self.token_store_path = token_store_path
        self.callback_url = callback_url
        self._clock = clock
        self._sign_ins: dict[str, _SignIn] = {}
        self._lock = threading.Lock()

    def _open(self) -> OpenSession:
        return open_session(
            self.config_path,
            self.connector_id,
            token_store_path=self.token_store_path,
            callback_url=self.callback_url,
            host=self.host,
        )

    def _with_session(self, work: Callable[[OpenSession], dict[str, Any]]) -> dict[str, Any]:
        if not self.config_path.exists():
            return {"ok": False, "error": "Save the form first: there is no config file yet.", "field": None}
        try:
            session = self._open()
        except (ConfigFileError, ConfigError) as error:
            return _failure(error)
        try:
            return work(session)
        except ConnectorError as error:
            return _failure(error, session.config.secrets)

    def test(self) -> dict[str, Any]:
        """Run Test Connection on the saved config.

        :returns: ``{"ok": ..., "report": <report_view.report_to_dict>}``; settings that ``connect`` refused give
            the report a host shows for them (one failed ``settings`` check naming every bad field).
        """
        if not self.config_path.exists():
            return {"ok": False, "error": "Save the form first: there is no config file yet.", "field": None}
        try:
            session = self._open()
        except ConfigFileError as error:
            return _failure(error)
        except ConfigError as error:
            report = settings_failure_report(self.connector_id, error)
            return {"ok": False, "report": report_to_dict(report)}
        try:
            report = self.host.test(self.connector_id, session.connection)
        except ConnectorError as error:
            return _failure(error, session.config.secrets)
        return {"ok": report.ok, "report": _scrubbed(report_to_dict(report), session.config.secrets)}

    def authorize(self) -> dict[str, Any]:
        """Start a sign-in: the authorization-code grant's ``start`` step, or, for a grant without one (client
        credentials), the ``token`` step at once.

        :returns: ``{"ok": true, "kind": "redirect", "url": ..., "state": ...}`` to open the provider's page, or
            ``{"ok": true, "kind": "tokens", "message": ...}`` when the tokens are already stored.
        """

        def work(session: OpenSession) -> dict[str, Any]:
            start = begin_sign_in(session)
            if start is None:
                return {"ok": True, "kind": "tokens", "message": self._stored_message()}
            with self._lock:
                self._expire()
                self._sign_ins[start.state] = _SignIn(
                    session.connection, start, session.config.secrets, started=self._clock()
                )
            return {"ok": True, "kind": "redirect", "url": start.url, "state": start.state}

        return self._with_session(work)

    def _stored_message(self) -> str:
        where = self.token_store_path or "the token store"
        return f"Tokens stored in {where} (encrypted)."

    def _expire(self) -> None:
        now = self._clock()
        for state in [key for key, item in self._sign_ins.items() if now - item.started > SIGN_IN_TTL_S]:
            del self._sign_ins[state]

    def complete(self, params: Mapping[str, str]) -> dict[str, Any]:
        """Finish a sign-in with the provider's redirect.

        :param params: the callback's query parameters.
        :returns: the outcome, also kept for :meth:`status`; an unknown or expired ``state`` is refused before any
            hook is called.
        """
        state = params.get("state", "")
        with self._lock:
            self._expire()
            sign_in = self._sign_ins.get(state)
        if sign_in is None or sign_in.outcome is not None:
            return {"ok": False, "error": "This sign-in is unknown or already finished: press Generate again."}
        callback = AuthorizationCallback(
            params=dict(params), state=sign_in.start.state, code_verifier=sign_in.start.code_verifier
        )
        try:
            self.host.authorize(self.connector_id, sign_in.connection, callback)
        except ConnectorError as error:
            outcome = _failure(error, sign_in.secrets)
        else:
            outcome = {"ok": True, "message": self._stored_message()}
        with self._lock:
            sign_in.outcome = outcome
        return outcome

    def status(self, state: str) -> dict[str, Any]:
        """:returns: ``{"done": false}`` while a sign-in waits for its redirect, then its outcome with
        ``"done": true``.
        """
        with self._lock:
            sign_in = self._sign_ins.get(state)
            if sign_in is None:
                return {"done": True, "ok": False, "error": "This sign-in is unknown or expired."}
            if sign_in.outcome is None:
                return {"done": False}
            return {"done": True, **sign_in.outcome}

    def browse(self, name_filter: str | None) -> dict[str, Any]:
        """:returns: ``{"ok": true, "object_types": [{"name", "label", "logical_name"}...]}``."""

        def work(session: OpenSession) -> dict[str, Any]:
            request = BrowseRequest("list", name_filter=name_filter or None)
            result = self.host.browse(self.connector_id, session.connection, request)
            types = [{"name": t.name, "label": t.label, "logical_name": t.logical_name} for t in result.object_types]
            return {"ok": True, "object_types": types}

        return self._with_session(work)

    def query(self, entity_set: str, top: int) -> dict[str, Any]:
        """Preview the first records of an entity set (the ``query`` operation with a small ``top``).

        :returns: ``{"ok": true, "columns": [...], "records": [...]}``; annotations (``@odata...``) are left out.
        """
        count = max(1, min(int(top), PREVIEW_MAX))

        def work(session: OpenSession) -> dict[str, Any]:
            options = {"entity_set": entity_set, "top": count}
            results = self.host.execute_operation(self.connector_id, session.connection, "query", options, [{}])
            records: list[dict[str, Any]] = []
            for result in results:
                if result.status is ResultStatus.FAILED or result.payload is None:
                    message = result.error.message if result.error else "the query failed"
                    field = result.error.field if result.error else None
                    return {"ok": False, "error": scrub_text(message, session.config.secrets), "field": field}
                records.append({key: value for key, value in result.payload.items() if not key.startswith("@")})
                if len(records) >= count:
                    break
            columns: list[str] = []
            for record in records:
                columns += [key for key in record if key not in columns]
            answer: dict[str, Any] = _scrubbed(
                {"ok": True, "columns": columns, "records": records}, session.config.secrets
            )
            return answer

        return self._with_session(work)


def _scrubbed(value: Any, secrets: frozenset[str]) -> Any:
    if isinstance(value, str):
        return scrub_text(value, secrets)
    if isinstance(value, dict):
        return {key: _scrubbed(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [_scrubbed(item, secrets) for item in value]
    return value
