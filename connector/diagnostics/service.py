"""Service checks of Test Connection: the token, the API version, ``WhoAmI()`` and metadata access.

:class:`ServiceProbe` runs them with the connection's own settings and runtime context but its own, bounded
machinery: a token source (``connector.auth.tokens``) and a Web API transport that do not retry, so a busy or failing
service is reported as what it is rather than waited out for minutes. The token source shares the host's token store,
so a refresh token rotated by the test is saved exactly as an operation would save it.

Every failure names the form field to fix: the token service's errors arrive as
:class:`~connector.errors.AuthError` with the field already chosen from Entra's AADSTS code
(``connector.auth.entra_errors``); Web API refusals are explained by ``refusals``; a 404 at the version root is
explained here by probing the versions the service offers. No token, secret or ``Authorization`` header appears in
a message, a detail or a log line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Final

import requests

from connector.context import RuntimeContext
from connector.diagnostics.refusals import AUTHORIZE_FIELD, explain_refusal, status_text, token_claims
from connector.diagnostics.report import Outcome
from connector.errors import AuthError, ConfigError, ConnectorError, TransientError
from connector.settings import ConnectionSettings

if TYPE_CHECKING:
    from connector.auth.tokens import TokenSource
    from connector.dataverse.client import DataverseClient
    from connector.transport import Transport

__all__ = ["KNOWN_VERSIONS", "ServiceProbe"]

_log = logging.getLogger(__name__)

KNOWN_VERSIONS: Final = ("v9.0", "v9.1", "v9.2")
"""Web API versions probed after a 404 at the configured version's root, to say which ones the service offers."""

_METADATA_QUERIES: Final = (
    (("$select", "LogicalName"), ("$top", "1")),
    # Some services refuse $top on metadata; one table by name asks for the same privilege.
    (("$select", "LogicalName"), ("$filter", "LogicalName eq 'account'")),
)

_REMEDIATIONS: Final[Mapping[str, str]] = {
    "oauth2.client_secret": "Enter the client secret's value (not its id) from the app registration's Certificates & "
    "secrets, or create a new secret.",
    "oauth2.jwt.signature_key": "Upload this key's certificate to the app registration (Certificates & secrets), or "
    "choose the key whose certificate is registered.",
    "oauth2.client_id": "Enter the application (client) id of the app registration in the token URL's tenant.",
    "oauth2.access_token_url": "Use the token endpoint of your tenant: https://login.microsoftonline.com/<tenant>/"
    "oauth2/token (or /oauth2/v2.0/token).",
    "oauth2.access_token_parameters": "Set the resource parameter to the Web API's protocol and host, e.g. "
    "https://contoso.crm.dynamics.com.",
    "oauth2.authorization_parameters": "Set the resource parameter to the Web API's protocol and host, e.g. "
    "https://contoso.crm.dynamics.com.",
    "oauth2.scope": "Set Scope to the Web API's protocol and host followed by /.default.",
    "oauth2.jwt.expiration_seconds": "Synchronise this machine's clock, and keep the expiration at 5 to 10 minutes.",
    "oauth2.federated_token_file": "Point this at the file your platform keeps the federated token in (blank: "
    "AZURE_FEDERATED_TOKEN_FILE), and register the token's issuer and subject, with audience "
    "api://AzureADTokenExchange, as a federated credential of the app registration.",
    "oauth2.identity": "Turn on the system-assigned managed identity of the VM or app this runtime runs on, or "
    "choose a user-assigned identity that is assigned to it.",
    "oauth2.identity_id": "Assign this user-assigned identity to the VM or app this runtime runs on, or enter the "
    "id (of the kind chosen) of one that is assigned.",
    "oauth2.identity_endpoint": "Leave the endpoint blank on Azure (IMDS, or App Service's IDENTITY_ENDPOINT), or "
    "give the address of the managed identity endpoint this runtime can reach.",
    "oauth2.identity_header": "Leave the identity header blank so App Service's IDENTITY_HEADER is used.",
    "oauth2.resource": "Set the resource to the Web API's protocol and host, e.g. https://contoso.crm.dynamics.com.",
    "callback_url": "Register the host's callback URL as a redirect URI of the app registration.",
}


class ServiceProbe:
    """Runs the token and Web API checks of one connection.

    :param settings: the connection's validated settings.
    :param context: the runtime context (token store, logger).
    :param clock: epoch seconds, for token expiry.
    """

    def __init__(
        self, settings: ConnectionSettings, context: RuntimeContext, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.settings = settings
        self.context = context
        self._clock = clock
        self._built: tuple[TokenSource, Transport, DataverseClient] | None = None
        self._transports: tuple[Transport, ...] = ()
        self._token: str | None = None

    # -- machinery --------------------------------------------------------------------------------------------

    def _machinery(self) -> tuple[TokenSource, Transport, DataverseClient]:
        if self._built is None:
            from connector.auth.tokens import build_token_source
            from connector.dataverse.client import DataverseClient
            from connector.dataverse.odata.answers import describe_error
            from connector.transport import RetryPolicy, Transport

            # One attempt per request: a test reports what the service answered instead of waiting it out.
            policy = RetryPolicy(max_attempts=1)
            token_transport = Transport(self.settings, policy=policy, pool_size=2)
            source = build_token_source(self.settings, self.context, clock=self._clock, transport=token_transport)
            api_transport = Transport(
                self.settings, bearer=source, policy=policy, pool_size=2, describe_error=describe_error
            )
            self._transports = (token_transport, api_transport)
            self._built = (source, api_transport, DataverseClient(api_transport, self.settings))
        return self._built

    def close(self) -> None:
        """Close the probe's HTTP connections."""
        for transport in self._transports:
            transport.close()

    # -- token ------------------------------------------------------------------------------------------------

    def token(self) -> Outcome:
        """Obtain an access token with the configured grant; for authorization code, refresh the stored one.

        :returns: passed with the token's audience and lifetime (never the token), or failed naming the field.
        """
        oauth = self.settings.oauth
        source, _, _ = self._machinery()
        grant = {"authorization_code": "authorization code", "managed_identity": "managed identity"}.get(
            oauth.grant_type, "client credentials"
        )
        if oauth.grant_type == "authorization_code":
            try:
                stored = self._stored_tokens(source.store_key)
            except ConfigError as error:
                return Outcome.failed(error.user_message, error.field, "Do what the message says, then test again.")
            if not stored:
                return Outcome.failed(
                    "No tokens are stored for this connection yet: authorize first.",
                    AUTHORIZE_FIELD,
                    "Authorize the connection (Generate on the OAuth 2.0 tab, or `connector authorize`), then test "
                    "again.",
                )
        try:
            token_set = source.fetch()
        except requests.RequestException as error:
            # The transport turns network failures into TransientError; anything else it let through still must
            # not escape the report.
            return Outcome.failed(
                f"The token request to {oauth.access_token_url} failed ({type(error).__name__}).",
                "oauth2.access_token_url",
                "Check the token URL and the network checks above; if both are right, try again later.",
            )
        except AuthError as error:
            return self._token_refusal(error)
        except TransientError as error:
            return Outcome.failed(
                error.user_message,
                error.field or "oauth2.access_token_url",
                "Check the network checks above and the token URL; if both are right, the token service is busy: "
                "try again later.",
            )
        except ConfigError as error:
            remediation = _REMEDIATIONS.get(error.field or "", "Correct the field named in the message.")
            return Outcome.failed(error.user_message, error.field, remediation)
        self._token = token_set.access_token
        credential = ""
        if oauth.managed_identity is not None:
            credential = (
                f" ({oauth.managed_identity.endpoint_type.replace('_', ' ')}, {oauth.managed_identity.identity})"
            )
        elif oauth.grant_type == "client_credentials":
            credential = {"jwt": " (certificate)", "federated_token_file": " (federated token)"}.get(
                oauth.client_assertion_type, " (client secret)"
            )
        details: dict[str, str] = {"grant": f"{grant}{credential}", "token_url": oauth.access_token_url}
        claims = token_claims(token_set.access_token)
        if claims.get("aud"):
            details["audience"] = str(claims["aud"])
        if token_set.expires_at is not None:
            details["expires_in_s"] = str(max(0, round(token_set.expires_at - self._clock())))
        if oauth.grant_type == "authorization_code":
            message = "The stored authorization was refreshed: a new access token was obtained (authorization code)."
        else:
            message = f"An access token was obtained with {grant}{credential}."
        warnings = [item for item in source.diagnostics if item.level == "warning"]
        if warnings:
            return Outcome.warning(
                f"{message} Warning: {'; '.join(item.message for item in warnings)}.",
                warnings[0].field,
                "Act on the warning before it turns into a failure.",
                details,
            )
        return Outcome.passed(message, details)

    def _stored_tokens(self, key: str) -> bool:
        """:raises ConfigError: when the store says it cannot be used (damaged, another key's)."""
        try:
            return bool(self.context.token_store.load(key))
        except ConfigError:
            raise
        except Exception as error:  # the host's store may fail in any way; its text may quote what it holds
            _log.warning("the token store could not be read (%s)", type(error).__name__)
            return False

    def _token_refusal(self, error: AuthError) -> Outcome:
        from connector.auth.entra_errors import AUTHORIZATION_REQUIRED

        if error.code == AUTHORIZATION_REQUIRED:
            return Outcome.failed(
                error.user_message,
                AUTHORIZE_FIELD,
                "Authorize the connection again (Generate on the OAuth 2.0 tab, or `connector authorize`).",
            )
        field = error.field
        remediation = _REMEDIATIONS.get(field or "", f"Correct {field}, then test again." if field else "")
        return Outcome.failed(
            error.user_message,
            field,
            remediation or "Check the OAuth 2.0 settings against the app registration.",
        )

    # -- Web API ----------------------------------------------------------------------------------------------

    def api_version(self) -> Outcome:
        """Read the service document at the API root; after a 404, probe the known versions.

        :returns: passed, failed (version or path not found, naming what the service offers), or a warning when
            the service refused to answer (the WhoAmI check explains refusals).
        """
        return self._unless_unreachable(self._api_version)

    def _api_version(self) -> Outcome:
        _, _, client = self._machinery()
        version = self.settings.version
        response = self._get(client, client.url(""))
        status = response.status_code
        if status == 200:
            sets = _entity_set_count(response)
            listed = f"; its service document lists {sets} entity sets" if sets is not None else ""
            return Outcome.passed(f"The Web API serves {version}{listed}.", {"api_root": self.settings.api_root})
        if status != 404:
            return Outcome.warning(
                f"The version {version} could not be confirmed: the service answered {status_text(response)} at "
                "the API root; the WhoAmI check below says why.",
            )
        offered = [other for other in KNOWN_VERSIONS if other != version and self._version_exists(client, other)]
        if offered:
            return Outcome.failed(
                f"The Web API has no version {version} (404 at {self.settings.api_root}); it offers "
                f"{', '.join(offered)}.",
                "connection.version",
                f"Set Version to one the service offers, e.g. {offered[-1]}.",
                {"offered_versions": ", ".join(offered)},
            )
        return Outcome.failed(
            f"Nothing was found at {self.settings.api_root} (404), nor under the versions "
            f"{', '.join(KNOWN_VERSIONS)}: the Web API path or the base URL is not the service's.",
            "connection.web_api_path",
            "Use /api/data/ as the Web API path, and the host you open the Dynamics 365 web app with as base URL.",
        )

    def _version_exists(self, client: DataverseClient, version: str) -> bool:
        origin = self.settings.origin
        url = f"{origin}{self.settings.web_api_path}{version}/"
        try:
            response = self._get(client, url)
        except ConnectorError:
            return False
        return response.status_code == 200

    def whoami(self) -> Outcome:
        """Call ``WhoAmI()``.

        :returns: passed with the user, business unit and organization ids, or failed naming the field.
        """
        return self._unless_unreachable(self._whoami)

    def _whoami(self) -> Outcome:
        _, _, client = self._machinery()
        response = self._get(client, client.url("WhoAmI()"))
        if response.status_code == 200:
            try:
                body = response.json()
            except ValueError:
                body = {}
            ids = {
                "user_id": str(body.get("UserId", "")),
                "business_unit_id": str(body.get("BusinessUnitId", "")),
                "organization_id": str(body.get("OrganizationId", "")),
            }
            return Outcome.passed(
                f"WhoAmI answered: user {ids['user_id']}, business unit {ids['business_unit_id']}, organization "
                f"{ids['organization_id']}.",
                ids,
            )
        return explain_refusal(response, "WhoAmI", self.settings, self._token)

    def metadata(self) -> Outcome:
        """Read one table definition (needed by browse and query); optional, so a refusal is a warning.

        :returns: passed, or a warning naming what the principal lacks.
        """
        return self._unless_unreachable(self._metadata)

    def _metadata(self) -> Outcome:
        _, _, client = self._machinery()
        first, fallback = _METADATA_QUERIES
        response = self._get(client, client.url("EntityDefinitions", first))
        if response.status_code == 400:
            response = self._get(client, client.url("EntityDefinitions", fallback))
        if response.status_code == 200:
            return Outcome.passed("The principal may read table definitions (needed by browse and query).")
        refusal = explain_refusal(response, "Reading table definitions", self.settings, self._token)
        return Outcome.warning(
            f"{refusal.message} Browse (import) and query need this; other operations do not.",
            refusal.field,
            "Give the principal a security role that may read table definitions (any standard role such as Basic "
            "User does).",
        )

    def _unless_unreachable(self, run: Callable[[], Outcome]) -> Outcome:
        try:
            return run()
        except ConfigError as error:
            # A redirect, or a proxy or TLS set-up the transport diagnosed: the field is named in the error.
            remediation = _REMEDIATIONS.get(error.field or "", "Correct the field named in the message.")
            return Outcome.failed(error.user_message, error.field, remediation)
        except TransientError as error:
            return Outcome.failed(
                error.user_message,
                "connection.base_url",
                "The Web API did not answer in time or the connection failed: if the network checks above passed, "
                "the service is slow or busy; try again, or raise connection.read_timeout_ms.",
            )

    def _get(self, client: DataverseClient, url: str) -> requests.Response:
        try:
            response = client.transport.send("GET", url, headers=client.headers())
        except requests.RequestException as error:
            raise TransientError(
                f"The request to {self.settings.origin} failed ({type(error).__name__}).", field="connection.base_url"
            ) from None
        response.close()
        return response


def _entity_set_count(response: requests.Response) -> int | None:
    try:
        body = response.json()
    except ValueError:
        return None
    value = body.get("value") if isinstance(body, dict) else None
    return len(value) if isinstance(value, list) else None
