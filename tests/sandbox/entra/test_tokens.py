"""Minting and verifying the sandbox's JWTs, with an injected clock."""

from __future__ import annotations

import json
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from dataverse_sandbox.contracts import Clock, InvalidAccessTokenError
from dataverse_sandbox.entra import SandboxUser
from dataverse_sandbox.entra.certificates import b64url
from dataverse_sandbox.entra.tokens import TokenSigner

ORIGIN = "http://127.0.0.1:5555"
API = "https://org.crm.dynamics.com"
TENANT = str(uuid.UUID(int=42))
USER = SandboxUser("alice@sandbox.test", "Alice", str(uuid.UUID(int=5)), "pw")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def signer(clock: Clock, entra_signing_key: rsa.RSAPrivateKey) -> TokenSigner:
    return TokenSigner(origin=ORIGIN + "/", tenant_id=TENANT, clock=clock, signing_key=entra_signing_key)


def _app_token(signer: TokenSigner, audience: str = API) -> str:
    return signer.issue_access_token(audience=audience, client_id="client-1", principal_id="sp-1", appidacr="1").value


@pytest.mark.parametrize(("audience", "resource"), [(API, API + "/"), (API + "/", API), (API, API.upper())])
def test_audience_matches_with_or_without_trailing_slash(signer: TokenSigner, audience: str, resource: str) -> None:
    claims = signer.verify_access_token(_app_token(signer, audience), resource=resource)

    assert claims.audience == audience
    assert claims.subject == "sp-1"
    assert claims.client_id == "client-1"
    assert claims.user_name is None


def test_another_resource_is_refused(signer: TokenSigner) -> None:
    with pytest.raises(InvalidAccessTokenError, match="audience"):
        signer.verify_access_token(_app_token(signer), resource="https://other.crm.dynamics.com")


def test_tokens_expire_when_the_clock_moves_past_exp(signer: TokenSigner, clock: Clock) -> None:
    token = _app_token(signer)
    clock.advance(3599)
    signer.verify_access_token(token, resource=API)

    clock.advance(1)

    with pytest.raises(InvalidAccessTokenError, match="expired"):
        signer.verify_access_token(token, resource=API)


def test_a_token_is_not_valid_before_nbf(signer: TokenSigner, clock: Clock) -> None:
    token = _app_token(signer)

    clock.advance(-10)

    with pytest.raises(InvalidAccessTokenError, match="not yet valid"):
        signer.verify_access_token(token, resource=API)


def test_leeway_tolerates_a_little_expiry(clock: Clock, entra_signing_key: rsa.RSAPrivateKey) -> None:
    signer = TokenSigner(origin=ORIGIN, tenant_id=TENANT, clock=clock, leeway=30, signing_key=entra_signing_key)
    token = _app_token(signer)

    clock.advance(3600 + 29)

    assert signer.verify_access_token(token, resource=API).audience == API


def test_a_tampered_token_fails_the_signature(signer: TokenSigner) -> None:
    token = _app_token(signer)
    header, _, signature = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False})
    claims["appid"] = "someone-else"
    forged_payload = jwt.encode(claims, "k" * 32, algorithm="HS256").split(".")[1]

    with pytest.raises(InvalidAccessTokenError, match="signature"):
        signer.verify_access_token(f"{header}.{forged_payload}.{signature}", resource=API)


def test_a_token_of_an_earlier_start_is_refused(clock: Clock, signer: TokenSigner) -> None:
    earlier = TokenSigner(origin=ORIGIN, tenant_id=TENANT, clock=clock)  # a new key, as after a restart

    with pytest.raises(InvalidAccessTokenError, match="unknown key"):
        signer.verify_access_token(_app_token(earlier), resource=API)


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c"])
def test_malformed_tokens_are_refused_without_echoing_them(signer: TokenSigner, token: str) -> None:
    with pytest.raises(InvalidAccessTokenError) as refused:
        signer.verify_access_token(token, resource=API)

    assert token not in refused.value.reason or not token


def test_an_unsigned_token_is_refused(signer: TokenSigner) -> None:
    payload = _app_token(signer).split(".")[1]
    none_header = b64url(json.dumps({"alg": "none", "typ": "JWT", "kid": signer.key_id}).encode())
    unsigned = f"{none_header}.{payload}."

    with pytest.raises(InvalidAccessTokenError, match="algorithm"):
        signer.verify_access_token(unsigned, resource=API)


def test_an_id_token_is_not_an_access_token(signer: TokenSigner) -> None:
    id_token = signer.issue_id_token(client_id="client-1", user=USER, nonce="n-1", version="2.0")

    with pytest.raises(InvalidAccessTokenError):
        signer.verify_access_token(id_token, resource=API)
    claims = jwt.decode(id_token, options={"verify_signature": False})
    assert claims["nonce"] == "n-1"
    assert claims["iss"] == f"{ORIGIN}/{TENANT}/v2.0"


def test_delegated_tokens_carry_the_user(signer: TokenSigner) -> None:
    issued = signer.issue_access_token(
        audience=API, client_id="client-1", principal_id="sp-1", appidacr="0", user=USER, scp="user_impersonation"
    )

    verified = signer.verify_access_token(issued.value, resource=API)

    assert verified.subject == USER.object_id
    assert verified.user_name == USER.user_name
    assert issued.claims["scp"] == "user_impersonation"
    assert issued.claims["appidacr"] == "0"
    assert issued.claims["sub"] != USER.object_id  # pairwise, as Entra's


def test_the_jwks_matches_the_signing_key(signer: TokenSigner) -> None:
    jwks = signer.jwks()
    key = jwt.PyJWKSet.from_dict(jwks)[signer.key_id]

    claims = jwt.decode(_app_token(signer), key.key, algorithms=["RS256"], audience=API)

    assert claims["iss"] == f"{ORIGIN}/{TENANT}/"
    assert jwks["keys"][0]["x5t"] == signer.key_id
