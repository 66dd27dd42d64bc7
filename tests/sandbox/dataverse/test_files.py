"""File and image columns (account.sample_contract, account.entityimage): one request, chunks and blocks, as
Microsoft Learn's "Use file column data" and "Use image column data" describe (dataverse_sandbox.dataverse.files).
"""

from __future__ import annotations

import base64
import os
from urllib.parse import quote, unquote

import pytest

from tests.support.sandbox import WebApiSession

CHUNK = 4 * 1024 * 1024


def new_account(api: WebApiSession) -> str:
    return api.create("accounts", {"name": "with files"})


def test_a_small_file_in_one_request_round_trips(api: WebApiSession) -> None:
    account = new_account(api)
    content = os.urandom(1000)
    put = api.patch(
        f"accounts({account})/sample_contract",
        data=content,
        headers={"Content-Type": "application/pdf", "x-ms-file-name": "contract.pdf", "If-None-Match": "null"},
    )
    assert put.status_code == 204, put.text
    row = api.get(f"accounts({account})?$select=sample_contract,sample_contract_name").json()
    assert row["sample_contract_name"] == "contract.pdf"
    assert len(row["sample_contract"]) == 36
    got = api.get(f"accounts({account})/sample_contract/$value")
    assert got.status_code == 200
    assert got.content == content
    assert got.headers["x-ms-file-name"] == "contract.pdf"
    assert got.headers["x-ms-file-size"] == "1000"
    part = api.get(f"accounts({account})/sample_contract/$value", headers={"Range": "bytes=10-19"})
    assert part.status_code == 206
    assert part.content == content[10:20]
    assert part.headers["Content-Range"] == "bytes 10-19/1000"
    assert api.delete(f"accounts({account})/sample_contract").status_code == 204
    assert api.get(f"accounts({account})/sample_contract/$value").status_code == 204
    assert api.get(f"accounts({account})?$select=sample_contract_name").json()["sample_contract_name"] is None


@pytest.mark.parametrize(
    "name",
    ["\u00dcbersicht.pdf", "\u5831\u544a.txt", "\u00dcber 100%.txt", " padded.txt", "padded.txt "],
    ids=["latin-1", "cjk", "latin-1 with percent", "leading space", "trailing space"],
)
def test_a_download_sends_a_name_that_is_not_plain_percent_encoded(api: WebApiSession, name: str) -> None:
    # A name werkzeug cannot put in a Latin-1 header left the client without an answer; Latin-1 went as raw bytes.
    account = new_account(api)
    put = api.patch(f"accounts({account})/sample_contract", params={"x-ms-file-name": name}, data=b"content")
    assert put.status_code == 204, put.text
    assert api.get(f"accounts({account})?$select=sample_contract_name").json()["sample_contract_name"] == name
    for headers in ({}, {"Range": "bytes=0-3"}):
        got = api.get(f"accounts({account})/sample_contract/$value", headers=headers)
        assert got.status_code in (200, 206), got.text
        sent = got.headers["x-ms-file-name"]
        assert sent == quote(name, safe="")
        assert unquote(sent, errors="strict") == name
    assert got.content == b"cont"


@pytest.mark.parametrize(
    "name", ["contract v2 (final).pdf", "Invoice%2001.pdf", "100%25.txt", "100% sure.txt", "%C3%9C.txt"]
)
def test_a_download_sends_a_plain_name_as_it_is(api: WebApiSession, name: str) -> None:
    # A plain name is printable ASCII without surrounding spaces, a '%' in it too: it went percent-encoded before.
    account = new_account(api)
    put = api.patch(f"accounts({account})/sample_contract", headers={"x-ms-file-name": name}, data=b"x")
    assert put.status_code == 204, put.text
    assert api.get(f"accounts({account})?$select=sample_contract_name").json()["sample_contract_name"] == name
    for headers in ({}, {"Range": "bytes=0-0"}):
        assert api.get(f"accounts({account})/sample_contract/$value", headers=headers).headers["x-ms-file-name"] == name


def test_a_file_name_is_required_and_a_missing_record_is_404(api: WebApiSession) -> None:
    account = new_account(api)
    assert api.patch(f"accounts({account})/sample_contract", data=b"x").status_code == 400
    missing = api.patch(
        "accounts(00000000-0000-0000-0000-0000000000ff)/sample_contract",
        data=b"x",
        headers={"x-ms-file-name": "a.txt"},
    )
    assert missing.status_code == 404
    # A file column is not written through JSON: its value is the file's id, set by an upload.
    assert api.patch(f"accounts({account})", json={"sample_contract": "x"}).status_code == 204
    assert api.get(f"accounts({account})?$select=sample_contract").json()["sample_contract"] is None


def test_chunked_upload_over_the_column_url(api: WebApiSession) -> None:
    account = new_account(api)
    content = os.urandom(CHUNK + 12345)
    start = api.patch(
        f"accounts({account})/sample_contract?x-ms-file-name=big.bin", headers={"x-ms-transfer-mode": "chunked"}
    )
    assert start.status_code == 200
    assert start.headers["x-ms-chunk-size"] == str(CHUNK)
    location = start.headers["Location"]
    assert "sessiontoken=" in location
    for first in range(0, len(content), CHUNK):
        chunk = content[first : first + CHUNK]
        last = first + len(chunk) - 1
        answer = api.patch(
            location,
            data=chunk,
            headers={"Content-Range": f"bytes {first}-{last}/{len(content)}", "x-ms-file-name": "big.bin"},
        )
        assert answer.status_code == (204 if last == len(content) - 1 else 206), answer.text
    assert api.get(f"accounts({account})/sample_contract/$value").content == content
    gap = api.patch(location, data=b"x", headers={"Content-Range": "bytes 5-5/10"})
    assert gap.status_code == 400  # the session ended with the last chunk


def test_blocks_upload_and_download(api: WebApiSession) -> None:
    account = new_account(api)
    content = os.urandom(CHUNK + 100)
    target = {"@odata.type": "Microsoft.Dynamics.CRM.account", "accountid": account}
    token = api.post(
        "InitializeFileBlocksUpload",
        json={"Target": target, "FileAttributeName": "sample_contract", "FileName": "blocks.bin"},
    ).json()["FileContinuationToken"]
    block_ids = []
    for index, first in enumerate(range(0, len(content), CHUNK)):
        block_id = base64.b64encode(f"block-{index:06d}".encode()).decode()
        block_ids.append(block_id)
        data = base64.b64encode(content[first : first + CHUNK]).decode()
        uploaded = api.post(
            "UploadBlock", json={"BlockId": block_id, "BlockData": data, "FileContinuationToken": token}
        )
        assert uploaded.status_code == 204, uploaded.text
    committed = api.post(
        "CommitFileBlocksUpload",
        json={
            "FileName": "blocks.bin",
            "MimeType": "application/octet-stream",
            "BlockList": block_ids,
            "FileContinuationToken": token,
        },
    )
    assert committed.status_code == 200, committed.text
    assert committed.json()["FileSizeInBytes"] == len(content)
    started = api.post("InitializeFileBlocksDownload", json={"Target": target, "FileAttributeName": "sample_contract"})
    assert started.status_code == 200
    info = started.json()
    assert info["FileSizeInBytes"] == len(content)
    assert info["FileName"] == "blocks.bin"
    assert info["IsChunkingSupported"] is True
    received = b""
    while len(received) < info["FileSizeInBytes"]:
        block = api.post(
            "DownloadBlock",
            json={
                "Offset": len(received),
                "BlockLength": CHUNK,
                "FileContinuationToken": info["FileContinuationToken"],
            },
        )
        received += base64.b64decode(block.json()["Data"])
    assert received == content
    oversized = api.post(
        "UploadBlock",
        json={
            "BlockId": "eA==",
            "BlockData": base64.b64encode(b"x" * (CHUNK + 1)).decode(),
            "FileContinuationToken": token,
        },
    )
    assert oversized.status_code == 400  # blocks are at most 4 MB, and the token ended with the commit


def test_download_of_an_empty_column_and_a_bad_target(api: WebApiSession) -> None:
    account = new_account(api)
    target = {"@odata.type": "Microsoft.Dynamics.CRM.account", "accountid": account}
    empty = api.post("InitializeFileBlocksDownload", json={"Target": target, "FileAttributeName": "sample_contract"})
    assert empty.status_code == 404
    wrong = api.post("InitializeFileBlocksDownload", json={"Target": target, "FileAttributeName": "name"})
    assert wrong.status_code == 400


def test_max_size_in_kb_is_enforced(api: WebApiSession) -> None:
    account = new_account(api)
    too_big = api.patch(
        f"accounts({account})/entityimage",
        data=b"\x89PNG" + b"\0" * (10240 * 1024),
        headers={"x-ms-file-name": "huge.png", "Content-Type": "image/png"},
    )
    assert too_big.status_code == 400
    assert "exceeds the maximum" in too_big.json()["error"]["message"]


def test_image_column_full_size_thumbnail_and_json(api: WebApiSession) -> None:
    account = new_account(api)
    image = b"\x89PNG\r\n\x1a\n" + os.urandom(300)
    put = api.patch(
        f"accounts({account})/entityimage",
        data=image,
        headers={"x-ms-file-name": "logo.png", "Content-Type": "image/png"},
    )
    assert put.status_code == 204
    row = api.get(f"accounts({account})?$select=entityimage,entityimageid,entityimage_url,entityimage_timestamp").json()
    assert base64.b64decode(row["entityimage"]) == image
    assert len(row["entityimageid"]) == 36
    assert row["entityimage_url"].startswith("/Image/download.aspx?Entity=account&Attribute=entityimage")
    assert row["entityimage_timestamp"] > 0
    assert api.get(f"accounts({account})/entityimage/$value").content == image
    assert api.get(f"accounts({account})/entityimage/$value?size=full").content == image
    # An image column also takes base64 in a JSON body; anything else is a 400.
    assert (
        api.patch(f"accounts({account})", json={"entityimage": base64.b64encode(b"GIF89a").decode()}).status_code == 204
    )
    assert api.patch(f"accounts({account})", json={"entityimage": "not base64!"}).status_code == 400


def test_file_metadata_is_described(api: WebApiSession) -> None:
    url = "EntityDefinitions(LogicalName='account')/Attributes(LogicalName='sample_contract')"
    file_column = api.get(url).json()
    assert file_column["@odata.type"] == "#Microsoft.Dynamics.CRM.FileAttributeMetadata"
    assert file_column["MaxSizeInKB"] == 32768
    name = api.get("EntityDefinitions(LogicalName='account')/Attributes(LogicalName='sample_contract_name')").json()
    assert name["AttributeOf"] == "sample_contract"


def test_read_only_principals_cannot_upload(api: WebApiSession, read_only_api: WebApiSession) -> None:
    account = new_account(api)
    refused = read_only_api.patch(
        f"accounts({account})/sample_contract", data=b"x", headers={"x-ms-file-name": "a.txt"}
    )
    assert refused.status_code == 403


def test_a_content_range_no_client_sends_is_a_400(api: WebApiSession) -> None:
    account = new_account(api)
    start = api.patch(
        f"accounts({account})/sample_contract?x-ms-file-name=b.bin", headers={"x-ms-transfer-mode": "chunked"}
    )
    # int() refuses 4301 digits: a 500 before.
    answer = api.patch(start.headers["Location"], data=b"x", headers={"Content-Range": "bytes 0-0/" + "9" * 4301})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["message"]


def test_a_range_past_64_bits_ends_at_the_files_end_or_starts_past_it(api: WebApiSession) -> None:
    account = new_account(api)
    put = api.patch(f"accounts({account})/sample_contract", data=b"0123456789", headers={"x-ms-file-name": "a.bin"})
    assert put.status_code == 204, put.text
    url = f"accounts({account})/sample_contract/$value"
    to_the_end = api.get(url, headers={"Range": "bytes=4-" + "9" * 4301})  # int() refused it: a 500
    assert (to_the_end.status_code, to_the_end.content) == (206, b"456789")
    assert to_the_end.headers["Content-Range"] == "bytes 4-9/10"
    past = api.get(url, headers={"Range": "bytes=" + "9" * 4301 + "-"})
    assert past.status_code == 416, past.text
