"""A download's total size read from the service's headers (connector.dataverse.operations.file_downloads)."""

from __future__ import annotations

import pytest
import requests

from connector.dataverse.operations.file_downloads import _total, header_file_name


def _answer(status: int, headers: dict[str, str], content: bytes = b"") -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.headers.update(headers)
    response._content = content
    return response


@pytest.mark.parametrize(
    ("headers", "total"),
    [
        ({"x-ms-file-size": "20"}, 20),
        ({"Content-Range": "bytes 0-9/20"}, 20),
        ({"Content-Range": " bytes 0-9/20 "}, 20),
        # int() refuses 4301 digits: the reader raised a ValueError deep inside before.
        ({"Content-Range": "bytes 0-9/" + "9" * 4301}, None),
        ({"Content-Range": "bytes 0-9/20, 30"}, None),
    ],
)
def test_the_total_comes_from_the_headers_or_is_unknown(headers: dict[str, str], total: int | None) -> None:
    assert _total(_answer(206, headers)) == total


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("4094kb.txt", "4094kb.txt"),
        ("%C3%9Cbersicht.pdf", "Übersicht.pdf"),
        ("%E5%A0%B1%E5%91%8A.txt", "報告.txt"),
        ("Übersicht.pdf".encode().decode("latin-1"), "Übersicht.pdf"),  # raw UTF-8 bytes, as requests reads them
        ("Übersicht.pdf", "Übersicht.pdf"),  # raw Latin-1
        ("100%zz.txt", "100%zz.txt"),  # not an escape
        ("%FF.txt", "%FF.txt"),  # not UTF-8
    ],
)
def test_a_download_header_name_is_read_in_each_form_a_service_may_send(header: str, name: str) -> None:
    assert header_file_name(header) == name
