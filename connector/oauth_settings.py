"""The OAuth 2.0 tab, validated: grant type, client credentials, token and authorization URLs and parameters, and
the JWT client assertion's settings.

The JSON Schema (``schemas/oauth2.schema.json``) has already been checked when :func:`parse_oauth_settings` runs; this
module adds what the schema cannot say (a derivable authorization URL, reserved claims, loopback-only ``http``) and
wraps every secret in :class:`~connector.secrets.Secret`; :mod:`connector.oauth_advice` adds the warnings about
settings that are valid but will not work as meant (resource and Scope). The signature key and its certificate are
loaded and checked against each other here too (:mod:`connector.keys.signing_key`), so that a cut-short key is a
field error of ``connect``; the assertion signer loads them again when a token is first needed.

It sits beside :mod:`connector.settings`, below ``connector.auth``: ``settings`` composes these settings into
``ConnectionSettings`` and the ``auth`` modules read them, and this module imports only the hook contract and the key
readers (:mod:`connector.keys`), so ``settings`` never imports ``auth`` (the two used to import each other). Not for
grants or tokens (``auth``).
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from connector.context import RuntimeContext
from connector.errors import FieldError
from connector.results import Diagnostic
from connector.secrets import Secret

__all__ = [
    "APP_SERVICE_ENDPOINT_ENV",
    "APP_SERVICE_HEADER_ENV",
    "AUDIENCE_FIELD",
    "AUTHORIZATION_PARAMETERS_FIELD",
    "AUTHORIZATION_URL_FIELD",
    "CALLBACK_URL_FIELD",
    "CLIENT_ID_FIELD",
    "CLIENT_SECRET_FIELD",
    "ENTRA_V2_URL_PATTERN",
    "EXPIRATION_FIELD",
    "FEDERATED_TOKEN_FILE_ENV",
    "FEDERATED_TOKEN_FILE_FIELD",
    "GRANT_TYPE_FIELD",
    "IMDS_ENDPOINT",
    "ISSUER_FIELD",
    "JTI_FIELD",
    "MANAGED_IDENTITY_ENDPOINT_FIELD",
    "MANAGED_IDENTITY_FIELD",
    "MANAGED_IDENTITY_HEADER_FIELD",
    "MANAGED_IDENTITY_ID_FIELD",
    "MANAGED_IDENTITY_RESOURCE_FIELD",
    "RESERVED_AUTHORIZATION_PARAMETERS",
    "RESERVED_CLAIMS",
    "RESERVED_TOKEN_PARAMETERS",
    "SCOPE_FIELD",
    "SIGNATURE_ALGORITHM_FIELD",
    "SIGNATURE_KEY_FIELD",
    "SUBJECT_FIELD",
    "TOKEN_PARAMETERS_FIELD",
    "TOKEN_URL_FIELD",
    "JwtSettings",
    "ManagedIdentitySettings",
    "NameValue",
    "OAuthSettings",
    "SignatureKeySettings",
    "derive_authorization_url",
    "entra_endpoint_version",
    "federated_token_file_problem",
    "is_loopback_url",
    "parse_managed_identity",
    "parse_oauth_settings",
    "url_problem",
]

RESERVED_CLAIMS: Final = frozenset({"iss", "sub", "aud", "exp", "nbf", "iat", "jti"})
"""Claims the connector sets itself; extended claims may not replace them."""

RESERVED_TOKEN_PARAMETERS: Final = frozenset(
    {
        "grant_type",
        "code",
        "code_verifier",
        "redirect_uri",
        "refresh_token",
        "client_secret",
        "client_assertion",
        "client_assertion_type",
    }
)
"""Token request parameters the connector sets per grant; access token parameters may not set them."""

RESERVED_AUTHORIZATION_PARAMETERS: Final = frozenset(
    {"response_type", "redirect_uri", "state", "code_challenge", "code_challenge_method"}
)
"""Authorization request parameters the connector sets; authorization parameters may not set them."""

# Field paths, as user messages and ``ConnectorError.field`` name them.
GRANT_TYPE_FIELD: Final = "oauth2.grant_type"
CLIENT_ID_FIELD: Final = "oauth2.client_id"
CLIENT_SECRET_FIELD: Final = "oauth2.client_secret"  # noqa: S105 - a field path, not a secret
TOKEN_URL_FIELD: Final = "oauth2.access_token_url"  # noqa: S105 - a field path, not a secret
AUTHORIZATION_URL_FIELD: Final = "oauth2.authorization_url"
TOKEN_PARAMETERS_FIELD: Final = "oauth2.access_token_parameters"  # noqa: S105 - a field path, not a secret
AUTHORIZATION_PARAMETERS_FIELD: Final = "oauth2.authorization_parameters"
SCOPE_FIELD: Final = "oauth2.scope"
SIGNATURE_KEY_FIELD: Final = "oauth2.jwt.signature_key"
SIGNATURE_ALGORITHM_FIELD: Final = "oauth2.jwt.signature_algorithm"
ISSUER_FIELD: Final = "oauth2.jwt.issuer"
SUBJECT_FIELD: Final = "oauth2.jwt.subject"
EXPIRATION_FIELD: Final = "oauth2.jwt.expiration_seconds"
FEDERATED_TOKEN_FILE_FIELD: Final = "oauth2.federated_token_file"  # noqa: S105 - a field path, not a secret
FEDERATED_TOKEN_FILE_ENV: Final = "AZURE_FEDERATED_TOKEN_FILE"  # noqa: S105 - an environment variable's name
"""Where AKS workload identity and similar runtimes say which file holds the federated token."""
MANAGED_IDENTITY_FIELD: Final = "oauth2.identity"
MANAGED_IDENTITY_ID_FIELD: Final = "oauth2.identity_id"
MANAGED_IDENTITY_ENDPOINT_FIELD: Final = "oauth2.identity_endpoint"
MANAGED_IDENTITY_HEADER_FIELD: Final = "oauth2.identity_header"
MANAGED_IDENTITY_RESOURCE_FIELD: Final = "oauth2.resource"
IMDS_ENDPOINT: Final = "http://169.254.169.254/metadata/identity/oauth2/token"
"""Azure's instance metadata service: the managed identity endpoint of VMs, scale sets, AKS nodes."""
APP_SERVICE_ENDPOINT_ENV: Final = "IDENTITY_ENDPOINT"
APP_SERVICE_HEADER_ENV: Final = "IDENTITY_HEADER"
AUDIENCE_FIELD: Final = "oauth2.jwt.audience"
JTI_FIELD: Final = "oauth2.jwt.jti"
CALLBACK_URL_FIELD: Final = "callback_url"
"""Not a form field: the host's callback URL (runtime context), which must be registered with the application."""

ENTRA_V2_URL_PATTERN: Final = r"^https?://[^/?#]*/(?:[^?#]*/)?oauth2/v2\.0/"
"""An Entra v2 endpoint (``.../oauth2/v2.0/token``, ``.../oauth2/v2.0/authorize``). The authorization-code section of
``schemas/oauth2.schema.json`` requires Scope (v2) or a ``resource`` parameter (any other URL) by the same pattern, in
a ``dependentSchemas`` of the token URL, so the schema and the connector agree on which URLs are v2."""

_ENTRA_V2_URL: Final = re.compile(ENTRA_V2_URL_PATTERN)
_ENTRA_V1_PATH: Final = re.compile(r"/oauth2/(?:token|authorize)/?$")


@dataclass(frozen=True)
class NameValue:
    """One name/value parameter, sent as given."""

    name: str
    value: str


@dataclass(frozen=True)
class SignatureKeySettings:
    """The private key and certificate that sign client assertions (all key material is secret)."""

    format: Literal["pem", "pkcs12"]
    private_key: Secret | None = None
    certificate: str | None = None
    pkcs12: Secret | None = None
    password: Secret | None = None


@dataclass(frozen=True)
class JwtSettings:
    """How to build and sign the client assertion."""

    algorithm: str
    key: SignatureKeySettings
    issuer: str
    subject: str
    audience: str
    expiration_seconds: int
    jti: Literal["UUID", "NONE"]
    extended_claims: tuple[NameValue, ...]
    include_x5t_s256: bool
    include_x5t: bool


@dataclass(frozen=True)
class ManagedIdentitySettings:
    """Managed identity: which endpoint, which identity, for which resource.

    :param endpoint_type: ``imds`` (VMs, scale sets, AKS nodes) or ``app_service`` (App Service, Functions).
    :param endpoint: the endpoint's URL.
    :param identity_header: App Service's ``IDENTITY_HEADER`` secret, sent as ``X-IDENTITY-HEADER``.
    :param identity: ``system`` (system-assigned) or how a user-assigned identity is named: ``client_id``,
        ``object_id`` or ``resource_id``.
    :param identity_id: the user-assigned identity's id, of that kind.
    :param resource: the Web API's protocol and host, the token's audience.
    """

    endpoint_type: Literal["imds", "app_service"]
    endpoint: str
    identity_header: Secret | None
    identity: Literal["system", "client_id", "object_id", "resource_id"]
    identity_id: str | None
    resource: str


@dataclass(frozen=True)
class OAuthSettings:
    """The OAuth 2.0 tab after validation.

    :param grant_type: ``authorization_code`` or ``client_credentials``.
    :param client_id: the application id.
    :param client_secret: the secret, when the grant uses one.
    :param client_authentication: ``client_secret_post`` or ``client_secret_basic``.
    :param client_assertion_type: ``client_secret``, ``jwt`` or ``federated_token_file`` (client credentials only).
    :param authorization_url: given, or derived from the token URL.
    :param authorization_parameters: added to the authorization URL.
    :param access_token_url: the token endpoint.
    :param access_token_parameters: added to every token request.
    :param scope: space-separated scopes, or ``None``.
    :param refresh_margin_seconds: renew the access token this long before it expires.
    :param jwt: the assertion settings, for ``client_assertion_type == "jwt"``.
    :param callback_url: the host's OAuth redirect URL.
    :param diagnostics: warnings.
    :param managed_identity: the managed identity settings, for ``grant_type == "managed_identity"`` (then
        ``client_id`` names the identity, ``access_token_url`` is the identity endpoint and the resource is the one
        access token parameter).
    :param federated_token_file: the file holding the federated token (workload identity federation), for
        ``client_assertion_type == "federated_token_file"``; read again for every token request.
    """

    grant_type: Literal["authorization_code", "client_credentials", "managed_identity"]
    client_id: str
    client_secret: Secret | None
    client_authentication: Literal["client_secret_post", "client_secret_basic"]
    client_assertion_type: Literal["client_secret", "jwt", "federated_token_file"]
    authorization_url: str | None
    authorization_parameters: tuple[NameValue, ...]
    access_token_url: str
    access_token_parameters: tuple[NameValue, ...]
    scope: str | None
    refresh_margin_seconds: int
    jwt: JwtSettings | None
    callback_url: str | None
    diagnostics: tuple[Diagnostic, ...] = ()
    federated_token_file: str | None = None
    managed_identity: ManagedIdentitySettings | None = None

    @property
    def entra_version(self) -> Literal["v1", "v2"] | None:
        """Which Entra endpoint the access token URL names: ``v1``, ``v2`` or ``None`` (another provider's)."""
        return entra_endpoint_version(self.access_token_url)

    @property
    def given_resource(self) -> str | None:
        """The ``resource`` parameter as configured, from the authorization or the token parameters."""
        for parameter in (*self.authorization_parameters, *self.access_token_parameters):
            if parameter.name == "resource" and parameter.value:
                return parameter.value
        return None

    @property
    def resource(self) -> str | None:
        """The ``resource`` parameter the connector sends: the configured one, except to Entra's v2 endpoints, which
        refuse it (AADSTS901002) and take the resource inside Scope instead.
        """
        return None if self.entra_version == "v2" else self.given_resource

    @property
    def resource_field(self) -> str:
        """The field holding the ``resource`` parameter (the token parameters when neither does)."""
        if self.managed_identity is not None:
            return MANAGED_IDENTITY_RESOURCE_FIELD
        if any(p.name == "resource" for p in self.access_token_parameters) or self.grant_type != "authorization_code":
            return TOKEN_PARAMETERS_FIELD
        return AUTHORIZATION_PARAMETERS_FIELD


def derive_authorization_url(token_url: str) -> str | None:
    """Derive the authorization endpoint from the token endpoint, as Entra pairs them.

    :param token_url: e.g. ``https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token``.
    :returns: the same URL ending in ``/authorize``, or ``None`` when the token URL does not end in ``/token``.
    """
    parts = urlsplit(token_url)
    if not parts.path.endswith("/token"):
        return None
    return parts._replace(path=parts.path.removesuffix("/token") + "/authorize", query="", fragment="").geturl()


def entra_endpoint_version(url: str | None) -> Literal["v1", "v2"] | None:
    """Tell Entra's v1 endpoints from its v2 ones by their path, as the schema does.

    :param url: a token or authorization URL.
    :returns: ``"v2"`` for a URL with ``/oauth2/v2.0/`` (:data:`ENTRA_V2_URL_PATTERN`), ``"v1"`` for one whose path
        ends in ``/oauth2/token`` or ``/oauth2/authorize``, ``None`` for any other (another provider's).
    """
    if not url:
        return None
    if _ENTRA_V2_URL.match(url):
        return "v2"
    try:
        path = urlsplit(url).path
    except ValueError:
        return None
    return "v1" if _ENTRA_V1_PATH.search(path) else None


def is_loopback_url(url: str) -> bool:
    """:returns: whether a URL points at this machine (``localhost`` or a loopback address)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _pairs(raw: Any) -> tuple[NameValue, ...]:
    return tuple(NameValue(str(item["name"]), str(item.get("value", ""))) for item in raw or ())


def _secret(raw: Mapping[str, Any], key: str) -> Secret | None:
    value = raw.get(key)
    return Secret(str(value)) if value else None


def _check_url(path: str, url: str, errors: list[FieldError], diagnostics: list[Diagnostic]) -> None:
    problem = url_problem(url)
    if problem:
        errors.append(FieldError(path, problem))
    elif urlsplit(url).scheme == "http" and not is_loopback_url(url):
        diagnostics.append(Diagnostic("warning", path, "http sends secrets unencrypted; use https"))


def url_problem(url: str) -> str | None:
    """:returns: what is wrong with an endpoint URL from the settings, or ``None``. A URL carrying a user name or
    password is refused without being quoted (the password must not reach a log or a form); others are quoted.
    """
    try:
        parts = urlsplit(url)
        has_userinfo = "@" in parts.netloc
        port_ok = has_userinfo or parts.port is None or parts.port > 0
        hostname = parts.hostname
    except ValueError:
        return "is not a valid URL: check the host name and the port"
    if has_userinfo:
        return "must not contain a user name or password: OAuth 2.0 credentials go in their own fields"
    if parts.scheme not in {"https", "http"} or not hostname or not port_ok:
        return f"must be an absolute https URL (got {url!r})"
    return None


def _parse_jwt(raw: Mapping[str, Any], client_id: str, token_url: str, errors: list[FieldError]) -> JwtSettings:
    key_raw: Mapping[str, Any] = raw.get("signature_key", {})
    claims = _pairs(raw.get("extended_claims"))
    for index, claim in enumerate(claims):
        if claim.name in RESERVED_CLAIMS:
            errors.append(
                FieldError(
                    f"oauth2.jwt.extended_claims[{index}].name",
                    f"'{claim.name}' is set by the connector and cannot be overridden by an extended claim "
                    f"(reserved: {', '.join(sorted(RESERVED_CLAIMS))})",
                )
            )
    return JwtSettings(
        algorithm=str(raw.get("signature_algorithm", "RS256")),
        key=SignatureKeySettings(
            format=key_raw.get("format", "pem"),
            private_key=_secret(key_raw, "private_key"),
            certificate=key_raw.get("certificate"),
            pkcs12=_secret(key_raw, "pkcs12"),
            password=_secret(key_raw, "password"),
        ),
        issuer=str(raw.get("issuer") or client_id),
        subject=str(raw.get("subject") or client_id),
        audience=str(raw.get("audience") or token_url),
        expiration_seconds=int(raw.get("expiration_seconds", 300)),
        jti=raw.get("jti", "UUID"),
        extended_claims=claims,
        include_x5t_s256=bool(raw.get("include_x5t_s256", True)),
        include_x5t=bool(raw.get("include_x5t", True)),
    )


def _check_parameters(
    path: str,
    parameters: tuple[NameValue, ...],
    reserved: frozenset[str],
    own: Mapping[str, str | None],
    errors: list[FieldError],
) -> None:
    """Refuse parameters that would replace one the connector sets; an exact duplicate of our own is allowed."""
    for index, parameter in enumerate(parameters):
        where = f"{path}[{index}].name"
        if parameter.name in reserved:
            errors.append(FieldError(where, f"'{parameter.name}' is set by the connector and cannot be given here"))
        elif own.get(parameter.name) is not None and parameter.value != own[parameter.name]:
            errors.append(
                FieldError(
                    where,
                    f"'{parameter.name}' differs from the value the connector sends "
                    f"({own[parameter.name]!r}); remove it or make them equal",
                )
            )


def _check_signing_key(jwt: JwtSettings, errors: list[FieldError], diagnostics: list[Diagnostic]) -> None:
    """Load the key and certificate now, so a truncated key or a certificate of another key is a field error of
    ``connect`` rather than a failure at the first token request.
    """
    from connector.errors import ConfigError
    from connector.keys.signing_key import load_signing_key  # imports cryptography; signing_key imports this module

    try:
        signing_key = load_signing_key(jwt.key, jwt.algorithm)
    except ConfigError as error:
        errors.extend(error.errors)
    else:
        diagnostics.extend(signing_key.diagnostics)


def _parse_federated_token_file(raw: Mapping[str, Any], errors: list[FieldError]) -> str | None:
    """The federated token file: as given, else from ``AZURE_FEDERATED_TOKEN_FILE``; it must be readable now."""
    path = str(raw.get("federated_token_file") or os.environ.get(FEDERATED_TOKEN_FILE_ENV) or "")
    if not path:
        errors.append(
            FieldError(
                FEDERATED_TOKEN_FILE_FIELD,
                f"is blank and {FEDERATED_TOKEN_FILE_ENV} is not set: give the path of the file your platform "
                "writes the federated token to (AKS workload identity sets the variable)",
            )
        )
        return None
    problem = federated_token_file_problem(path)
    if problem:
        errors.append(FieldError(FEDERATED_TOKEN_FILE_FIELD, problem))
    return path


def federated_token_file_problem(path: str) -> str | None:
    """:returns: why the federated token file cannot be used now (missing, unreadable, empty), or ``None``."""
    try:
        with open(path, "rb") as file:
            content = file.read(65536)
    except FileNotFoundError:
        return f"{path!r} does not exist: check the path, or that the platform mounts the token there"
    except OSError as error:
        return f"{path!r} cannot be read ({error.strerror or type(error).__name__}): check its permissions"
    if not content.strip():
        return f"{path!r} is empty: the platform has not written a federated token to it yet"
    return None


def parse_managed_identity(raw: Mapping[str, Any], context: RuntimeContext) -> tuple[OAuthSettings, list[FieldError]]:
    """Build the settings of the managed identity sign-in method.

    The endpoint type ``auto`` is App Service when ``IDENTITY_ENDPOINT`` and ``IDENTITY_HEADER`` are set (as App
    Service and Functions set them), else IMDS. A blank endpoint is IMDS's address or ``IDENTITY_ENDPOINT``; a
    blank identity header is ``IDENTITY_HEADER``.

    :param raw: the OAuth 2.0 tab, already checked against its schema.
    :param context: the runtime context.
    :returns: the settings and any field errors.
    """
    errors: list[FieldError] = []
    kind = str(raw.get("identity_endpoint_type") or "auto")
    if kind == "auto":
        in_app_service = os.environ.get(APP_SERVICE_ENDPOINT_ENV) and os.environ.get(APP_SERVICE_HEADER_ENV)
        kind = "app_service" if in_app_service else "imds"
    endpoint = str(raw.get("identity_endpoint") or "")
    header = _secret(raw, "identity_header")
    if kind == "app_service":
        endpoint = endpoint or os.environ.get(APP_SERVICE_ENDPOINT_ENV, "")
        if header is None and os.environ.get(APP_SERVICE_HEADER_ENV):
            header = Secret(os.environ[APP_SERVICE_HEADER_ENV])
        if not endpoint:
            errors.append(
                FieldError(
                    MANAGED_IDENTITY_ENDPOINT_FIELD,
                    f"is blank and {APP_SERVICE_ENDPOINT_ENV} is not set: App Service sets it when the app has a "
                    "managed identity; give the endpoint or turn the identity on",
                )
            )
        if header is None:
            errors.append(
                FieldError(
                    MANAGED_IDENTITY_HEADER_FIELD,
                    f"is blank and {APP_SERVICE_HEADER_ENV} is not set: App Service sets it with "
                    f"{APP_SERVICE_ENDPOINT_ENV}",
                )
            )
    else:
        endpoint = endpoint or IMDS_ENDPOINT
    if endpoint:
        problem = url_problem(endpoint)
        if problem:
            errors.append(FieldError(MANAGED_IDENTITY_ENDPOINT_FIELD, problem))
    identity = raw.get("identity", "system")
    identity_id = str(raw.get("identity_id") or "").strip() or None
    if identity != "system" and identity_id is None:
        errors.append(
            FieldError(MANAGED_IDENTITY_ID_FIELD, f"is required for a user-assigned identity named by {identity}")
        )
    if identity == "system":
        identity_id = None
    resource = str(raw.get("resource") or "")
    problem = url_problem(resource) if resource else "is required: the Web API's protocol and host"
    if problem:
        errors.append(FieldError(MANAGED_IDENTITY_RESOURCE_FIELD, problem))
    managed = ManagedIdentitySettings(
        endpoint_type="app_service" if kind == "app_service" else "imds",
        endpoint=endpoint,
        identity_header=header,
        identity=identity,
        identity_id=identity_id,
        resource=resource,
    )
    settings = OAuthSettings(
        grant_type="managed_identity",
        # Names the identity, so that connections with different identities never share stored tokens.
        client_id=identity if identity_id is None else f"{identity}:{identity_id}",
        client_secret=None,
        client_authentication="client_secret_post",
        client_assertion_type="client_secret",
        authorization_url=None,
        authorization_parameters=(),
        access_token_url=endpoint,
        access_token_parameters=(NameValue("resource", resource),),
        scope=None,
        refresh_margin_seconds=int(raw.get("refresh_margin_seconds", 300)),
        jwt=None,
        callback_url=context.callback_url,
        managed_identity=managed,
    )
    return settings, errors


def parse_oauth_settings(
    raw: Mapping[str, Any], context: RuntimeContext, *, skip: Collection[str] = ()
) -> tuple[OAuthSettings | None, list[FieldError]]:
    """Check what the schema cannot and build :class:`OAuthSettings`.

    :param raw: the OAuth 2.0 tab, already checked against its schema.
    :param context: the runtime context (for the callback URL).
    :param skip: field paths already reported as bad by the schema; they are not checked again.
    :returns: the settings (``None`` when the schema already failed) and any new field errors.
    """
    errors: list[FieldError] = []
    diagnostics: list[Diagnostic] = []
    if any(path == "oauth2" or path.startswith("oauth2.") for path in skip):
        return None, errors
    if raw.get("grant_type") == "managed_identity":
        return parse_managed_identity(raw, context)
    grant = raw["grant_type"]
    client_id = str(raw["client_id"])
    token_url = str(raw["access_token_url"])
    _check_url("oauth2.access_token_url", token_url, errors, diagnostics)
    authorization_url = raw.get("authorization_url") or None
    if grant == "authorization_code":
        if authorization_url:
            _check_url("oauth2.authorization_url", authorization_url, errors, diagnostics)
        elif url_problem(token_url) is None:
            authorization_url = derive_authorization_url(token_url)
            if authorization_url is None:
                errors.append(
                    FieldError(
                        "oauth2.authorization_url",
                        "is required because the access token URL does not end in /token, so it cannot be derived",
                    )
                )
    assertion_type = raw.get("client_assertion_type", "client_secret") if grant == "client_credentials" else None
    jwt = _parse_jwt(raw.get("jwt", {}), client_id, token_url, errors) if assertion_type == "jwt" else None
    if jwt is not None:
        _check_signing_key(jwt, errors, diagnostics)
    federated_token_file = (
        _parse_federated_token_file(raw, errors) if assertion_type == "federated_token_file" else None
    )
    own = {"client_id": client_id, "scope": raw.get("scope") or None}
    _check_parameters(
        TOKEN_PARAMETERS_FIELD, _pairs(raw.get("access_token_parameters")), RESERVED_TOKEN_PARAMETERS, own, errors
    )
    if grant == "authorization_code":
        _check_parameters(
            AUTHORIZATION_PARAMETERS_FIELD,
            _pairs(raw.get("authorization_parameters")),
            RESERVED_AUTHORIZATION_PARAMETERS,
            own,
            errors,
        )
    settings = OAuthSettings(
        grant_type=grant,
        client_id=client_id,
        client_secret=_secret(raw, "client_secret"),
        client_authentication=raw.get("client_authentication", "client_secret_post"),
        client_assertion_type=assertion_type or "client_secret",
        authorization_url=authorization_url,
        authorization_parameters=_pairs(raw.get("authorization_parameters")),
        access_token_url=token_url,
        access_token_parameters=_pairs(raw.get("access_token_parameters")),
        scope=(raw.get("scope") or None),
        refresh_margin_seconds=int(raw.get("refresh_margin_seconds", 300)),
        jwt=jwt,
        callback_url=context.callback_url,
        diagnostics=tuple(diagnostics),
        federated_token_file=federated_token_file,
    )
    if not errors:
        from connector.oauth_advice import oauth_advice  # it reads these settings: imported here, not at the top

        settings = replace(settings, diagnostics=(*settings.diagnostics, *oauth_advice(settings)))
    return settings, errors
