"""The JWT client assertion: claims, headers, thumbprints, and a signature that verifies with the certificate alone."""

from __future__ import annotations

import base64
import dataclasses
import itertools
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import hashes

from connector.auth.assertion import ClientAssertionSigner, build_assertion_claims
from connector.errors import ConfigError
from connector.oauth_settings import JwtSettings, NameValue
from tests.support.auth import CLIENT_ID, TOKEN_URL, jwt_oauth, key_material, settings_for
from tests.support.clock import FakeClock

ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")


def jwt_settings(algorithm: str = "RS256", **jwt_fields: Any) -> JwtSettings:
    settings = settings_for(jwt_oauth(algorithm, jwt=jwt_fields)).oauth.jwt
    assert settings is not None
    return settings


def decoded(token: str, algorithm: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Verify with the certificate's public key only, as the identity provider does."""
    public_key = key_material(algorithm).certificate.public_key()
    claims = jwt.decode(
        token,
        public_key,  # type: ignore[arg-type]
        algorithms=[algorithm],
        audience=TOKEN_URL,
        options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
    )
    return jwt.get_unverified_header(token), claims


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_assertion_verifies_with_the_certificate_public_key_and_carries_its_thumbprints(algorithm: str) -> None:
    clock = FakeClock(1_700_000_000)
    signer = ClientAssertionSigner(jwt_settings(algorithm), clock=clock)

    header, claims = decoded(signer.sign().reveal(), algorithm)

    certificate = key_material(algorithm).certificate
    assert header["alg"] == algorithm
    assert header["typ"] == "JWT"
    # Independently computed with cryptography's fingerprints of the DER certificate.
    assert header["x5t#S256"] == b64url(certificate.fingerprint(hashes.SHA256()))
    assert header["x5t"] == b64url(certificate.fingerprint(hashes.SHA1()))  # noqa: S303
    assert claims["iss"] == claims["sub"] == CLIENT_ID
    assert claims["aud"] == TOKEN_URL


def test_claims_follow_the_clock_and_the_configured_lifetime() -> None:
    clock = FakeClock(1_700_000_000)
    signer = ClientAssertionSigner(jwt_settings(expiration_seconds=600), clock=clock)
    _, claims = decoded(signer.sign().reveal(), "RS256")
    assert (claims["iat"], claims["nbf"], claims["exp"]) == (1_700_000_000, 1_700_000_000, 1_700_000_600)
    clock.advance(100)
    _, later = decoded(signer.sign().reveal(), "RS256")
    assert later["exp"] == 1_700_000_700


def test_every_assertion_gets_a_new_jti_and_none_means_absent() -> None:
    clock = FakeClock()
    signer = ClientAssertionSigner(jwt_settings(), clock=clock)
    jtis = {decoded(signer.sign().reveal(), "RS256")[1]["jti"] for _ in range(5)}
    assert len(jtis) == 5

    without = ClientAssertionSigner(jwt_settings(jti="NONE"), clock=clock)
    assert "jti" not in decoded(without.sign().reveal(), "RS256")[1]


def test_jti_generator_is_injectable() -> None:
    counter = itertools.count()
    signer = ClientAssertionSigner(jwt_settings(), clock=FakeClock(), jti=lambda: f"id-{next(counter)}")
    assert [decoded(signer.sign().reveal(), "RS256")[1]["jti"] for _ in range(2)] == ["id-0", "id-1"]


@pytest.mark.parametrize(
    ("s256", "sha1", "expected"),
    [(True, True, {"x5t", "x5t#S256"}), (True, False, {"x5t#S256"}), (False, True, {"x5t"}), (False, False, set())],
)
def test_thumbprint_headers_follow_the_switches(s256: bool, sha1: bool, expected: set[str]) -> None:
    signer = ClientAssertionSigner(jwt_settings(include_x5t_s256=s256, include_x5t=sha1), clock=FakeClock())
    header = jwt.get_unverified_header(signer.sign().reveal())
    assert {name for name in header if name.startswith("x5t")} == expected
    warned = any("no thumbprint header" in d.message for d in signer.diagnostics)
    assert warned == (not expected)


def test_issuer_subject_audience_and_extended_claims_are_configurable() -> None:
    settings = jwt_settings(
        issuer="custom-iss",
        subject="custom-sub",
        audience="https://login.microsoftonline.com/contoso/oauth2/v2.0/token",
        extended_claims=[{"name": "tenant_hint", "value": "contoso"}, {"name": "n", "value": "1"}],
    )
    token = ClientAssertionSigner(settings, clock=FakeClock()).sign().reveal()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["iss"], claims["sub"]) == ("custom-iss", "custom-sub")
    assert claims["aud"] == "https://login.microsoftonline.com/contoso/oauth2/v2.0/token"
    assert (claims["tenant_hint"], claims["n"]) == ("contoso", "1")


@pytest.mark.parametrize("reserved", ["iss", "sub", "aud", "exp", "nbf", "iat", "jti"])
def test_extended_claims_cannot_override_reserved_claims(reserved: str) -> None:
    claims = [{"name": "x", "value": "1"}, {"name": reserved, "value": "2"}]
    with pytest.raises(ConfigError) as caught:
        settings_for(jwt_oauth(jwt={"extended_claims": claims}))
    assert caught.value.fields == ["oauth2.jwt.extended_claims[1].name"]
    assert "cannot be overridden" in caught.value.user_message

    # Settings built some other way are refused at signing time too.
    forged = dataclasses.replace(jwt_settings(), extended_claims=(NameValue(reserved, "2"),))
    with pytest.raises(ConfigError) as at_signing:
        build_assertion_claims(forged, 0)
    assert at_signing.value.fields == ["oauth2.jwt.extended_claims[0].name"]


def test_signer_repr_and_assertion_value_stay_hidden() -> None:
    signer = ClientAssertionSigner(jwt_settings(), clock=FakeClock())
    assertion = signer.sign()
    assert assertion.reveal() not in repr(assertion) + str(assertion) + f"{assertion}" + repr(signer)


def test_key_problems_surface_when_signing() -> None:
    settings = jwt_settings("ES256")
    mismatched = dataclasses.replace(settings, algorithm="RS256")
    with pytest.raises(ConfigError) as caught:
        ClientAssertionSigner(mismatched, clock=FakeClock()).sign()
    assert caught.value.fields == ["oauth2.jwt.signature_algorithm"]
