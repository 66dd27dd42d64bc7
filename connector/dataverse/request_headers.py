"""Request headers an operation's options choose: impersonation, solution, bypassed logic, and custom headers.

Every operation may send, on each of its requests:

* ``CallerObjectId`` (``caller_object_id``: the Entra object id of the user to act for, Dataverse's preferred
  impersonation) or ``MSCRMCallerID`` (``caller_id``: that user's ``systemuserid``, the legacy form); never both;
* ``MSCRM.SolutionUniqueName`` (``solution_unique_name``);
* ``MSCRM.BypassCustomPluginExecution``, ``MSCRM.BypassBusinessLogicExecution`` and
  ``MSCRM.BypassBusinessLogicExecutionStepIds`` (``bypass_custom_plugins``, ``bypass_business_logic``,
  ``bypass_step_ids``) where the operation has those options;
* ``custom_headers``: any other name/value pairs, except the names of :data:`REFUSED_HEADERS` (the credential,
  framing and hop-by-hop headers, and every header the connector sets itself) and the names an option above sets
  (:data:`OPTION_HEADERS`: use the option).

The ``tag`` option is not a header: Dataverse reads it from the ``tag`` query parameter (it reaches plug-ins as the
shared variable ``tag``), so it joins the custom query parameters.

Names must be HTTP tokens and values visible ASCII, spaces or tabs (no CR, LF or other control character, so a value
can never start a header of its own); :func:`header_problem` says what is wrong with one pair, for the options
(:func:`header_option_errors`, a configuration error) and for a document's own headers (a per-document error, see
:mod:`connector.dataverse.operations.document_headers`). Pure rules, no I/O: not for sending.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from connector.errors import FieldError

__all__ = [
    "CALLER_HEADERS",
    "GUID_HEADERS",
    "OPTION_HEADERS",
    "REFUSED_HEADERS",
    "header_option_errors",
    "header_problem",
    "run_headers",
]

_TOKEN: Final = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_VALUE: Final = re.compile(r"^[\t\x20-\x7e]*$")
_GUID: Final = re.compile(r"^\{?[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\}?$")

REFUSED_HEADERS: Final[Mapping[str, str]] = {
    # The credential and the message's framing: owned by the transport and the HTTP library.
    "authorization": "carries the connection's own access token",
    "proxy-authorization": "is the runtime proxy's credential",
    "cookie": "is not used by the Web API and could carry another session",
    "host": "is the API root's host",
    "content-length": "is the body's length",
    "transfer-encoding": "frames the body",
    "expect": "is managed by the HTTP library",
    # Hop-by-hop headers (RFC 9110 §7.6.1): they describe one connection, not the request.
    "connection": "is a hop-by-hop header",
    "keep-alive": "is a hop-by-hop header",
    "proxy-connection": "is a hop-by-hop header",
    "proxy-authenticate": "is a hop-by-hop header",
    "te": "is a hop-by-hop header",
    "trailer": "is a hop-by-hop header",
    "upgrade": "is a hop-by-hop header",
    # What the connector itself sets on some request.
    "accept": "is set by the connector (application/json)",
    "accept-encoding": "is set by the HTTP library",
    "content-type": "is set by the connector for each body",
    "content-range": "is set by the connector for file transfers",
    "range": "is set by the connector for file transfers",
    "odata-version": "is set by the connector (4.0)",
    "odata-maxversion": "is set by the connector (4.0)",
    "prefer": "is set by the connector from the operation's options",
    "if-match": "carries the record's ETag (the concurrency options)",
    "if-none-match": "carries the record's ETag (the concurrency options)",
    "user-agent": "is set by the connector",
    "mscrm.suppressduplicatedetection": "is set by the duplicate_detection option",
    "x-ms-file-name": "is set by the file operations",
    "x-ms-transfer-mode": "is set by the file operations",
}
"""Header names (lower case) no option or document may set, with the reason given in the error."""

OPTION_HEADERS: Final[Mapping[str, str]] = {
    "callerobjectid": "caller_object_id",
    "mscrmcallerid": "caller_id",
    "mscrm.solutionuniquename": "solution_unique_name",
    "mscrm.bypasscustompluginexecution": "bypass_custom_plugins",
    "mscrm.bypassbusinesslogicexecution": "bypass_business_logic",
    "mscrm.bypassbusinesslogicexecutionstepids": "bypass_step_ids",
}
"""Headers an option sets (lower case → option): ``custom_headers`` may not repeat them; a document may override
them through its own headers (``@connector.headers``), e.g. to act for another user."""

CALLER_HEADERS: Final = ("CallerObjectId", "MSCRMCallerID")
"""The two impersonation headers; a request carries at most one."""

GUID_HEADERS: Final = frozenset({"callerobjectid", "mscrmcallerid"})
"""Headers whose value must be a GUID (lower case)."""


def header_problem(name: Any, value: Any, *, allow_option_headers: bool) -> tuple[str, str] | None:
    """What is wrong with one header, if anything.

    :param name: the header's name.
    :param value: its value.
    :param allow_option_headers: whether names an option sets (:data:`OPTION_HEADERS`) are allowed (a document's
        own headers: yes; ``custom_headers``: no, the option is the place).
    :returns: ``("name" | "value", what is wrong)``, or ``None``.
    """
    if not isinstance(name, str) or not name:
        return "name", "a header needs a name"
    if _TOKEN.fullmatch(name) is None:
        return "name", f"{name!r} is not a valid header name (letters, digits and !#$%&'*+.^_`|~- only)"
    folded = name.lower()
    if folded in REFUSED_HEADERS:
        return "name", f"{name!r} cannot be set: it {REFUSED_HEADERS[folded]}"
    if folded in OPTION_HEADERS and not allow_option_headers:
        return "name", f"{name!r} is set by the option {OPTION_HEADERS[folded]}; use that option"
    if not isinstance(value, str):
        return "value", f"the value of {name!r} must be text"
    if _VALUE.fullmatch(value) is None:
        return "value", (
            f"the value of {name!r} holds a line break, a control character or a non-ASCII character, which a "
            "header cannot carry"
        )
    if folded in GUID_HEADERS and _GUID.fullmatch(value.strip()) is None:
        return "value", f"the value of {name!r} must be a GUID, not {value!r}"
    return None


def header_option_errors(options: Mapping[str, Any]) -> list[FieldError]:
    """Check the header options for what the schema cannot: refused, repeated and option-owned names, both callers.

    :param options: the raw options (shapes the schema refuses are skipped: the schema reports them).
    :returns: the field errors, paths starting with ``options``.
    """
    errors: list[FieldError] = []
    if options.get("caller_object_id") and options.get("caller_id"):
        errors.append(
            FieldError("options.caller_id", "cannot be combined with caller_object_id: choose one way to impersonate")
        )
    headers = options.get("custom_headers")
    if not isinstance(headers, list):
        return errors
    seen: dict[str, int] = {}
    for index, item in enumerate(headers):
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            continue
        name, path = item["name"], f"options.custom_headers[{index}]"
        problem = header_problem(name, item.get("value"), allow_option_headers=False)
        if problem is not None:
            errors.append(FieldError(f"{path}.{problem[0]}", problem[1]))
            continue
        folded = name.lower()
        if folded in seen:
            errors.append(FieldError(f"{path}.name", f"repeats {name!r} (already header {seen[folded]})"))
        else:
            seen[folded] = index
    return errors


def run_headers(values: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """The headers a run's options choose, sent on every request of the run.

    :param values: validated options, defaults filled in (an operation without an option simply lacks it).
    :returns: ``(name, value)`` pairs in a fixed order: impersonation, solution, bypassed logic, custom headers.
    """
    pairs: list[tuple[str, str]] = []
    if values.get("caller_object_id"):
        pairs.append(("CallerObjectId", _guid(str(values["caller_object_id"]))))
    if values.get("caller_id"):
        pairs.append(("MSCRMCallerID", _guid(str(values["caller_id"]))))
    if values.get("solution_unique_name"):
        pairs.append(("MSCRM.SolutionUniqueName", str(values["solution_unique_name"])))
    if values.get("bypass_custom_plugins"):
        pairs.append(("MSCRM.BypassCustomPluginExecution", "true"))
    bypass = values.get("bypass_business_logic")
    if bypass and bypass != "none":
        pairs.append(("MSCRM.BypassBusinessLogicExecution", str(bypass)))
    steps = values.get("bypass_step_ids") or ()
    if steps:
        pairs.append(("MSCRM.BypassBusinessLogicExecutionStepIds", ",".join(_guid(str(step)) for step in steps)))
    for item in values.get("custom_headers") or ():
        pairs.append((str(item["name"]), str(item["value"])))
    return tuple(pairs)


def _guid(text: str) -> str:
    """:returns: a GUID as Dataverse writes it: lower case, no braces."""
    return text.strip().strip("{}").lower()
