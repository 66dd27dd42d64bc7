"""The AADSTS catalogue: for each refusal, Entra's code, OAuth ``error`` value, HTTP status and message text.

One factory per case the token service refuses, so no endpoint invents its own wording. Codes and texts follow
reference ``dataverse-webapi.md`` §6.6 and Entra's published error-code list; where the pairing of a code with an
``error`` value or a status is not documented (or the sandbox adds a bracketed reason), the choice is the sandbox's
and is listed in ``docs/sandbox.md``. Not for: rendering (``errors.py``).
"""

from __future__ import annotations

from dataverse_sandbox.entra.errors import EntraError, dotnet_timestamp

__all__ = [
    "application_not_found",
    "assertion_client_mismatch",
    "assertion_invalid",
    "assertion_key_not_found",
    "assertion_signature_invalid",
    "assertion_subject_mismatch",
    "assertion_time_invalid",
    "client_credentials_scope_invalid",
    "code_already_redeemed",
    "code_verifier_mismatch",
    "consent_required",
    "credentials_invalid",
    "flow_expired",
    "grant_expired",
    "grant_for_other_client",
    "grant_malformed",
    "grant_not_on_common_endpoint",
    "grant_revoked",
    "internal_error",
    "invalid_client_secret",
    "invalid_code_challenge",
    "invalid_parameter",
    "invalid_scope",
    "login_required",
    "malformed_request",
    "method_not_allowed",
    "missing_client_credentials",
    "missing_parameter",
    "multiple_resources",
    "no_reply_address",
    "public_client_with_credentials",
    "redirect_uri_mismatch",
    "redirect_uri_not_registered",
    "refresh_token_expired",
    "resource_parameter_not_supported",
    "resourceless_scope",
    "service_unavailable",
    "tenant_not_found",
    "unknown_resource",
    "unsupported_grant_type",
    "unsupported_response_mode",
    "unsupported_response_type",
    "user_declined_consent",
]

_CERTIFICATE_DOCS = "https://learn.microsoft.com/entra/identity-platform/certificate-credentials"


# --- tenant and request shape -------------------------------------------------------------------------------


def tenant_not_found(tenant: str, *, error: str = "invalid_request") -> EntraError:
    """AADSTS90002; discovery documents use ``invalid_tenant``, the token endpoint ``invalid_request``."""
    return EntraError(
        90002,
        error,
        f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the "
        "correct cloud. Check with your subscription administrator, this may happen if there are no active "
        "subscriptions for the tenant.",
    )


def missing_parameter(name: str) -> EntraError:
    """AADSTS900144: a required request parameter is absent or empty."""
    return EntraError(900144, "invalid_request", f"The request body must contain the following parameter: '{name}'.")


def invalid_parameter(name: str) -> EntraError:
    """AADSTS90100: a parameter is present but not an accepted value."""
    return EntraError(90100, "invalid_request", f"{name} parameter is empty or not valid.")


def malformed_request(detail: str) -> EntraError:
    """AADSTS9002313: the request cannot be interpreted (sandbox adds the reason in brackets)."""
    return EntraError(9002313, "invalid_request", f"Invalid request. Request is malformed or invalid. [{detail}]")


def method_not_allowed(method: str) -> EntraError:
    """AADSTS900561: the token endpoint takes POST only."""
    return EntraError(
        900561,
        "invalid_request",
        f"The endpoint only accepts POST, OPTIONS requests. Received a {method} request.",
    )


def grant_not_on_common_endpoint(tenant: str) -> EntraError:
    """AADSTS9001023: app-only grants need a tenant-specific authority."""
    return EntraError(
        9001023,
        "invalid_request",
        f"The grant type isn't supported over the /{tenant} endpoint. Please use a tenant-specific endpoint.",
    )


def unsupported_grant_type(grant_type: str) -> EntraError:
    """AADSTS70003."""
    return EntraError(70003, "unsupported_grant_type", f"The app requested an unsupported grant type '{grant_type}'.")


def resource_parameter_not_supported() -> EntraError:
    """AADSTS901002: the v2 endpoints take ``scope``, never ``resource``."""
    return EntraError(901002, "invalid_request", "The 'resource' request parameter isn't supported.")


# --- client identification and authentication ---------------------------------------------------------------


def application_not_found(client_id: str, tenant: str) -> EntraError:
    """AADSTS700016: no application with that client id in the tenant."""
    return EntraError(
        700016,
        "unauthorized_client",
        f"Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if "
        "the application has not been installed by the administrator of the tenant or consented to by any user in "
        "the tenant. You may have sent your authentication request to the wrong tenant.",
    )


def missing_client_credentials() -> EntraError:
    """AADSTS7000218: a confidential client sent neither a secret nor an assertion (401)."""
    return EntraError(
        7000218,
        "invalid_client",
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        status=401,
    )


def invalid_client_secret(client_id: str) -> EntraError:
    """AADSTS7000215: wrong client secret (401, as captured from Entra)."""
    return EntraError(
        7000215,
        "invalid_client",
        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, "
        f"not the client secret ID, for a secret added to app '{client_id}'.",
        status=401,
    )


def public_client_with_credentials() -> EntraError:
    """AADSTS700025: a public client (no registered credential) presented one."""
    return EntraError(
        700025,
        "invalid_client",
        "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
        status=401,
    )


def assertion_invalid(reason: str) -> EntraError:
    """AADSTS50027: the client assertion is malformed or its claims are unacceptable (401)."""
    return EntraError(50027, "invalid_client", f"Invalid JWT token. {reason}", status=401)


def assertion_key_not_found(thumbprint_hex: str, client_id: str) -> EntraError:
    """AADSTS700027: the assertion names a certificate the application does not have (401)."""
    return EntraError(
        700027,
        "invalid_client",
        "Client assertion contains an invalid signature. [Reason - The key was not found., Thumbprint of key used "
        f"by client: '{thumbprint_hex}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to "
        f"see configured keys for app Id '{client_id}'.]",
        status=401,
    )


def assertion_signature_invalid(thumbprint_hex: str, reason: str) -> EntraError:
    """AADSTS700027: the certificate is registered but the signature does not verify with it (401)."""
    return EntraError(
        700027,
        "invalid_client",
        f"Client assertion contains an invalid signature. [Reason - {reason}, Thumbprint of key used by client: "
        f"'{thumbprint_hex}']",
        status=401,
    )


def assertion_time_invalid(now: float, not_before: float | None, expires: float | None) -> EntraError:
    """AADSTS700024: the assertion is expired or not yet valid (401)."""
    valid_from = dotnet_timestamp(not_before) if not_before is not None else "(not given)"
    expiry = dotnet_timestamp(expires) if expires is not None else "(not given)"
    return EntraError(
        700024,
        "invalid_client",
        f"Client assertion is not within its valid time range. Current time: {dotnet_timestamp(now)}, assertion "
        f"valid from {valid_from}, expiry time of assertion {expiry}. Review the documentation at "
        f"{_CERTIFICATE_DOCS} .",
        status=401,
    )


def federated_issuer_unknown(issuer: str) -> EntraError:
    """AADSTS700211: no federated credential of the application names the federated token's issuer (400)."""
    return EntraError(
        700211,
        "invalid_client",
        f"No matching federated identity record found for presented assertion issuer '{issuer}'.",
        status=400,
    )


def federated_subject_unknown(subject: str, issuer: str) -> EntraError:
    """AADSTS700213: no federated credential names the token's subject for its issuer (400)."""
    return EntraError(
        700213,
        "invalid_client",
        f"No matching federated identity record found for presented assertion subject '{subject}'. Please check "
        f"your federated identity credential Subject, Audience and Issuer against the presented assertion "
        f"(issuer '{issuer}').",
        status=400,
    )


def federated_audience_invalid(audience: object) -> EntraError:
    """AADSTS700212: the federated token's audience is not one the matching credential accepts (400)."""
    return EntraError(
        700212,
        "invalid_client",
        f"No matching federated identity record found for presented assertion audience '{audience}'.",
        status=400,
    )


def federated_signature_invalid(issuer: str) -> EntraError:
    """AADSTS70021: the federated token does not verify with the issuer's key (400)."""
    return EntraError(
        70021,
        "invalid_client",
        f"No matching federated identity record found for presented assertion. Assertion Issuer: '{issuer}'. "
        "The signature does not verify with the issuer's keys.",
        status=400,
    )


def assertion_subject_mismatch() -> EntraError:
    """AADSTS50048: ``sub`` differs from ``iss`` in the client assertion (401)."""
    return EntraError(50048, "invalid_client", "Subject mismatches Issuer claim in the client assertion.", status=401)


def assertion_client_mismatch() -> EntraError:
    """AADSTS700021: the assertion's ``iss``/``sub`` is not the ``client_id`` of the request (401)."""
    return EntraError(
        700021,
        "invalid_client",
        "Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation at "
        f"{_CERTIFICATE_DOCS} .",
        status=401,
    )


# --- resources and scopes ------------------------------------------------------------------------------------


def unknown_resource(resource: str, tenant: str) -> EntraError:
    """AADSTS500011: the resource (v1 ``resource`` or the resource part of a v2 scope) is not in the tenant."""
    return EntraError(
        500011,
        "invalid_resource",
        f"The resource principal named {resource} was not found in the tenant named {tenant}. This can happen if "
        "the application has not been installed by the administrator of the tenant or consented to by any user in "
        "the tenant. You might have sent your authentication request to the wrong tenant.",
    )


def invalid_scope(scope: str) -> EntraError:
    """AADSTS70011."""
    return EntraError(
        70011,
        "invalid_scope",
        f"The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid.",
    )


def client_credentials_scope_invalid(scope: str) -> EntraError:
    """AADSTS1002012: client credentials need ``<resource>/.default``."""
    return EntraError(
        1002012,
        "invalid_scope",
        f"The provided value for scope {scope} is not valid. Client credential flows must have a scope value with "
        "/.default suffixed to the resource identifier (application ID URI).",
    )


def multiple_resources(scope: str) -> EntraError:
    """AADSTS700022: one token is for one resource."""
    return EntraError(
        700022,
        "invalid_scope",
        f"The provided value for the input parameter scope is not valid because it contains more than one "
        f"resource. Scope {scope} is not valid.",
    )


def resourceless_scope(scope: str) -> EntraError:
    """AADSTS700023: the scope names no resource (only OpenID Connect scopes)."""
    return EntraError(
        700023,
        "invalid_scope",
        f"The provided value for the input parameter scope is not valid when requesting an access token. Scope "
        f"{scope} is not valid.",
    )


# --- authorization codes and refresh tokens -----------------------------------------------------------------


def code_already_redeemed() -> EntraError:
    """AADSTS54005."""
    return EntraError(
        54005,
        "invalid_grant",
        "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing "
        "refresh token.",
    )


def grant_expired() -> EntraError:
    """AADSTS70008: the authorization code is past its lifetime."""
    return EntraError(
        70008,
        "invalid_grant",
        "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive "
        "authorization request for this user and resource.",
    )


def refresh_token_expired(issued_at: float, inactive_seconds: float) -> EntraError:
    """AADSTS700082: the refresh token was not used within its lifetime."""
    return EntraError(
        700082,
        "invalid_grant",
        f"The refresh token has expired due to inactivity. The token was issued on {dotnet_timestamp(issued_at)} "
        f"and was inactive for {int(inactive_seconds)} seconds.",
    )


def grant_revoked() -> EntraError:
    """AADSTS50173: the refresh token (or its whole family) was revoked, e.g. after a rotated token was reused."""
    return EntraError(
        50173,
        "invalid_grant",
        "The provided grant has expired due to it being revoked, and a fresh auth token is needed. The user might "
        "have changed or reset their password, or a refresh token that had already been rotated was presented "
        "again, which revokes every token of that sign-in.",
    )


def grant_malformed(kind: str) -> EntraError:
    """AADSTS9002313 with ``invalid_grant``: the code or refresh token is unknown to the sandbox."""
    return EntraError(
        9002313, "invalid_grant", f"Invalid request. Request is malformed or invalid. [The {kind} is not valid.]"
    )


def grant_for_other_client(kind: str) -> EntraError:
    """AADSTS70000: the code or refresh token was issued to another application."""
    return EntraError(
        70000,
        "invalid_grant",
        f"Provided grant is invalid or malformed. The {kind} was issued to a different client.",
    )


def redirect_uri_mismatch(redirect_uri: str) -> EntraError:
    """AADSTS500112: the ``redirect_uri`` at redemption differs from the one the code was issued for."""
    return EntraError(
        500112,
        "invalid_grant",
        f"The reply address '{redirect_uri}' does not match the reply address provided when requesting "
        "Authorization code.",
    )


def code_verifier_mismatch() -> EntraError:
    """AADSTS501481: PKCE verification failed (or a verifier came for a code issued without a challenge)."""
    return EntraError(
        501481,
        "invalid_grant",
        "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
    )


# --- authorize endpoint, login and consent ------------------------------------------------------------------


def redirect_uri_not_registered(redirect_uri: str, client_id: str) -> EntraError:
    """AADSTS50011: shown on an error page, never redirected."""
    return EntraError(
        50011,
        "invalid_request",
        f"The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured "
        f"for the application '{client_id}'. Make sure the redirect URI sent in the request matches one added to "
        "your application in the Azure portal.",
    )


def no_reply_address() -> EntraError:
    """AADSTS900971: the authorize request has no ``redirect_uri``."""
    return EntraError(900971, "invalid_request", "No reply address provided.")


def unsupported_response_type(response_type: str) -> EntraError:
    """AADSTS70005: only ``code`` is supported."""
    return EntraError(
        70005,
        "unsupported_response_type",
        f"response_type '{response_type}' is not enabled for the application.",
    )


def unsupported_response_mode(response_mode: str) -> EntraError:
    """AADSTS70007."""
    return EntraError(
        70007,
        "invalid_request",
        f"The application returned an unsupported value of 'response_mode' '{response_mode}' when requesting a token.",
    )


def invalid_code_challenge() -> EntraError:
    """AADSTS501491: the PKCE challenge is not 43-128 unreserved characters."""
    return EntraError(501491, "invalid_request", "Invalid size of Code_Challenge parameter.")


def user_declined_consent() -> EntraError:
    """AADSTS65004: the user pressed Cancel on the consent page."""
    return EntraError(65004, "access_denied", "User declined to consent to access the app.")


def login_required() -> EntraError:
    """AADSTS50058: ``prompt=none`` without a signed-in user."""
    return EntraError(
        50058,
        "login_required",
        "A silent sign-in request was sent but no user is signed in.",
    )


def consent_required(client_id: str, display_name: str) -> EntraError:
    """AADSTS65001: ``prompt=none`` for a user who has not consented to the application."""
    return EntraError(
        65001,
        "interaction_required",
        f"The user or administrator has not consented to use the application with ID '{client_id}' named "
        f"'{display_name}'. Send an interactive authorization request for this user and resource.",
    )


def credentials_invalid() -> EntraError:
    """AADSTS50126: wrong user name or password on the login page."""
    return EntraError(
        50126, "invalid_grant", "Error validating credentials due to invalid username or password.", status=200
    )


def flow_expired(detail: str) -> EntraError:
    """AADSTS50089: the login/consent transaction is unknown, expired, or its cookie does not match."""
    return EntraError(50089, "invalid_request", f"Authentication failed due to flow token expired. [{detail}]")


# --- service-wide -------------------------------------------------------------------------------------------


def service_unavailable() -> EntraError:
    """AADSTS90033: the sandbox's outage switch is on (503)."""
    return EntraError(90033, "temporarily_unavailable", "A transient error has occurred. Please try again.", status=503)


def internal_error() -> EntraError:
    """AADSTS50000: an unexpected failure inside the sandbox (500)."""
    return EntraError(
        50000, "server_error", "There was an error issuing a token or an issue with our sign-in service.", status=500
    )
