"""The interop authorization server (npm oidc-provider, ``tests/interop``) behaves as the connector's tests assume.

Driven with plain ``requests``, PyJWT and ``cryptography``, never with the connector: if the connector's interop
tests fail, these say whether the server or the connector is at fault. Each test states one behaviour of Entra ID
v1 that the server must share (or one refusal it must make), so a server that accepted anything would fail here.
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, quote_plus, urlencode, urlsplit

import jwt
import pytest
import requests

from tests.support.interop import InteropServer
from tests.support.interop_keys import AssertionKey

pytestmark = pytest.mark.interop

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TIMEOUT_S = 10.0


def _post_token(server: InteropServer, data: dict[str, str], auth: tuple[str, str] | None = None) -> requests.Response:
    with requests.Session() as session:
        session.trust_env = False  # loopback: the environment's proxies and CA bundle do not apply
        headers = {}
        if auth is not None:
            # RFC 6749 §2.3.1: form-urlencode id and secret, then base64 "id:secret".
            raw = f"{quote_plus(auth[0])}:{quote_plus(auth[1])}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode("ascii")
        return session.post(server.token_url, data=data, headers=headers, timeout=TIMEOUT_S)


def _verified_access_token(server: InteropServer, token: str, resource: str) -> dict[str, Any]:
    """Verify an access token with the server's JWKS alone and return its claims."""
    header = jwt.get_unverified_header(token)
    signing_key = jwt.PyJWKSet.from_dict(server.jwks())[header["kid"]]
    claims: dict[str, Any] = jwt.decode(
        token, signing_key, algorithms=["RS256"], audience=resource, issuer=server.issuer
    )
    assert header["typ"] == "at+jwt"
    assert claims["aud"] == resource
    return claims


def _assertion(
    server: InteropServer,
    signer: AssertionKey,
    *,
    client_id: str,
    headers: dict[str, str],
    audience: str | None = None,
    lifetime_s: int = 300,
    issued_at: int | None = None,
) -> str:
    now = int(time.time()) if issued_at is None else issued_at
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience or server.token_url,
        "iat": now,
        "nbf": now,
        "exp": now + lifetime_s,
        "jti": str(uuid.uuid4()),
    }
    return jwt.encode(claims, signer.private_key_pem(), algorithm=signer.algorithm, headers=headers)


def _assertion_request(server: InteropServer, client_id: str, assertion: str) -> requests.Response:
    return _post_token(
        server,
        {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
            "resource": server.resource,
        },
    )


def _thumbprint_headers(key: AssertionKey, choice: str) -> dict[str, str]:
    headers = {}
    if choice in {"x5t", "both"}:
        headers["x5t"] = key.x5t()
    if choice in {"x5t#S256", "both"}:
        headers["x5t#S256"] = key.x5t_s256()
    return headers


def _assert_invalid_client(response: requests.Response) -> None:
    assert response.status_code in {400, 401}, response.text
    assert response.json()["error"] == "invalid_client"


# --- client credentials with a client secret ---------------------------------------------------------------


def test_secret_post_gets_a_jwt_for_the_resource_without_a_scope(oidc_interop: InteropServer) -> None:
    client = oidc_interop.secret_post
    response = _post_token(
        oidc_interop,
        {
            "grant_type": "client_credentials",
            "client_id": client.client_id,
            "client_secret": client.client_secret,
            "resource": oidc_interop.resource,
        },
    )
    assert response.status_code == 200, oidc_interop.stderr_text()
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert 0 < body["expires_in"] <= oidc_interop.access_token_ttl
    claims = _verified_access_token(oidc_interop, body["access_token"], oidc_interop.resource)
    assert claims["client_id"] == client.client_id


def test_access_token_audience_follows_the_requested_resource(oidc_interop: InteropServer) -> None:
    client = oidc_interop.secret_post
    other = oidc_interop.resources[1]
    response = _post_token(
        oidc_interop,
        {
            "grant_type": "client_credentials",
            "client_id": client.client_id,
            "client_secret": client.client_secret,
            "resource": other,
        },
    )
    assert response.status_code == 200, response.text
    _verified_access_token(oidc_interop, response.json()["access_token"], other)


def test_unknown_resource_is_invalid_target(oidc_interop: InteropServer) -> None:
    client = oidc_interop.secret_post
    response = _post_token(
        oidc_interop,
        {
            "grant_type": "client_credentials",
            "client_id": client.client_id,
            "client_secret": client.client_secret,
            "resource": "https://unknown.crm.dynamics.com",
        },
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_target"


def test_relative_resource_is_invalid_target(oidc_interop: InteropServer) -> None:
    client = oidc_interop.secret_post
    response = _post_token(
        oidc_interop,
        {
            "grant_type": "client_credentials",
            "client_id": client.client_id,
            "client_secret": client.client_secret,
            "resource": "contoso.crm.dynamics.com",  # RFC 8707 §2: an absolute URI is required
        },
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_target"


def test_wrong_client_secret_is_rejected_and_the_reason_is_on_stderr(oidc_interop: InteropServer) -> None:
    client = oidc_interop.secret_post
    response = _post_token(
        oidc_interop,
        {
            "grant_type": "client_credentials",
            "client_id": client.client_id,
            "client_secret": client.client_secret + "x",
            "resource": oidc_interop.resource,
        },
    )
    _assert_invalid_client(response)
    assert "invalid secret provided" in oidc_interop.stderr_text()


def test_secret_basic_with_special_characters_succeeds_when_form_urlencoded(oidc_interop: InteropServer) -> None:
    client = oidc_interop.secret_basic
    assert set("+%/ ") <= set(client.client_secret)
    response = _post_token(
        oidc_interop,
        {"grant_type": "client_credentials", "resource": oidc_interop.resource},
        auth=(client.client_id, client.client_secret),
    )
    assert response.status_code == 200, oidc_interop.stderr_text()
    _verified_access_token(oidc_interop, response.json()["access_token"], oidc_interop.resource)


def test_secret_basic_without_form_urlencoding_is_rejected(oidc_interop: InteropServer) -> None:
    client = oidc_interop.secret_basic
    raw = base64.b64encode(f"{client.client_id}:{client.client_secret}".encode()).decode("ascii")
    with requests.Session() as session:
        session.trust_env = False
        response = session.post(
            oidc_interop.token_url,
            data={"grant_type": "client_credentials", "resource": oidc_interop.resource},
            headers={"Authorization": f"Basic {raw}"},
            timeout=TIMEOUT_S,
        )
    # `%zz` makes the raw pair undecodable (invalid_request); a lone `+` would decode to a space (invalid_client).
    assert response.status_code in {400, 401}, response.text
    assert response.json()["error"] in {"invalid_request", "invalid_client"}


def test_secret_basic_accepts_a_duplicate_client_id_in_the_body(oidc_interop: InteropServer) -> None:
    client = oidc_interop.secret_basic
    response = _post_token(
        oidc_interop,
        {"grant_type": "client_credentials", "resource": oidc_interop.resource, "client_id": client.client_id},
        auth=(client.client_id, client.client_secret),
    )
    assert response.status_code == 200, oidc_interop.stderr_text()


def test_wrong_basic_secret_is_rejected(oidc_interop: InteropServer) -> None:
    client = oidc_interop.secret_basic
    response = _post_token(
        oidc_interop,
        {"grant_type": "client_credentials", "resource": oidc_interop.resource},
        auth=(client.client_id, client.client_secret.replace("+", " ")),
    )
    _assert_invalid_client(response)


# --- client credentials with a JWT assertion (private_key_jwt) -----------------------------------------------


@pytest.mark.parametrize(
    ("algorithm", "thumbprint"),
    [
        ("RS256", "x5t"),
        ("PS256", "x5t#S256"),
        ("ES256", "x5t"),
        ("ES256", "x5t#S256"),
        ("RS384", "both"),
        ("RS512", "x5t#S256"),
        ("PS384", "x5t"),
        ("PS512", "both"),
        ("ES384", "x5t#S256"),
        ("ES512", "x5t"),
    ],
)
def test_assertion_signed_with_the_registered_certificate_succeeds(
    oidc_interop: InteropServer, algorithm: str, thumbprint: str
) -> None:
    key = oidc_interop.assertion_keys[algorithm]
    assertion = _assertion(oidc_interop, key, client_id=key.client_id, headers=_thumbprint_headers(key, thumbprint))
    response = _assertion_request(oidc_interop, key.client_id, assertion)
    assert response.status_code == 200, oidc_interop.stderr_text()
    claims = _verified_access_token(oidc_interop, response.json()["access_token"], oidc_interop.resource)
    assert claims["client_id"] == key.client_id


def test_assertion_audience_may_be_the_issuer(oidc_interop: InteropServer) -> None:
    key = oidc_interop.assertion_keys["RS256"]
    assertion = _assertion(
        oidc_interop, key, client_id=key.client_id, headers={"x5t": key.x5t()}, audience=oidc_interop.issuer
    )
    assert _assertion_request(oidc_interop, key.client_id, assertion).status_code == 200


def test_thumbprints_are_unpadded_base64url_of_the_certificate_digest(oidc_interop: InteropServer) -> None:
    key = oidc_interop.assertion_keys["RS256"]
    der = base64.b64decode(key.public_jwk()["x5c"][0])
    expected_s256 = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).decode().rstrip("=")
    assert key.x5t_s256() == expected_s256
    assert "=" not in key.x5t()
    assert len(key.x5t()) == 27  # 20-byte SHA-1, unpadded


def test_assertion_signed_by_another_key_is_rejected(oidc_interop: InteropServer) -> None:
    registered = oidc_interop.assertion_keys["RS256"]
    stranger = oidc_interop.unregistered_key
    for headers in ({"x5t": stranger.x5t()}, {"x5t": registered.x5t()}):
        assertion = _assertion(oidc_interop, stranger, client_id=registered.client_id, headers=headers)
        _assert_invalid_client(_assertion_request(oidc_interop, registered.client_id, assertion))


def test_either_certificate_of_a_rollover_may_sign_when_its_thumbprint_names_it(
    oidc_interop: InteropServer,
) -> None:
    for key in oidc_interop.rollover_keys:
        assertion = _assertion(oidc_interop, key, client_id=key.client_id, headers={"x5t#S256": key.x5t_s256()})
        assert _assertion_request(oidc_interop, key.client_id, assertion).status_code == 200


def test_thumbprint_of_another_registered_certificate_than_the_signer_is_rejected(
    oidc_interop: InteropServer,
) -> None:
    old, new = oidc_interop.rollover_keys
    assertion = _assertion(oidc_interop, old, client_id=old.client_id, headers={"x5t": new.x5t()})
    _assert_invalid_client(_assertion_request(oidc_interop, old.client_id, assertion))
    assert "not signed by the certificate its thumbprint names" in oidc_interop.stderr_text()


@pytest.mark.parametrize(
    ("headers_of", "reason"),
    [
        ("none", "neither x5t nor x5t#S256"),
        ("other-x5t", "does not match any certificate"),
        ("other-x5t#S256", "does not match any certificate"),
        ("mixed", "does not match any certificate"),
    ],
)
def test_assertion_with_missing_or_wrong_thumbprint_is_rejected(
    oidc_interop: InteropServer, headers_of: str, reason: str
) -> None:
    key = oidc_interop.assertion_keys["PS256"]
    other = oidc_interop.assertion_keys["RS256"]
    headers = {
        "none": {},
        "other-x5t": {"x5t": other.x5t()},
        "other-x5t#S256": {"x5t#S256": other.x5t_s256()},
        "mixed": {"x5t": key.x5t(), "x5t#S256": other.x5t_s256()},
    }[headers_of]
    assertion = _assertion(oidc_interop, key, client_id=key.client_id, headers=headers)
    _assert_invalid_client(_assertion_request(oidc_interop, key.client_id, assertion))
    assert reason in oidc_interop.stderr_text()


def test_expired_assertion_is_rejected(oidc_interop: InteropServer) -> None:
    key = oidc_interop.assertion_keys["ES256"]
    assertion = _assertion(
        oidc_interop,
        key,
        client_id=key.client_id,
        headers={"x5t#S256": key.x5t_s256()},
        issued_at=int(time.time()) - 3600,
        lifetime_s=600,
    )
    _assert_invalid_client(_assertion_request(oidc_interop, key.client_id, assertion))


def test_replayed_assertion_is_rejected(oidc_interop: InteropServer) -> None:
    key = oidc_interop.assertion_keys["RS256"]
    assertion = _assertion(oidc_interop, key, client_id=key.client_id, headers={"x5t": key.x5t()})
    assert _assertion_request(oidc_interop, key.client_id, assertion).status_code == 200
    _assert_invalid_client(_assertion_request(oidc_interop, key.client_id, assertion))


# --- authorization code with PKCE, resource, refresh rotation ---------------------------------------------------


def _pkce_pair() -> tuple[str, str]:
    verifier = base64.urlsafe_b64encode(uuid.uuid4().bytes + uuid.uuid4().bytes).decode().rstrip("=")
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def _authorization_url(server: InteropServer, state: str, challenge: str | None) -> str:
    params = {
        "client_id": server.auth_code.client_id,
        "redirect_uri": server.redirect_uri,
        "response_type": "code",
        "state": state,
        "resource": server.resource,
    }
    if challenge is not None:
        params |= {"code_challenge": challenge, "code_challenge_method": "S256"}
    return f"{server.authorize_url}?{urlencode(params)}"


def _authorize(server: InteropServer) -> dict[str, Any]:
    """Run the whole authorization-code flow headlessly and return the token response."""
    verifier, challenge = _pkce_pair()
    state = str(uuid.uuid4())
    callback = server.complete_authorization(_authorization_url(server, state, challenge))
    query = parse_qs(urlsplit(callback).query)
    assert query["state"] == [state], callback
    client = server.auth_code
    response = _post_token(
        server,
        {
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": server.redirect_uri,
            "code_verifier": verifier,
            "client_id": client.client_id,
            "client_secret": client.client_secret,
            "resource": server.resource,
        },
    )
    assert response.status_code == 200, server.stderr_text()
    body: dict[str, Any] = response.json()
    return body


def _refresh(server: InteropServer, refresh_token: str) -> requests.Response:
    client = server.auth_code
    return _post_token(
        server,
        {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": client.client_id,
            "client_secret": client.client_secret,
            "resource": server.resource,
        },
    )


def test_authorization_code_with_pkce_and_resource_completes_headlessly(oidc_interop: InteropServer) -> None:
    tokens = _authorize(oidc_interop)
    claims = _verified_access_token(oidc_interop, tokens["access_token"], oidc_interop.resource)
    assert claims["sub"] == "alice"
    assert tokens["refresh_token"]  # without asking for offline_access, as Entra does
    assert tokens["scope"] == oidc_interop.resource_scope


def test_authorization_without_pkce_is_refused(oidc_interop: InteropServer) -> None:
    callback = oidc_interop.complete_authorization(_authorization_url(oidc_interop, "s", challenge=None))
    assert parse_qs(urlsplit(callback).query)["error"] == ["invalid_request"]


def test_refresh_rotates_and_reusing_the_old_token_revokes_the_grant(oidc_interop: InteropServer) -> None:
    first = _authorize(oidc_interop)["refresh_token"]

    rotated = _refresh(oidc_interop, first)
    assert rotated.status_code == 200, oidc_interop.stderr_text()
    second = rotated.json()["refresh_token"]
    assert second != first
    _verified_access_token(oidc_interop, rotated.json()["access_token"], oidc_interop.resource)

    reused = _refresh(oidc_interop, first)
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"
    # Reuse revoked the whole grant: the newest refresh token is dead too.
    assert _refresh(oidc_interop, second).json()["error"] == "invalid_grant"
