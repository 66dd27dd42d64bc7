"""Loading the assertion's signature key: every PEM and PKCS#12 form, wrong passwords, mismatched certificates,
keys that do not fit the algorithm, expired certificates, and thumbprints computed independently.
"""

from __future__ import annotations

import base64
import datetime

import pytest
from cryptography.hazmat.primitives import hashes

from connector.errors import ConfigError
from connector.keys.signing_key import (
    check_algorithm_fit,
    load_signing_key,
    thumbprint_sha1,
    thumbprint_sha256,
)
from connector.oauth_settings import SignatureKeySettings
from connector.secrets import Secret
from tests.support.auth import (
    CANARY_KEY_PASSWORD,
    certificate_for,
    certificate_pem,
    key_material,
    key_pem,
    pkcs12_b64,
    private_key,
)

ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")


def pem_settings(key_text: str, cert_text: str, password: str | None = None) -> SignatureKeySettings:
    return SignatureKeySettings(
        format="pem",
        private_key=Secret(key_text),
        certificate=cert_text,
        password=Secret(password) if password else None,
    )


def error_of(settings: SignatureKeySettings, algorithm: str = "RS256") -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_signing_key(settings, algorithm)
    return caught.value


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
@pytest.mark.parametrize("fmt", ["pkcs8", "traditional"])
@pytest.mark.parametrize("password", [None, CANARY_KEY_PASSWORD])
def test_pem_keys_load_in_every_form(algorithm: str, fmt: str, password: str | None) -> None:
    material = key_material(algorithm)
    text = key_pem(material.key, fmt, password)
    expected_label = {
        ("pkcs8", None): "BEGIN PRIVATE KEY",
        ("pkcs8", CANARY_KEY_PASSWORD): "BEGIN ENCRYPTED PRIVATE KEY",
        ("traditional", None): "BEGIN RSA PRIVATE KEY" if algorithm == "RS256" else "BEGIN EC PRIVATE KEY",
        ("traditional", CANARY_KEY_PASSWORD): "Proc-Type: 4,ENCRYPTED",
    }[(fmt, password)]
    assert expected_label in text  # the fixture really is PKCS#8 / PKCS#1 / SEC1, encrypted or not

    loaded = load_signing_key(pem_settings(text, material.certificate_pem, password), algorithm)

    assert loaded.certificate == material.certificate
    assert loaded.diagnostics == ()


def test_a_password_for_an_unencrypted_key_is_ignored() -> None:
    material = key_material("RS256")
    loaded = load_signing_key(pem_settings(material.key_pem, material.certificate_pem, "unused"), "RS256")
    assert loaded.certificate == material.certificate


@pytest.mark.parametrize("fmt", ["pkcs8", "traditional"])
def test_wrong_pem_password_names_the_password_field(fmt: str) -> None:
    material = key_material("RS256")
    error = error_of(pem_settings(key_pem(material.key, fmt, CANARY_KEY_PASSWORD), material.certificate_pem, "nope"))
    assert error.fields == ["oauth2.jwt.signature_key.password"]
    assert "wrong" in error.user_message


def test_missing_password_for_an_encrypted_key_names_the_password_field() -> None:
    material = key_material("ES256")
    error = error_of(pem_settings(key_pem(material.key, "pkcs8", CANARY_KEY_PASSWORD), material.certificate_pem))
    assert error.fields == ["oauth2.jwt.signature_key.password"]
    assert "encrypted" in error.user_message


@pytest.mark.parametrize(
    "text",
    [
        "not a key",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    ],
)
def test_unreadable_private_key_names_the_private_key_field_without_quoting_it(text: str) -> None:
    error = error_of(pem_settings(text, key_material("RS256").certificate_pem))
    assert error.fields == ["oauth2.jwt.signature_key.private_key"]
    assert "AAAA" not in str(error)


def test_unreadable_certificate_names_the_certificate_field() -> None:
    material = key_material("RS256")
    error = error_of(pem_settings(material.key_pem, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"))
    assert error.fields == ["oauth2.jwt.signature_key.certificate"]
    assert error_of(pem_settings(material.key_pem, "")).fields == ["oauth2.jwt.signature_key.certificate"]


def test_certificate_of_another_key_is_refused_with_its_thumbprint() -> None:
    material = key_material("RS256")
    other = certificate_for(private_key("RS256", label="other"))
    assert private_key("RS256", label="other") is not material.key
    error = error_of(pem_settings(material.key_pem, certificate_pem(other)))
    assert error.fields == ["oauth2.jwt.signature_key.certificate"]
    assert "does not belong to the private key" in error.user_message
    assert thumbprint_sha256(other) in error.user_message


def test_the_matching_certificate_of_a_chain_is_chosen() -> None:
    material = key_material("RS256")
    chain = certificate_pem(certificate_for(private_key("ES256"))) + material.certificate_pem
    assert load_signing_key(pem_settings(material.key_pem, chain), "RS256").certificate == material.certificate


@pytest.mark.parametrize("password", [None, CANARY_KEY_PASSWORD])
def test_pkcs12_loads_with_or_without_password(password: str | None) -> None:
    material = key_material("PS256")
    settings = SignatureKeySettings(
        format="pkcs12",
        pkcs12=Secret(pkcs12_b64(material.key, material.certificate, password)),
        password=Secret(password) if password else None,
    )
    assert load_signing_key(settings, "PS256").certificate == material.certificate


@pytest.mark.parametrize(("given", "message"), [("wrong", "is wrong"), (None, "is required")])
def test_pkcs12_wrong_or_missing_password_names_the_password_field(given: str | None, message: str) -> None:
    material = key_material("RS256")
    settings = SignatureKeySettings(
        format="pkcs12",
        pkcs12=Secret(pkcs12_b64(material.key, material.certificate, CANARY_KEY_PASSWORD)),
        password=Secret(given) if given else None,
    )
    error = error_of(settings)
    assert error.fields == ["oauth2.jwt.signature_key.password"]
    assert message in error.user_message


@pytest.mark.parametrize(
    "blob",
    ["%%% not base64 %%%", base64.b64encode(b"just some bytes, not PKCS#12").decode()],
)
def test_a_file_that_is_not_pkcs12_names_the_file_field(blob: str) -> None:
    settings = SignatureKeySettings(format="pkcs12", pkcs12=Secret(blob), password=Secret("x"))
    assert error_of(settings).fields == ["oauth2.jwt.signature_key.pkcs12"]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("key_kind", ["RS256", "ES256", "ES384", "ES512"])
def test_key_fits_algorithm_exactly_when_family_and_curve_match(algorithm: str, key_kind: str) -> None:
    key = private_key(key_kind)
    fits = (algorithm[:2] in {"RS", "PS"} and key_kind == "RS256") or algorithm == key_kind
    problem = check_algorithm_fit(key, algorithm)
    assert (problem is None) == fits
    if problem is not None:
        assert problem.path == "oauth2.jwt.signature_algorithm"
        assert algorithm in problem.message  # names both the algorithm ...
        assert ("RSA" if key_kind == "RS256" else "EC key on P-") in problem.message  # ... and the key


def test_loading_a_key_that_does_not_fit_is_a_config_error() -> None:
    material = key_material("ES384")
    error = error_of(pem_settings(material.key_pem, material.certificate_pem), "ES256")
    assert error.fields == ["oauth2.jwt.signature_algorithm"]
    assert "ES256 needs an EC key on P-256, but the signature key is an EC key on P-384" in error.user_message


def test_expired_certificate_is_a_warning_not_an_error() -> None:
    key = private_key("RS256")
    expired = certificate_for(key, not_before_days=-60, days_valid=-1)
    loaded = load_signing_key(pem_settings(key_pem(key), certificate_pem(expired)), "RS256")
    assert [(d.level, d.field) for d in loaded.diagnostics] == [("warning", "oauth2.jwt.signature_key")]
    assert "expired" in loaded.diagnostics[0].message


def test_not_yet_valid_certificate_is_a_warning() -> None:
    key = private_key("RS256")
    future = certificate_for(key, not_before_days=2, days_valid=30)
    loaded = load_signing_key(pem_settings(key_pem(key), certificate_pem(future)), "RS256")
    assert "not valid before" in loaded.diagnostics[0].message


def test_validity_is_checked_against_the_given_time() -> None:
    material = key_material("RS256")
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=365)
    loaded = load_signing_key(pem_settings(material.key_pem, material.certificate_pem), "RS256", now=later)
    assert "expired" in loaded.diagnostics[0].message


def test_short_rsa_key_is_a_warning() -> None:
    key = private_key("RS256", rsa_bits=1024)
    loaded = load_signing_key(pem_settings(key_pem(key), certificate_pem(certificate_for(key))), "RS256")
    assert any("1024 bits" in d.message for d in loaded.diagnostics)


def test_thumbprints_equal_independent_digests_of_the_der_certificate() -> None:
    certificate = key_material("RS256").certificate
    # cryptography's own fingerprints of the DER encoding, not the code under test's hashing.
    sha1 = base64.urlsafe_b64encode(certificate.fingerprint(hashes.SHA1())).decode().rstrip("=")  # noqa: S303
    sha256 = base64.urlsafe_b64encode(certificate.fingerprint(hashes.SHA256())).decode().rstrip("=")
    assert thumbprint_sha1(certificate) == sha1
    assert thumbprint_sha256(certificate) == sha256
    assert "=" not in thumbprint_sha1(certificate) + thumbprint_sha256(certificate)
    assert (len(thumbprint_sha1(certificate)), len(thumbprint_sha256(certificate))) == (27, 43)


def test_repr_shows_no_key_material() -> None:
    material = key_material("RS256")
    loaded = load_signing_key(pem_settings(material.key_pem, material.certificate_pem), "RS256")
    text = repr(loaded)
    assert "RSA 2048-bit" in text
    body = material.key_pem.splitlines()[1]
    assert body not in text


# -- what a form hands over: browser uploads (data URLs), PEM with its line breaks lost, cut-short keys ------------


def data_url(content: bytes, media_type: str, name: str) -> str:
    """What react-jsonschema-form's file widget produces for an uploaded file."""
    return f"data:{media_type};name={name};base64,{base64.b64encode(content).decode('ascii')}"


def test_uploaded_pem_files_load() -> None:
    material = key_material()
    settings = pem_settings(
        data_url(material.key_pem.encode(), "application/x-pem-file", "app.key"),
        data_url(material.certificate_pem.encode(), "application/x-x509-ca-cert", "app.crt"),
    )
    assert load_signing_key(settings, "RS256").certificate == material.certificate


def test_an_uploaded_der_certificate_loads() -> None:
    from cryptography.hazmat.primitives import serialization

    material = key_material()
    der = material.certificate.public_bytes(serialization.Encoding.DER)
    settings = pem_settings(material.key_pem, data_url(der, "application/pkix-cert", "app.cer"))
    assert load_signing_key(settings, "RS256").certificate == material.certificate


def test_an_uploaded_pkcs12_file_loads() -> None:
    material = key_material()
    blob = base64.b64decode(pkcs12_b64(material.key, material.certificate, CANARY_KEY_PASSWORD))
    settings = SignatureKeySettings(
        format="pkcs12",
        pkcs12=Secret(data_url(blob, "application/x-pkcs12", "app.pfx")),
        password=Secret(CANARY_KEY_PASSWORD),
    )
    assert load_signing_key(settings, "RS256").certificate == material.certificate


def test_a_pem_key_whose_line_breaks_were_lost_loads() -> None:
    """Pasted into a one-line password input, PEM arrives as one line; its base64 is wrapped again."""
    material = key_material()
    one_line = material.key_pem.replace("\n", "")
    certificate = material.certificate_pem.replace("\n", " ")
    assert load_signing_key(pem_settings(one_line, certificate), "RS256").certificate == material.certificate


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("data:application/x-pkcs12;base64", "an uploaded file nor base64"),
        ("data:application/x-pkcs12;base64,@@@", "an uploaded file nor base64"),
        ("not base64 at all!", "an uploaded file nor base64"),
        ("data:application/x-pkcs12;base64,aGVsbG8=", "is not a PKCS#12"),
    ],
)
def test_a_bad_pkcs12_upload_names_the_field(value: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_signing_key(SignatureKeySettings(format="pkcs12", pkcs12=Secret(value)), "RS256")
    assert caught.value.fields == ["oauth2.jwt.signature_key.pkcs12"]
    assert words in caught.value.user_message


def test_a_cut_short_key_names_the_field_without_quoting_it() -> None:
    material = key_material()
    first_lines = "\n".join(material.key_pem.splitlines()[:3])
    with pytest.raises(ConfigError) as caught:
        load_signing_key(pem_settings(first_lines, material.certificate_pem), "RS256")
    assert caught.value.fields == ["oauth2.jwt.signature_key.private_key"]
    assert "cut short" in caught.value.user_message
    assert material.key_pem.splitlines()[1] not in caught.value.user_message
