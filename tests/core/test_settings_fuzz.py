"""Any malformed value, of any JSON type, in any settings field, is a field error at ``connect``: never a traceback.

Hypothesis replaces one field (or adds an unknown one) of each valid example with an arbitrary JSON value: wrong
types, huge and non-finite-looking numbers, control characters, lone surrogates, unicode digits, odd URLs. Parsing
must then either accept the settings (and the accepted values are usable: finite time-outs, encodable strings) or
raise :class:`~connector.errors.ConfigError` whose fields name where the problem is, without quoting a secret.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.context import RuntimeContext
from connector.errors import ConfigError
from connector.settings import ConnectionSettings, parse_settings
from tests.support.auth import code_oauth, jwt_oauth, secret_oauth
from tests.support.examples import CANARY_SECRET, CLIENT_SECRET_SETTINGS

CONNECTION = dict(CLIENT_SECRET_SETTINGS["connection"])

EXAMPLES: dict[str, Callable[[], dict[str, Any]]] = {
    "client secret": lambda: copy.deepcopy(CLIENT_SECRET_SETTINGS),
    "jwt": lambda: {"connection": dict(CONNECTION), "oauth2": jwt_oauth()},
    "authorization code": lambda: {"connection": dict(CONNECTION), "oauth2": code_oauth()},
    "secret helper": lambda: {"connection": dict(CONNECTION), "oauth2": secret_oauth()},
}

ODD_TEXT = st.sampled_from(
    [
        "",
        " ",
        "\ud800",
        "a\x00b",
        "v9.2\n",
        "²",
        "٣٤٥",
        "[not-an-ip]",
        "https://[zzz]/token",
        "https://user:pw@login.microsoftonline.com/t/oauth2/token",
        "contoso.crm.dynamics.com:99999",
        "contoso.crm.dynamics.com:²",
        "x" * 100_000,
        "../../etc/passwd",
        "%00",
        "-----BEGIN PRIVATE KEY-----\nMIIB\n",
        "data:application/x-pkcs12;base64,!!!",
        "1e308",
        "NaN",
    ]
)
JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e308, -1e308, 2**63, -(2**63), 0.5, 10**20]),
    st.text(max_size=40),
    ODD_TEXT,
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=6,
)


def _field_paths(settings_dict: dict[str, Any]) -> list[tuple[str, ...]]:
    """Every field of the example, nested objects and list items included, plus an unknown one per section."""
    paths: list[tuple[str, ...]] = []

    def walk(value: Any, path: tuple[str, ...]) -> None:
        if path:
            paths.append(path)
        if isinstance(value, dict):
            for key, child in value.items():
                walk(child, (*path, key))
        elif isinstance(value, list):
            for index, child in enumerate(value):
                walk(child, (*path, str(index)))

    walk(settings_dict, ())
    paths += [("connection", "no_such_field"), ("oauth2", "no_such_field")]
    paths += [("connection", name) for name in ("connect_timeout_ms", "read_timeout_ms", "honor_runtime_proxy")]
    return paths


def _replace(settings_dict: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    target: Any = settings_dict
    for part in path[:-1]:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if isinstance(target, list):
        target[int(path[-1])] = value
    else:
        target[path[-1]] = value


def _usable(parsed: ConnectionSettings) -> None:
    for seconds in parsed.timeouts.as_requests():
        assert seconds is None or (math.isfinite(seconds) and 0 < seconds <= 24 * 3600)
    parsed.api_root.encode("ascii")
    parsed.oauth.access_token_url.encode("ascii")


@pytest.mark.parametrize("example", EXAMPLES)
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_malformed_value_in_any_field_is_a_field_error(example: str, data: st.DataObject) -> None:
    settings_dict = EXAMPLES[example]()
    path = data.draw(st.sampled_from(_field_paths(settings_dict)), label="field")
    value = data.draw(JSON_VALUES, label="value")
    _replace(settings_dict, path, value)

    refusal: ConfigError | None = None
    try:
        parsed = parse_settings(settings_dict, RuntimeContext())
    except ConfigError as error:
        refusal = error
    if refusal is None:
        _usable(parsed)
        return
    assert refusal.fields
    assert all(field.split(".")[0].split("[")[0] in {"connection", "oauth2", "settings"} for field in refusal.fields)
    assert CANARY_SECRET not in refusal.user_message
    assert CANARY_SECRET not in refusal.internal_message


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("connect_timeout_ms", 1e308),
        ("read_timeout_ms", 2**70),
        ("connect_timeout_ms", 10**12),
    ],
)
def test_a_time_out_beyond_a_day_is_refused_naming_the_field(field: str, value: Any) -> None:
    settings_dict = copy.deepcopy(CLIENT_SECRET_SETTINGS)
    settings_dict["connection"][field] = value
    with pytest.raises(ConfigError) as caught:
        parse_settings(settings_dict, RuntimeContext())
    assert f"connection.{field}" in caught.value.fields


@pytest.mark.parametrize("field", ["grant_type", "client_assertion_type", "client_authentication"])
@pytest.mark.parametrize("value", [["client_credentials"], {"a": 1}, 3, None])
def test_a_choice_given_a_list_or_object_is_a_field_error(field: str, value: Any) -> None:
    settings_dict = copy.deepcopy(CLIENT_SECRET_SETTINGS)
    settings_dict["oauth2"][field] = value
    with pytest.raises(ConfigError) as caught:
        parse_settings(settings_dict, RuntimeContext())
    assert any(path.startswith(f"oauth2.{field}") for path in caught.value.fields), caught.value.fields


def test_keys_of_mixed_types_are_field_errors_not_a_type_error() -> None:
    settings_dict: dict[Any, Any] = copy.deepcopy(CLIENT_SECRET_SETTINGS)
    settings_dict[1] = "one"
    settings_dict["extra"] = "two"
    with pytest.raises(ConfigError) as caught:
        parse_settings(settings_dict, RuntimeContext())
    assert set(caught.value.fields) == {"1", "extra"}


@pytest.mark.parametrize(
    ("base_url", "message"),
    [
        ("contoso.crm.dynamics.com:²", "port"),
        ("contoso.crm.dynamics.com:٣٤٥", "port"),
        ("[not-an-ip]", "host"),
        ("\ud800.example", "Unicode"),
    ],
)
def test_odd_base_urls_are_field_errors(base_url: str, message: str) -> None:
    settings_dict = copy.deepcopy(CLIENT_SECRET_SETTINGS)
    settings_dict["connection"]["base_url"] = base_url
    with pytest.raises(ConfigError) as caught:
        parse_settings(settings_dict, RuntimeContext())
    assert caught.value.fields == ["connection.base_url"]
    assert any(word in caught.value.user_message for word in (message, "expected form"))


URL_FIELDS = ["access_token_url", "authorization_url"]


@pytest.mark.parametrize("field", URL_FIELDS)
@pytest.mark.parametrize(
    "url", ["https://[zzz]/token", "https://login.microsoftonline.com:99999/t/oauth2/token", "https://\ud800/x"]
)
def test_a_malformed_oauth_url_is_a_field_error(field: str, url: str) -> None:
    settings_dict = {"connection": dict(CONNECTION), "oauth2": code_oauth(**{field: url})}
    with pytest.raises(ConfigError) as caught:
        parse_settings(settings_dict, RuntimeContext())
    assert f"oauth2.{field}" in caught.value.fields


@pytest.mark.parametrize("field", URL_FIELDS)
def test_a_password_in_a_url_is_refused_without_echoing_it(field: str) -> None:
    password = "canary-url-password-93ab"
    url = f"https://someone:{password}@login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/token"
    settings_dict = {"connection": dict(CONNECTION), "oauth2": code_oauth(**{field: url})}
    with pytest.raises(ConfigError) as caught:
        parse_settings(settings_dict, RuntimeContext())
    assert f"oauth2.{field}" in caught.value.fields
    assert password not in caught.value.user_message
    assert password not in caught.value.internal_message
    assert password not in repr(caught.value)


def test_a_password_in_the_base_url_is_refused_without_echoing_it() -> None:
    settings_dict = copy.deepcopy(CLIENT_SECRET_SETTINGS)
    settings_dict["connection"]["base_url"] = "someone:canary-base-pw-11@contoso.crm.dynamics.com"
    with pytest.raises(ConfigError) as caught:
        parse_settings(settings_dict, RuntimeContext())
    assert caught.value.fields == ["connection.base_url"]
    assert "canary-base-pw-11" not in caught.value.user_message
