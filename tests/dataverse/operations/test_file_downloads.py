"""Downloads (connector.dataverse.operations.file_downloads): the total size and the file name read from the
service's headers, and ranged downloads that end where the file does, whether or not the service says its size.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from urllib.parse import quote

import pytest
import requests
import responses
from responses import matchers

from connector.dataverse.operations import file_downloads
from connector.dataverse.operations.file_downloads import _total, header_file_name
from connector.results import Connection, OperationResult, ResultStatus
from tests.support.dataverse import API, add_entity, run

RECORD = "00000000-0000-0000-0000-000000000001"
BLOCK = 65536  # the smallest block_size the options allow


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
        # Plain names with '%': decoded they are plain too, so they are names of their own (they were decoded before).
        ("Invoice%2001.pdf", "Invoice%2001.pdf"),
        ("100%25.txt", "100%25.txt"),
        ("100% sure.txt", "100% sure.txt"),
        ("%41.txt", "%41.txt"),
        # Decoded they are not plain: only an encoding gives them.
        ("%20padded.txt", " padded.txt"),
        ("padded.txt%20", "padded.txt "),
        ("%C3%9Cber%20100%25.txt", "\u00dcber 100%.txt"),
        ("tab%09name.txt", "tab\tname.txt"),
    ],
)
def test_a_download_header_name_is_read_in_each_form_a_service_may_send(header: str, name: str) -> None:
    assert header_file_name(header) == name


@pytest.mark.parametrize(
    "name",
    ["4094kb.txt", "Invoice%2001.pdf", "100%25.txt", "100% sure.txt", "a%zz", "%", "contract v2 (final).pdf"],
)
def test_a_plain_name_is_never_changed(name: str) -> None:
    assert header_file_name(name) == name


@pytest.mark.parametrize(
    "name", ["\u00dcbersicht.pdf", "\u5831\u544a.txt", "\u00dcber 100%.txt", " padded.txt", "padded.txt ", "a\tb", " "]
)
def test_a_name_that_is_not_plain_comes_back_from_its_encoding(name: str) -> None:
    # What the sandbox sends for a name that is not plain (dataverse_sandbox.dataverse.files._header_file_name).
    assert header_file_name(quote(name, safe="")) == name


def _file_column(rsps: responses.RequestsMock, max_size_kb: int | None = None) -> None:
    add_entity(rsps)
    base = f"{API}EntityDefinitions(LogicalName='account')/Attributes/Microsoft.Dynamics.CRM."
    column = {"LogicalName": "sample_contract", **({"MaxSizeInKB": max_size_kb} if max_size_kb else {})}
    rsps.add("GET", f"{base}FileAttributeMetadata", json={"value": [column]})
    rsps.add("GET", f"{base}ImageAttributeMetadata", json={"value": []})


def _range(
    rsps: responses.RequestsMock,
    first: int,
    status: int,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> None:
    """Answer the ranged GET of the block starting at ``first``."""
    rsps.add(
        "GET",
        f"{API}accounts({RECORD})/sample_contract/$value",
        status=status,
        body=body,
        headers={"x-ms-file-name": "report.pdf", **(headers or {})},
        content_type="application/pdf",
        match=[matchers.header_matcher({"Range": f"bytes={first}-{first + BLOCK - 1}"})],
    )


def _download(connection: Connection) -> OperationResult:
    options = {"entity_set": "accounts", "column": "sample_contract", "block_size": BLOCK}
    [result] = run(connection, "download_file", options, [{"accountid": RECORD}])
    return result


def _content(size: int) -> bytes:
    return bytes(index % 251 for index in range(size))


def _downloaded_whole(result: OperationResult, content: bytes) -> None:
    assert result.status is ResultStatus.SUCCESS, result.error
    assert result.payload is not None
    assert base64.b64decode(result.payload["file_content"]) == content
    assert result.payload["file_size"] == len(content)
    assert result.payload["file_name"] == "report.pdf"
    assert result.properties["sha256"] == hashlib.sha256(content).hexdigest()
    assert result.properties["transfer"] == "ranges"


# x-ms-file-size missing, or past 2**63-1 (unreadable): with a '*' total, no answer says the size.
UNKNOWN_SIZES = [{}, {"x-ms-file-size": "9" * 20}]


@pytest.mark.parametrize("size_header", UNKNOWN_SIZES, ids=["no size", "size past 2**63-1"])
def test_a_file_of_unknown_size_is_read_until_a_short_block(
    mocked: responses.RequestsMock, connection: Connection, size_header: dict[str, str]
) -> None:
    # Only the first block was kept before, and the download reported success with it.
    content = _content(2 * BLOCK + 100)
    _file_column(mocked)
    for first in range(0, len(content), BLOCK):
        last = min(first + BLOCK, len(content)) - 1
        part = {"Content-Range": f"bytes {first}-{last}/*", **size_header}
        _range(mocked, first, 206, content[first : last + 1], part)
    _downloaded_whole(_download(connection), content)


@pytest.mark.parametrize("end", [416, 206], ids=["416 past the end", "empty block"])
def test_a_file_of_unknown_size_in_whole_blocks_ends_at_a_416_or_an_empty_block(
    mocked: responses.RequestsMock, connection: Connection, end: int
) -> None:
    content = _content(2 * BLOCK)
    _file_column(mocked)
    for first in (0, BLOCK):
        part = {"Content-Range": f"bytes {first}-{first + BLOCK - 1}/*"}
        _range(mocked, first, 206, content[first : first + BLOCK], part)
    if end == 416:
        _range(mocked, 2 * BLOCK, 416, b'{"error":{"code":"0x80040203","message":"The range starts past the end."}}')
    else:
        _range(mocked, 2 * BLOCK, 206, b"", {"Content-Range": "bytes */*"})
    _downloaded_whole(_download(connection), content)


@pytest.mark.parametrize(
    "total",
    [
        lambda first, last, size: {"Content-Range": f"bytes {first}-{last}/{size}"},
        lambda first, last, size: {"Content-Range": f"bytes {first}-{last}/*", "x-ms-file-size": str(size)},
        lambda first, last, size: {"Content-Range": f"bytes {first}-{last}/{size}", "x-ms-file-size": str(size)},
    ],
    ids=["Content-Range total", "x-ms-file-size", "both"],
)
@pytest.mark.parametrize("size", [100, BLOCK, 2 * BLOCK, 2 * BLOCK + 100])
def test_a_file_of_known_size_takes_the_ranges_it_needs(
    mocked: responses.RequestsMock, connection: Connection, total: Callable[[int, int, int], dict[str, str]], size: int
) -> None:
    # The strict mocks fail on a request past the file's end as on a missing one.
    content = _content(size)
    _file_column(mocked)
    for first in range(0, size, BLOCK):
        last = min(first + BLOCK, size) - 1
        _range(mocked, first, 206, content[first : last + 1], total(first, last, size))
    _downloaded_whole(_download(connection), content)


def test_a_whole_file_answered_to_a_range_is_the_file(mocked: responses.RequestsMock, connection: Connection) -> None:
    content = _content(BLOCK + 100)
    _file_column(mocked)
    _range(mocked, 0, 200, content)
    _downloaded_whole(_download(connection), content)


def test_a_whole_file_answered_to_a_later_range_fails_the_document(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    # Appended to the block already kept, it made a file of the first block and the whole file, reported a success.
    content = _content(BLOCK + 100)
    _file_column(mocked)
    _range(mocked, 0, 206, content[:BLOCK], {"Content-Range": f"bytes 0-{BLOCK - 1}/*"})
    _range(mocked, BLOCK, 200, content)
    result = _download(connection)
    assert result.status is ResultStatus.FAILED
    assert result.error is not None
    assert "whole file" in result.error.message


def test_a_416_for_the_first_range_is_still_an_error(mocked: responses.RequestsMock, connection: Connection) -> None:
    _file_column(mocked)
    _range(mocked, 0, 416, b'{"error":{"code":"0x80040203","message":"The range starts past the end."}}')
    result = _download(connection)
    assert result.status is ResultStatus.FAILED


def _failed_keeping_nothing(result: OperationResult, words: str) -> None:
    assert result.status is not ResultStatus.SUCCESS, result
    assert result.error is not None
    assert words in result.error.message, result.error
    assert result.payload is None or "file_content" not in result.payload


@pytest.mark.parametrize(
    "answered",
    [
        {"Content-Range": f"bytes {BLOCK + 1}-{2 * BLOCK}/*"},  # the range after the one asked for
        {"Content-Range": f"bytes 0-{BLOCK - 1}/*"},  # the first range again
        {"Content-Range": f"bytes {BLOCK}-{2 * BLOCK + 9}/*"},  # more than asked for
    ],
    ids=["another range", "the first range again", "longer than asked"],
)
def test_a_partial_answer_with_other_bytes_than_asked_for_fails_the_document(
    mocked: responses.RequestsMock, connection: Connection, answered: dict[str, str]
) -> None:
    # Written at the offset asked for, they made another file, reported as downloaded.
    content = _content(3 * BLOCK)
    _file_column(mocked)
    _range(mocked, 0, 206, content[:BLOCK], {"Content-Range": f"bytes 0-{BLOCK - 1}/*"})
    first, _, rest = answered["Content-Range"].removeprefix("bytes ").partition("-")
    last = int(rest.partition("/")[0])
    _range(mocked, BLOCK, 206, content[int(first) : last + 1], answered)
    _failed_keeping_nothing(_download(connection), "with other bytes")


def test_a_partial_answer_longer_than_the_block_without_a_content_range_fails_the_document(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    _file_column(mocked)
    _range(mocked, 0, 206, _content(BLOCK + 1))
    _failed_keeping_nothing(_download(connection), "with other bytes")


def test_a_download_of_unknown_size_stops_past_what_its_column_holds(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    # A service that answers full blocks for ever was read until memory or the disk ran out.
    _file_column(mocked, max_size_kb=2 * BLOCK // 1024)
    for first in (0, BLOCK, 2 * BLOCK):
        _range(mocked, first, 206, _content(BLOCK), {"Content-Range": f"bytes {first}-{first + BLOCK - 1}/*"})
    _failed_keeping_nothing(_download(connection), "holds at most 131072 bytes")


def test_a_download_of_unknown_size_as_large_as_its_column_holds_is_whole(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    content = _content(2 * BLOCK)
    _file_column(mocked, max_size_kb=2 * BLOCK // 1024)
    for first in (0, BLOCK):
        part = {"Content-Range": f"bytes {first}-{first + BLOCK - 1}/*"}
        _range(mocked, first, 206, content[first : first + BLOCK], part)
    _range(mocked, 2 * BLOCK, 416, b'{"error":{"code":"0x80040203","message":"The range starts past the end."}}')
    _downloaded_whole(_download(connection), content)


def test_a_download_of_unknown_size_from_a_column_that_says_no_size_stops_past_dataverses_largest_file(
    mocked: responses.RequestsMock, connection: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without MaxSizeInKB the bound is Dataverse's 10 GB, made two blocks here so the test need not send 10 GB.
    monkeypatch.setattr(file_downloads, "MOST_FILE_BYTES", 2 * BLOCK)
    _file_column(mocked)
    for first in (0, BLOCK, 2 * BLOCK):
        _range(mocked, first, 206, _content(BLOCK), {"Content-Range": f"bytes {first}-{first + BLOCK - 1}/*"})
    _failed_keeping_nothing(_download(connection), f"holds at most {2 * BLOCK} bytes")
