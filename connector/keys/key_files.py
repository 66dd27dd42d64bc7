"""What a form hands over for a key or certificate file, turned into the file's bytes.

A browser form's file input gives a data URL (react-jsonschema-form's is ``data:<type>;name=<file>;base64,<data>``);
a terminal or a config file gives the text itself: PEM, or base64 for a PKCS#12 file. PEM pasted into a one-line
input (a password field drops line breaks) is re-wrapped, so ``-----BEGIN PRIVATE KEY-----MIIE...-----END PRIVATE
KEY-----`` still reads. Errors are :class:`ValueError` without the data in their text; callers name the field.

Not for: parsing keys or certificates (``signing_key``).
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Final
from urllib.parse import unquote_to_bytes

__all__ = ["is_data_url", "read_base64_file", "read_pem_file"]

_DATA_URL: Final = re.compile(r"data:(?P<params>[^,]*),(?P<data>.*)", re.DOTALL)
_PEM_BLOCK: Final = re.compile(r"-----BEGIN (?P<label>[A-Z0-9 ]+)-----(?P<body>.*?)-----END (?P=label)-----", re.DOTALL)
_PEM_LINE: Final = 64  # RFC 7468 §2


def is_data_url(text: str) -> bool:
    """:returns: whether a field's value is a data URL (a file uploaded through a browser form)."""
    return text.lstrip().startswith("data:")


def _data_url_bytes(text: str) -> bytes:
    match = _DATA_URL.fullmatch(text.strip())
    if match is None:
        raise ValueError("is a data URL without a comma before its data")
    params = match["params"].split(";")
    if "base64" in params[1:]:
        return _strict_base64(match["data"])
    return unquote_to_bytes(match["data"])


def _strict_base64(text: str) -> bytes:
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("is not valid base64") from None


def read_base64_file(text: str) -> bytes:
    """Read a binary file (PKCS#12) given as a data URL or as base64 text.

    :param text: the field's value.
    :returns: the file's bytes.
    :raises ValueError: when it is neither.
    """
    if is_data_url(text):
        return _data_url_bytes(text)
    return _strict_base64(text)


def _rewrap(match: re.Match[str]) -> str:
    body = match["body"]
    if ":" in body:  # RFC 1421 headers (Proc-Type, DEK-Info) of an encrypted traditional key: leave the block alone
        return match[0]
    data = "".join(body.split())
    lines = [data[start : start + _PEM_LINE] for start in range(0, len(data), _PEM_LINE)]
    return "\n".join([f"-----BEGIN {match['label']}-----", *lines, f"-----END {match['label']}-----"])


def read_pem_file(text: str) -> bytes:
    """Read a PEM file (or a DER file uploaded through a browser) given as a data URL or as its text.

    :param text: the field's value.
    :returns: the PEM text with every block's body re-wrapped, as bytes; or the uploaded file's bytes when they are
        not PEM (DER).
    :raises ValueError: when a data URL cannot be decoded.
    """
    data = _data_url_bytes(text) if is_data_url(text) else text.encode("utf-8")
    if b"-----BEGIN" not in data:
        return data
    try:
        pem = data.decode("ascii")
    except UnicodeDecodeError:
        return data
    return _PEM_BLOCK.sub(_rewrap, pem.strip()).encode("ascii") + b"\n"
