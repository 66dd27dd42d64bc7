"""Proof Key for Code Exchange (RFC 7636): checking a challenge at authorize and the verifier at redemption.

Not for: generating verifiers (that is the client's side).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Literal

from dataverse_sandbox.entra import aadsts
from dataverse_sandbox.entra.certificates import b64url

__all__ = ["ChallengeMethod", "check_challenge", "verify_code_verifier"]

ChallengeMethod = Literal["S256", "plain"]

# RFC 7636 §4.1/§4.2: 43-128 characters of [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~".
_UNRESERVED_43_128 = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


def check_challenge(challenge: str, method: str | None) -> ChallengeMethod:
    """Validate the authorize request's ``code_challenge`` and ``code_challenge_method``.

    :param challenge: the challenge.
    :param method: ``S256``, ``plain``, or ``None`` (which means ``plain``, RFC 7636 §4.3).
    :returns: the method.
    :raises EntraError: AADSTS90100 for another method, AADSTS501491 for a malformed challenge.
    """
    if method not in (None, "S256", "plain"):
        raise aadsts.invalid_parameter("code_challenge_method")
    if not _UNRESERVED_43_128.fullmatch(challenge):
        raise aadsts.invalid_code_challenge()
    return "plain" if method is None or method == "plain" else "S256"


def verify_code_verifier(verifier: str | None, challenge: str | None, method: ChallengeMethod | None) -> None:
    """Check the redemption's ``code_verifier`` against the code's challenge.

    A verifier sent for a code issued without a challenge is refused too (sandbox choice: it reveals a client
    that believes it uses PKCE but did not send the challenge).

    :param verifier: the ``code_verifier`` parameter, if any.
    :param challenge: the challenge stored with the code, if any.
    :param method: its method.
    :raises EntraError: AADSTS900144 (verifier missing), AADSTS501481 (mismatch).
    """
    if challenge is None:
        if verifier:
            raise aadsts.code_verifier_mismatch()
        return
    if not verifier:
        raise aadsts.missing_parameter("code_verifier")
    if not _UNRESERVED_43_128.fullmatch(verifier):
        raise aadsts.code_verifier_mismatch()
    computed = b64url(hashlib.sha256(verifier.encode("ascii")).digest()) if method == "S256" else verifier
    if not hmac.compare_digest(computed.encode("ascii"), challenge.encode("ascii")):
        raise aadsts.code_verifier_mismatch()
