"""A corpus of connection and OAuth configurations, valid and invalid, that every JSON Schema engine must judge alike.

Built from the docs' examples (``docs/configuration.md``, the four sign-in states a form produces) and mutations of
each field: removed, blank, of another JSON type, with a trailing newline or spaces, a placeholder left in, a
neighbouring enum value, numbers at and past their bounds, an unknown field, and a section of another sign-in method.
Each case is ``(schema name, label, instance)``; what is valid is for the engines to say, not for this module.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any, Final

Case = tuple[str, str, Any]

PEM_KEY: Final = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"
PEM_CERTIFICATE: Final = "-----BEGIN CERTIFICATE-----\nMIIC/zCCAeegAwIBAgIU\n-----END CERTIFICATE-----\n"
PFX_UPLOAD: Final = "data:application/x-pkcs12;name=app.pfx;base64,MIIKQQIBAzCCCfcGCSqGSIb3DQEHAaCCCegEggnk"

CONNECTIONS: Final[dict[str, dict[str, Any]]] = {
    "docs example": {
        "protocol": "https",
        "base_url": "contoso.crm.dynamics.com",
        "web_api_path": "/api/data/",
        "version": "v9.2",
        "honor_runtime_proxy": False,
        "connect_timeout_ms": None,
        "read_timeout_ms": None,
    },
    "seed example": {
        "protocol": "http",
        "base_url": "boomi.crm.dynamics.com",
        "web_api_path": "/api/data/",
        "version": "v9.0",
    },
    "host only": {"base_url": "contoso.crm4.dynamics.com"},
    "sandbox": {"protocol": "http", "base_url": "127.0.0.1:8080", "connect_timeout_ms": 0, "read_timeout_ms": -1},
    "ipv6 loopback": {"base_url": "[::1]:8443", "version": "v9.1/", "honor_runtime_proxy": True},
}

TOKEN_URL: Final = "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/token"
RESOURCE: Final = [{"name": "resource", "value": "https://contoso.crm.dynamics.com"}]
V2_TOKEN_URL: Final = "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"

RESOURCE_URL: Final = "https://contoso.crm.dynamics.com"
OAUTHS: Final[dict[str, dict[str, Any]]] = {
    "authorization code": {
        "grant_type": "authorization_code",
        "client_id": "535fb089-9ff3-47b6-9bfb-4f1264799865",
        "client_secret": "s3cret",
        "client_authentication": "client_secret_post",
        "access_token_url": TOKEN_URL,
        "authorization_parameters": RESOURCE,
        "access_token_parameters": [],
        "refresh_margin_seconds": 300,
    },
    "authorization code, public client": {
        "grant_type": "authorization_code",
        "client_id": "app",
        "access_token_url": "https://login.microsoftonline.com/t/oauth2/v2.0/token",
        "authorization_url": "https://login.microsoftonline.com/t/oauth2/v2.0/authorize",
        "authorization_parameters": [*RESOURCE, {"name": "prompt", "value": "select_account"}],
        "scope": "https://contoso.crm.dynamics.com/user_impersonation offline_access",
    },
    "authorization code, v2 as documented": {
        "grant_type": "authorization_code",
        "client_id": "535fb089-9ff3-47b6-9bfb-4f1264799865",
        "client_secret": "s3cret",
        "access_token_url": V2_TOKEN_URL,
        "scope": "https://contoso.crm.dynamics.com/user_impersonation offline_access",
    },
    "client secret (docs example)": {
        "grant_type": "client_credentials",
        "client_assertion_type": "client_secret",
        "client_id": "535fb089-9ff3-47b6-9bfb-4f1264799865",
        "client_secret": "s3cret",
        "access_token_url": TOKEN_URL,
        "access_token_parameters": RESOURCE,
    },
    "client secret over Basic": {
        "grant_type": "client_credentials",
        "client_id": "app",
        "client_secret": "s3cret",
        "client_authentication": "client_secret_basic",
        "access_token_url": "http://127.0.0.1:5000/tenant/oauth2/token",
        "scope": "https://contoso.crm.dynamics.com/.default",
    },
    "federated token file": {
        "grant_type": "client_credentials",
        "client_assertion_type": "federated_token_file",
        "client_id": "535fb089-9ff3-47b6-9bfb-4f1264799865",
        "access_token_url": TOKEN_URL,
        "federated_token_file": "/var/run/secrets/azure/tokens/azure-identity-token",
        "scope": "https://contoso.crm.dynamics.com/.default",
    },
    "managed identity": {
        "grant_type": "managed_identity",
        "identity": "client_id",
        "identity_id": "535fb089-9ff3-47b6-9bfb-4f1264799865",
        "resource": "https://contoso.crm.dynamics.com",
        "identity_endpoint_type": "imds",
        "identity_endpoint": "http://127.0.0.1:8080/metadata/identity/oauth2/token",
        "refresh_margin_seconds": 300,
    },
    "JWT with PEM": {
        "grant_type": "client_credentials",
        "client_assertion_type": "jwt",
        "client_id": "app",
        "access_token_url": TOKEN_URL,
        "access_token_parameters": RESOURCE,
        "jwt": {
            "signature_algorithm": "PS256",
            "signature_key": {"format": "pem", "private_key": PEM_KEY, "certificate": PEM_CERTIFICATE},
            "expiration_seconds": 600,
            "jti": "UUID",
            "extended_claims": [{"name": "tenant", "value": "contoso"}],
            "include_x5t_s256": True,
            "include_x5t": False,
        },
    },
    "JWT with PKCS#12 upload": {
        "grant_type": "client_credentials",
        "client_assertion_type": "jwt",
        "client_id": "app",
        "access_token_url": TOKEN_URL,
        "jwt": {
            "signature_key": {"format": "pkcs12", "pkcs12": PFX_UPLOAD, "password": "pfx-password"},
            "issuer": "app",
            "subject": "app",
            "audience": TOKEN_URL,
        },
        "refresh_margin_seconds": 0,
    },
}

_OTHER_TYPES: Final[dict[str, Any]] = {"a number": 12, "null": None, "a boolean": True, "a list": [], "an object": {}}


def _with(instance: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(instance)
    target = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return changed


def _without(instance: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    changed = copy.deepcopy(instance)
    target = changed
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return changed


def _leaves(instance: dict[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    for key, value in instance.items():
        path = (*prefix, key)
        yield path, value
        if isinstance(value, dict):
            yield from _leaves(value, path)


def _mutations(value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, str):
        yield "blank", ""
        yield "trailing newline", value + "\n"
        yield "leading space", " " + value
        # Characters the engines' \s classes disagree on (Python counts U+001F, JavaScript U+FEFF).
        yield "with a no-break space", value + "\u00a0"
        yield "with a byte order mark", "\ufeff" + value
        yield "with a unit separator", value + "\x1f"
        yield "with a <placeholder>", value + "<tenant>" if value else "<tenant>"
        if value.startswith("http"):
            yield "urn", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            yield "no scheme", value.split("://", 1)[-1]
            yield "ftp scheme", "ftp://" + value.split("://", 1)[-1]
        else:
            yield "upper case", value.upper()
    elif isinstance(value, bool):
        yield "as a string", str(value).lower()
    elif isinstance(value, int):
        for label, number in (("negative", -1), ("zero", 0), ("large", 3601), ("huge", 86401), ("fraction", 1.5)):
            yield label, number
        yield "as a string", str(value)
    elif isinstance(value, list):
        yield "empty", []
        yield "unnamed item", [{"name": "", "value": "x"}]
        yield "item without value", [{"name": "resource"}]
        yield "extra item field", [{"name": "resource", "value": "x", "note": "y"}]
    for label, other in _OTHER_TYPES.items():
        if type(other) is not type(value):
            yield f"as {label}", other


def cases() -> list[Case]:
    """:returns: every case, in a stable order."""
    found: list[Case] = []
    for schema, examples in (("connection", CONNECTIONS), ("oauth2", OAUTHS)):
        for name, example in examples.items():
            found.append((schema, f"{name}: as documented", example))
            found.append((schema, f"{name}: unknown field", {**example, "colour": "blue"}))
            for path, value in _leaves(example):
                where = ".".join(path)
                found.append((schema, f"{name}: without {where}", _without(example, path)))
                for label, changed in _mutations(value):
                    found.append((schema, f"{name}: {where} {label}", _with(example, path, changed)))
    secret, pem, code = OAUTHS["client secret (docs example)"], OAUTHS["JWT with PEM"], OAUTHS["authorization code"]
    federated, managed = OAUTHS["federated token file"], OAUTHS["managed identity"]
    v2 = OAUTHS["authorization code, v2 as documented"]
    found += [
        ("oauth2", "secret with a JWT section", {**secret, "jwt": pem["jwt"]}),
        ("oauth2", "secret with an authorization URL", {**secret, "authorization_url": TOKEN_URL}),
        ("oauth2", "secret with the other assertion type", {**secret, "client_assertion_type": "jwt"}),
        ("oauth2", "JWT with a client secret", {**pem, "client_secret": "s3cret"}),
        ("oauth2", "JWT with authorization parameters", {**pem, "authorization_parameters": RESOURCE}),
        ("oauth2", "authorization code with an assertion type", {**code, "client_assertion_type": "client_secret"}),
        ("oauth2", "authorization code with a JWT section", {**code, "jwt": pem["jwt"]}),
        ("oauth2", "authorization code without resource", {**code, "authorization_parameters": []}),
        ("oauth2", "v1 authorization code with a scope only", {**code, "authorization_parameters": [], "scope": "x"}),
        ("oauth2", "v2 authorization code without scope", {**code, "access_token_url": V2_TOKEN_URL}),
        ("oauth2", "v2 authorization code, blank scope", {**code, "access_token_url": V2_TOKEN_URL, "scope": ""}),
        ("oauth2", "v2 authorization code, scope null", {**code, "access_token_url": V2_TOKEN_URL, "scope": None}),
        (
            "oauth2",
            "v2 path in the query only",
            {**code, "access_token_url": TOKEN_URL + "?next=/oauth2/v2.0/", "authorization_parameters": []},
        ),
        (
            "oauth2",
            "v2 at the host's root",
            {**v2, "access_token_url": "http://127.0.0.1:8080/oauth2/v2.0/token"},
        ),
        ("oauth2", "v2 with an upper-case path", {**v2, "access_token_url": V2_TOKEN_URL.upper()}),
        ("oauth2", "v2 with a resource left in", {**v2, "authorization_parameters": RESOURCE}),
        ("oauth2", "v2 URL given to client credentials without scope", {**secret, "access_token_url": V2_TOKEN_URL}),
        ("oauth2", "unknown grant", {**secret, "grant_type": "password"}),
        ("oauth2", "federated token with a client secret", {**federated, "client_secret": "s3cret"}),
        ("oauth2", "federated token with a JWT section", {**federated, "jwt": pem["jwt"]}),
        ("oauth2", "federated token file blank (from the environment)", {**federated, "federated_token_file": ""}),
        ("oauth2", "federated token as authorization code", {**federated, "grant_type": "authorization_code"}),
        ("oauth2", "managed identity with a client secret", {**managed, "client_secret": "s3cret"}),
        ("oauth2", "managed identity with an access token URL", {**managed, "access_token_url": TOKEN_URL}),
        (
            "oauth2",
            "managed identity, system-assigned, only the resource",
            {"grant_type": "managed_identity", "resource": RESOURCE_URL},
        ),
        ("oauth2", "managed identity without resource", {"grant_type": "managed_identity"}),
        ("oauth2", "managed identity, unknown identity kind", {**managed, "identity": "tenant"}),
        (
            "oauth2",
            "managed identity, App Service with a header",
            {**managed, "identity_endpoint_type": "app_service", "identity_header": "h"},
        ),
        ("oauth2", "managed identity with an empty header", {**managed, "identity_header": ""}),
        (
            "oauth2",
            "secret with the federated assertion type",
            {**secret, "client_assertion_type": "federated_token_file"},
        ),
        ("oauth2", "empty", {}),
        ("oauth2", "not an object", "client_credentials"),
        ("connection", "empty", {}),
        ("connection", "a list", []),
        (
            "oauth2",
            "PEM key with a PKCS#12 file",
            _with(pem, ("jwt", "signature_key", "pkcs12"), PFX_UPLOAD),
        ),
        (
            "oauth2",
            "PKCS#12 with a PEM key",
            _with(OAUTHS["JWT with PKCS#12 upload"], ("jwt", "signature_key", "private_key"), PEM_KEY),
        ),
        ("oauth2", "PEM key without format", _without(pem, ("jwt", "signature_key", "format"))),
        (
            "oauth2",
            "PKCS#12 without format",
            _without(OAUTHS["JWT with PKCS#12 upload"], ("jwt", "signature_key", "format")),
        ),
    ]
    return found
