"""The Web API client: links resolved against the API root, foreign origins and links that are no URL refused, JSON
reads.
"""

from __future__ import annotations

import pytest
import responses

from connector.dataverse.client import DataverseClient, ForeignLinkError, MalformedLinkError
from connector.errors import RemoteError, TransientError
from tests.support.dataverse import API, ORIGIN


@pytest.mark.parametrize(
    "link",
    [
        "accounts(1)",
        "/accounts(1)",
        "/api/data/v9.2/accounts(1)",
        f"{API}accounts(1)",
    ],
)
def test_links_resolve_under_the_api_root(client: DataverseClient, link: str) -> None:
    assert client.link(link).lower() == f"{API}accounts(1)".lower()


def test_an_absolute_link_of_the_same_origin_is_kept(client: DataverseClient) -> None:
    link = "https://CONTOSO.crm.dynamics.com:443/api/data/v9.2/accounts(1)"
    assert client.link(link) == link


@pytest.mark.parametrize(
    "link",
    ["https://evil.example/api/data/v9.2/accounts(1)", "http://contoso.crm.dynamics.com/api/data/v9.2/accounts(1)"],
)
def test_links_to_other_origins_are_refused(client: DataverseClient, link: str) -> None:
    with pytest.raises(ForeignLinkError):
        client.link(link)


@pytest.mark.parametrize(
    ("link", "reason"),
    [
        ("https://[x/", "its host is neither a name nor a bracketed IP address"),
        ("https://[x/api/data/v9.2/accounts(1)", "its host is neither a name nor a bracketed IP address"),
        ("https://[zzz]/api/data/v9.2/accounts(1)", "its host is neither a name nor a bracketed IP address"),
        ("https://h:99999/", "its port is not a number from 0 to 65535"),
        (f"{ORIGIN}:99999/api/data/v9.2/accounts(1)", "its port is not a number from 0 to 65535"),
        (f"{ORIGIN}:http/api/data/v9.2/accounts(1)", "its port is not a number from 0 to 65535"),
        (f"{ORIGIN}:{'9' * 5000}/api/data/v9.2/accounts(1)", "its port is not a number from 0 to 65535"),
    ],
)
def test_a_link_that_is_no_url_is_refused_with_a_typed_error(client: DataverseClient, link: str, reason: str) -> None:
    # urllib.parse's bare ValueError escaped link(): a caller that did not catch it ended in an internal failure.
    for resolve in (client.link, client.record_path):
        with pytest.raises(MalformedLinkError) as caught:
            resolve(link)
        assert str(caught.value) == f"is not a URL ({reason})"


def test_a_huge_foreign_origin_is_cut_in_the_message(client: DataverseClient) -> None:
    with pytest.raises(ForeignLinkError) as caught:
        client.link(f"https://{'a' * 100_000}.example/api/data/v9.2/accounts(1)")
    message = str(caught.value)
    assert message.startswith("https://aaa")
    assert message.endswith("more characters left out is not the API's origin")
    assert len(message) < 400


def test_relative_and_url(client: DataverseClient) -> None:
    assert client.relative(f"{API}accounts(1)") == "accounts(1)"
    assert client.relative(f"{ORIGIN}/other") == f"{ORIGIN}/other"
    # A key value holding "://" is still a relative path.
    assert client.url("accounts(websiteurl='http://x')") == f"{API}accounts(websiteurl='http://x')"
    encoded = client.url("accounts", [("$select", "name"), ("tag", "a b&c")])
    assert encoded == f"{API}accounts?$select=name&tag=a%20b%26c"


def test_get_json_raises_in_boomis_form_and_for_malformed_bodies(
    mocked: responses.RequestsMock, client: DataverseClient
) -> None:
    mocked.add("GET", f"{API}x", status=400, json={"error": {"code": "0x80040203", "message": "Invalid argument."}})
    mocked.add("GET", f"{API}y", body="{", content_type="application/json")
    with pytest.raises(RemoteError, match=r"^\(0x80040203\)Invalid argument\.\[400\]$"):
        client.get_json("x")
    with pytest.raises(TransientError, match="malformed"):
        client.get_json("y")
