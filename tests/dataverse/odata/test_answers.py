"""Reading the service's answers (connector.dataverse.odata.answers)."""

from __future__ import annotations

import pytest
import requests

from connector.dataverse.odata.answers import json_body
from connector.errors import TransientError


def _answer(content: bytes) -> requests.Response:
    response = requests.Response()
    response.status_code = 200
    response._content = content
    response.encoding = "utf-8"
    return response


@pytest.mark.parametrize(
    "content",
    [b'{"value": [', b"[" * 100_000 + b"]" * 100_000],
    ids=["cut off", "nested 100,000 deep (RecursionError escaped before)"],
)
def test_a_body_that_cannot_be_read_is_a_transient_error(content: bytes) -> None:
    with pytest.raises(TransientError, match="could not be read"):
        json_body(_answer(content))
