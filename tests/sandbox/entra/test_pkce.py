"""PKCE (RFC 7636): challenge validation and verifier checks."""

from __future__ import annotations

import pytest

from dataverse_sandbox.entra.errors import EntraError
from dataverse_sandbox.entra.pkce import check_challenge, verify_code_verifier

# RFC 7636 Appendix B.
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_the_rfc_example_verifies() -> None:
    method = check_challenge(CHALLENGE, "S256")

    verify_code_verifier(VERIFIER, CHALLENGE, method)


def test_plain_is_the_default_method() -> None:
    assert check_challenge(VERIFIER, None) == "plain"
    verify_code_verifier(VERIFIER, VERIFIER, "plain")


@pytest.mark.parametrize(
    ("challenge", "method", "code"),
    [("short", "S256", 501491), ("a" * 129, "plain", 501491), ("a b" * 20, "plain", 501491), (CHALLENGE, "S1", 90100)],
)
def test_bad_challenges(challenge: str, method: str, code: int) -> None:
    with pytest.raises(EntraError) as refused:
        check_challenge(challenge, method)
    assert refused.value.code == code


@pytest.mark.parametrize(
    ("verifier", "challenge", "code"),
    [
        (VERIFIER[:-1] + "Y", CHALLENGE, 501481),
        (None, CHALLENGE, 900144),
        ("short", CHALLENGE, 501481),
        (VERIFIER, None, 501481),
    ],
    ids=["wrong", "missing", "malformed", "no challenge was sent"],
)
def test_bad_verifiers(verifier: str | None, challenge: str | None, code: int) -> None:
    with pytest.raises(EntraError) as refused:
        verify_code_verifier(verifier, challenge, "S256" if challenge else None)
    assert refused.value.code == code


def test_no_challenge_and_no_verifier_is_fine() -> None:
    verify_code_verifier(None, None, None)
