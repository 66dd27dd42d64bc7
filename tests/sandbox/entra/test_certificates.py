"""Keys, self-signed certificates, thumbprints and private files."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from dataverse_sandbox.entra.certificates import (
    b64url,
    certificate_info,
    certificate_pem,
    generate_ec_key,
    generate_rsa_key,
    self_signed_certificate,
    write_private_file,
)


def test_thumbprints_are_unpadded_base64url_of_the_der() -> None:
    pem = certificate_pem(self_signed_certificate(generate_ec_key(), "t", not_before=time.time()))
    der = base64.b64decode(b"".join(pem.splitlines()[1:-1]))

    info = certificate_info(pem)

    assert info.x5t == base64.urlsafe_b64encode(hashlib.sha1(der, usedforsecurity=False).digest()).decode().rstrip("=")
    assert info.x5t_s256 == base64.urlsafe_b64encode(hashlib.sha256(der).digest()).decode().rstrip("=")
    assert info.thumbprint_hex == hashlib.sha1(der, usedforsecurity=False).hexdigest().upper()
    assert "=" not in info.x5t


def test_a_certificate_is_valid_from_the_clock_it_was_given() -> None:
    start = time.time() - 10 * 86400

    info = certificate_info(certificate_pem(self_signed_certificate(generate_rsa_key(1024), "t", not_before=start)))

    assert info.not_before <= start
    assert info.not_after - info.not_before >= 730 * 86400


@pytest.mark.parametrize("curve", ["P-256", "P-384", "P-521"])
def test_ec_curves(curve: str) -> None:
    assert generate_ec_key(curve).curve.name.startswith("secp")


def test_unknown_curves_are_refused() -> None:
    with pytest.raises(ValueError, match="unsupported curve"):
        generate_ec_key("P-192")


def test_b64url_strips_padding() -> None:
    assert b64url(b"\xff\xfe") == "__4"


def test_private_files_are_0600_even_when_replacing_a_readable_one(tmp_path: Path) -> None:
    path = tmp_path / "secret.txt"
    path.write_text("old")
    os.chmod(path, 0o644)

    write_private_file(path, b"new")

    assert path.read_bytes() == b"new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["secret.txt"]  # no temporary file left behind


def test_keys_serialise_as_pkcs8() -> None:
    from dataverse_sandbox.entra.certificates import private_key_pem

    pem = private_key_pem(generate_ec_key())

    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert serialization.load_pem_private_key(pem, password=None)
