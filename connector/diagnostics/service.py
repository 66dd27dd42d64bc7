"""Service checks of Test Connection: the token, the API version, ``WhoAmI()`` and metadata access.

:class:`ServiceProbe` runs them with the connection's own settings and runtime context but its own, bounded
machinery: a token source (``connector.auth.tokens``) and a Web API transport that do not retry, so a busy or failing
service is reported as what it is rather than waited out for minutes. The token source shares the host's token store,
so a refresh token rotated by the test is saved exactly as an operation would save it.

Every failure names the form field to fix: the token service's errors arrive as
:class:`~connector.errors.AuthError` with the field already chosen from Entra's AADSTS code
(``connector.auth.entra_errors``); Web API refusals are read here (a 401 challenge's ``resource_id`` against the
token's audience, Dataverse's 403 codes, a 404 at the version root). No token, secret or ``Authorization`` header
appears in a message, a detail or a log line.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from connector.context import RuntimeContext
from connector.diagnostics.report import Outcome
from connector.errors import AuthError, ConfigError, ConnectorError, TransientError
from connector.settings import ConnectionSettings

if TYPE_CHECKING:
    import requests

    from connector.auth.tokens import TokenSource
    from connector.dataverse.client import DataverseClient
    from connector.transport import Transport

__all__ = ["KNOWN_VERSIONS", "ServiceProbe", "parse_bearer_challenge"]

_log = logging.getLogger(__name__)

KNOWN_VERSIONS: Final = ("v9.0", "v9.1", "v9.2")
"""Web API versions probed after a 404 at the configured version's root, to say which ones the service offers."""

AUTHORIZE_FIELD: Final = "oauth2"
"""Where the user authorizes the connection (the OAuth 2.0 tab's Generate action): there is no single form field."""

_NOT_A_MEMBER: Final = "0x80072560"
_APP_BLOCKED: Final = "0x80095ffc"
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
    "callback_url": "Register the host's callback URL as a redirect URI of the app registration.",
}


def parse_bearer_challenge(header: str | None) -> dict[str, str]:
    """Read a ``WWW-Authenticate: Bearer k=v, k=v`` challenge (Dataverse's values are unquoted).

    :param header: the header value.
    :returns: the parameters by lower-case name; empty when there is no Bearer challenge.
    """
    if not header or not header.strip().lower().startswith("bearer"):
        return {}
    parameters: dict[str, str] = {}
    for part in header.strip()[len("bearer") :].split(","):
        name, separator, value = part.strip().partition("=")
        if separator:
            parameters[name.strip().lower()] = value.strip().strip('"')
    return parameters


def _token_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT access token, read without verification (only to explain a refusal); ``{}`` if opaque."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = json.loads(payload)
    except ValueError:
        return {}
    return claims if isinstance(claims, dict) else {}


def _same_resource(left: str, right: str) -> bool:
    return left.strip().rstrip("/").lower() == right.strip().rstrip("/").lower()


def _tenant_of(url: str) -> str:
    segments = [segment for segment in urlsplit(url).path.split("/") if segment]
    return segments[0].lower() if segments else ""


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
        self._token: str | None = None

    # -- machinery --------------------------------------------------------------------------------------------

    def _machinery(self) -> tuple[TokenSource, Transport, DataverseClient]:
        if self._built is None:
            from connector.auth.tokens import build_token_source
            from connector.dataverse.client import DataverseClient
            from connector.transport import RetryPolicy, Transport

            # One attempt per request: a test reports what the service answered instead of waiting it out.
            policy = RetryPolicy(max_attempts=1)
            token_transport = Transport(self.settings, policy=policy, pool_size=2)
            source = build_token_source(self.settings, self.context, clock=self._clock, transport=token_transport)
            api_transport = Transport(self.settings, bearer=source, policy=policy, pool_size=2)
            self._closers = (token_transport, api_transport)
            self._built = (source, api_transport, DataverseClient(api_transport, self.settings))
        return self._built

    def close(self) -> None:
        """Close the probe's HTTP connections."""
        if self._built is not None:
            for transport in self._closers:
                transport.close()

    # -- token ------------------------------------------------------------------------------------------------

    def token(self) -> Outcome:
        """Obtain an access token with the configured grant; for authorization code, refresh the stored one.

        :returns: passed with the token's audience and lifetime (never the token), or failed naming the field.
        """
        oauth = self.settings.oauth
        source, _, _ = self._machinery()
        grant = "authorization code" if oauth.grant_type == "authorization_code" else "client credentials"
        if oauth.grant_type == "authorization_code" and not self._stored_tokens(source.store_key):
            return Outcome.failed(
                "No tokens are stored for this connection yet: authorize first.",
                AUTHORIZE_FIELD,
                "Authorize the connection (Generate on the OAuth 2.0 tab, or `connector authorize`), then test again.",
            )
        import requests

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
            return Outcome.failed(error.user_message, error.field, "Correct the field named in the message.")
        self._token = token_set.access_token
        how = "refreshed the stored authorization" if oauth.grant_type == "authorization_code" else "obtained"
        credential = ""
        if oauth.grant_type == "client_credentials":
            credential = " (certificate)" if oauth.client_assertion_type == "jwt" else " (client secret)"
        details: dict[str, str] = {"grant": f"{grant}{credential}", "token_url": oauth.access_token_url}
        claims = _token_claims(token_set.access_token)
        if claims.get("aud"):
            details["audience"] = str(claims["aud"])
        if token_set.expires_at is not None:
            details["expires_in_s"] = str(max(0, round(token_set.expires_at - self._clock())))
        message = f"An access token was {how} with {grant}{credential}."
        warnings = [item for item in source.diagnostics if item.level == "warning"]
        if warnings:
            return Outcome.warning(
                f"{message} But: {'; '.join(item.message for item in warnings)}.",
                warnings[0].field,
                "Act on the warning before it turns into a failure.",
                details,
            )
        return Outcome.passed(message, details)

    def _stored_tokens(self, key: str) -> bool:
        try:
            return bool(self.context.token_store.load(key))
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
                f"The version {version} could not be confirmed: the service answered {_status_text(response)} at "
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
        return self._refusal(response, "WhoAmI")

    def metadata(self) -> Outcome:
        """Read one table definition (needed by browse and query); optional, so a refusal is a warning.

        :returns: passed, or a warning naming what the principal lacks.
        """
        _, _, client = self._machinery()
        response = None
        for query in _METADATA_QUERIES:
            response = self._get(client, client.url("EntityDefinitions", query))
            if response.status_code != 400:
                break
        assert response is not None  # the loop runs at least once
        if response.status_code == 200:
            return Outcome.passed("The principal may read table definitions (needed by browse and query).")
        refusal = self._refusal(response, "Reading table definitions")
        return Outcome.warning(
            f"{refusal.message} Browse (import) and query need this; other operations do not.",
            refusal.field,
            "Give the principal a security role that may read table definitions (any standard role such as Basic "
            "User does).",
        )

    def _get(self, client: DataverseClient, url: str) -> requests.Response:
        import requests

        try:
            response = client.transport.send("GET", url, headers=client.headers())
        except requests.RequestException as error:
            raise TransientError(
                f"The request to {self.settings.origin} failed ({type(error).__name__}).", field="connection.base_url"
            ) from None
        response.close()
        return response

    def _refusal(self, response: requests.Response, what: str) -> Outcome:
        status = response.status_code
        if status == 401:
            return self._unauthorized(response, what)
        code, message = _dataverse_error(response)
        oauth = self.settings.oauth
        principal_field = "oauth2.client_id" if oauth.grant_type == "client_credentials" else AUTHORIZE_FIELD
        if status == 403:
            if code == _NOT_A_MEMBER:
                fix = (
                    "Add an application user for this client id in the environment (Power Platform admin center) and "
                    "give it a security role."
                    if oauth.grant_type == "client_credentials"
                    else "Authorize as a user who is a member of the environment, or add this user to it."
                )
                return Outcome.failed(
                    f"{what} was refused (403): the principal is not a member of the organization ({message}).",
                    principal_field,
                    fix,
                )
            if code == _APP_BLOCKED:
                return Outcome.failed(
                    f"{what} was refused (403): the environment blocks this application ({message}).",
                    "oauth2.client_id",
                    "Ask the environment's administrator to allow the application, or use an allowed one.",
                )
            return Outcome.failed(
                f"{what} was refused (403): the principal lacks a privilege ({message}).",
                principal_field,
                "Give the principal a security role with the missing privilege.",
            )
        if status == 404:
            return Outcome.failed(
                f"{what} was not found (404 at {self.settings.api_root}): the API version or path is wrong.",
                "connection.version",
                "Use a version the service offers (see the API version check) and /api/data/ as the path.",
            )
        return Outcome.failed(
            f"{what} failed: the service answered {_status_text(response)}.",
            "connection.base_url",
            "If the base URL is right, the service is busy or failing: try again later.",
        )

    def _unauthorized(self, response: requests.Response, what: str) -> Outcome:
        oauth = self.settings.oauth
        challenge = parse_bearer_challenge(response.headers.get("WWW-Authenticate"))
        expected = challenge.get("resource_id", "")
        audience = str(_token_claims(self._token or "").get("aud", "")) if self._token else ""
        requested = oauth.resource or _scope_resource(oauth.scope) or ""
        facts = (("expected_resource", expected), ("token_audience", audience))
        details = {key: value for key, value in facts if value}
        field = oauth.resource_field if oauth.resource or not oauth.scope else "oauth2.scope"
        shown = audience or requested
        if expected and shown and not _same_resource(shown, expected):
            return Outcome.failed(
                f"{what} was refused (401): the Web API accepts tokens for {expected.rstrip('/')}, but the token is "
                f"for {shown}.",
                field,
                f"Set the resource to {expected.rstrip('/')} (the Web API's protocol and host)"
                + (" and Scope to that followed by /.default." if field == "oauth2.scope" else "."),
                details,
            )
        authority = challenge.get("authorization_uri", "")
        if authority and _tenant_of(authority) and _tenant_of(authority) != _tenant_of(oauth.access_token_url):
            return Outcome.failed(
                f"{what} was refused (401): the environment belongs to the tenant in {authority}, but the token came "
                f"from {oauth.access_token_url}.",
                "oauth2.access_token_url",
                "Use the token URL of the environment's tenant.",
                details,
            )
        return Outcome.failed(
            f"{what} was refused (401) although the token names this resource; the application may not be allowed "
            "to call Dataverse.",
            "oauth2.client_id",
            "Check the app registration's API permissions and that an application user exists for it.",
            details,
        )


def _scope_resource(scope: str | None) -> str | None:
    for item in (scope or "").split():
        if "://" in item:
            parts = urlsplit(item)
            return f"{parts.scheme}://{parts.netloc}"
    return None


def _dataverse_error(response: requests.Response) -> tuple[str | None, str]:
    from connector.transport import dataverse_error

    code, message = dataverse_error(response)
    return (code.lower() if code else None), message


def _status_text(response: requests.Response) -> str:
    code, message = _dataverse_error(response)
    text = f"{response.status_code} {response.reason or ''}".strip()
    return f"{text} ({code}: {message})" if code else text


def _entity_set_count(response: requests.Response) -> int | None:
    try:
        body = response.json()
    except ValueError:
        return None
    value = body.get("value") if isinstance(body, dict) else None
    return len(value) if isinstance(value, list) else None
