"""FetchXML documents: the text of ``?fetchXml=`` read into a typed query, or a Dataverse error saying what is wrong.

Supported (reference §3.9): ``<fetch>`` with ``count``, ``page``, ``paging-cookie``, ``top``, ``distinct``,
``returntotalrecordcount`` (and ``mapping``, ``version``, ``no-lock``, ``output-format``, ``latematerialize``,
``options``, ``useraworderby``, accepted and ignored); one ``<entity name>`` holding ``<attribute name>``,
``<all-attributes/>``, ``<order attribute descending>`` and ``<filter type="and|or">`` with nested filters and
``<condition attribute operator value>`` (or ``<value>`` children). No ``<attribute>`` at all means every column, as
``<all-attributes/>``. Names are logical names; whether they exist is checked later, against the table
(:mod:`.fetch_conditions`). Not supported, with a 400 that says so: ``<link-entity>``, aggregates, aliases,
conditions on another entity (``entityname``).

Error codes are the platform's query-builder codes (``0x8004110x``/``0x8004112x``) and ``0x80040201`` (InvalidXml)
for text that is not well-formed XML: the codes exist in Dataverse's list, their pairing with these cases is the
sandbox's choice. Not for SQL or for serving the query: :mod:`.fetch_conditions` and :mod:`.fetch_queries`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Literal

from dataverse_sandbox.numbers import ascii_whole_number

from .errors import DataverseError, invalid_argument

__all__ = [
    "INVALID_NODE",
    "INVALID_XML",
    "FetchCondition",
    "FetchFilter",
    "FetchLink",
    "FetchOrder",
    "FetchSpec",
    "parse_fetch",
]

#: InvalidXml: the text is not well-formed XML.
INVALID_XML = "0x80040201"
#: QueryBuilderDeserializeInvalidNode: an element or attribute FetchXML does not have here.
INVALID_NODE = "0x8004111c"
_INVALID_FILTER_TYPE = "0x80041122"
_INVALID_DESCENDING = "0x80041119"
_INVALID_DISTINCT = "0x80041115"

_IGNORED_FETCH_ATTRIBUTES = frozenset(
    {"mapping", "version", "no-lock", "output-format", "latematerialize", "options", "useraworderby", "datasource"}
)
_FETCH_ATTRIBUTES = (
    frozenset({"count", "page", "paging-cookie", "top", "distinct", "returntotalrecordcount", "aggregate"})
    | _IGNORED_FETCH_ATTRIBUTES
)
_TRUE = ("true", "1")
_FALSE = ("false", "0")


@dataclass(frozen=True)
class FetchCondition:
    """``<condition attribute operator value>``.

    :param attribute: the column's logical name.
    :param operator: the operator as written (``eq``, ``like``, ``in``…), lower-cased.
    :param values: the ``value`` attribute, or the text of each ``<value>`` child, in order.
    """

    attribute: str
    operator: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class FetchFilter:
    """``<filter type>``: conditions and nested filters joined by ``and`` or ``or``.

    :param type: how the items combine.
    :param items: conditions and filters in document order.
    """

    type: Literal["and", "or"]
    items: tuple[FetchCondition | FetchFilter, ...]


@dataclass(frozen=True)
class FetchOrder:
    """``<order attribute descending>``.

    :param attribute: the column's logical name.
    :param descending: whether it sorts descending.
    """

    attribute: str
    descending: bool


@dataclass(frozen=True)
class FetchLink:
    """A ``<link-entity>`` directly under ``<entity>``: a related table joined on ``from`` = ``to``.

    :param name: the related table's logical name.
    :param from_attribute: its column matched (``from``).
    :param to_attribute: the queried table's column it matches (``to``).
    :param alias: the prefix of the related columns in results (``alias.name``).
    :param inner: ``link-type="inner"`` (the default: rows without a match are left out) or ``outer``.
    :param attributes: the related table's ``<attribute>`` names to return.
    """

    name: str
    from_attribute: str
    to_attribute: str
    alias: str
    inner: bool
    attributes: tuple[str, ...]


@dataclass(frozen=True)
class FetchSpec:
    """A parsed ``<fetch>``.

    :param entity: the ``<entity name>``.
    :param attributes: the ``<attribute name>`` values in order, or ``None`` for every column.
    :param orders: the ``<order>`` elements in order.
    :param filter: the entity's filters joined with ``and``, or ``None``.
    :param count: the page size, or ``None`` (the default, 5000).
    :param page: the page number, from 1.
    :param paging_cookie: the ``paging-cookie`` attribute's text, or ``None``.
    :param top: the ``top`` attribute, or ``None``.
    :param distinct: whether rows are made distinct over the selected columns.
    :param total_count: ``returntotalrecordcount="true"``.
    :param links: the ``<link-entity>`` elements under ``<entity>``.
    """

    entity: str
    attributes: tuple[str, ...] | None
    orders: tuple[FetchOrder, ...]
    filter: FetchFilter | None
    count: int | None
    page: int
    paging_cookie: str | None
    top: int | None
    distinct: bool
    total_count: bool
    links: tuple[FetchLink, ...] = ()


def parse_fetch(text: str) -> FetchSpec:
    """Read a FetchXML query.

    :param text: the decoded ``fetchXml`` query option.
    :returns: the query.
    :raises DataverseError: 400 for text that is not well-formed, not a ``<fetch>``, or uses an element, attribute
        or value FetchXML does not allow (or the sandbox does not support).
    """
    root = parse_xml(text, "FetchXML")
    if root.tag != "fetch":
        raise _invalid_node(f"The root element of the FetchXML must be <fetch>, not <{root.tag}>.")
    _check_attributes(root, _FETCH_ATTRIBUTES)
    if _flag(root, "aggregate", INVALID_NODE):
        raise invalid_argument('The sandbox does not support aggregate FetchXML queries (aggregate="true").')
    entities = [child for child in root if child.tag == "entity"]
    others = [child.tag for child in root if child.tag != "entity"]
    if others:
        raise _invalid_node(f"The element <{others[0]}> is not valid inside <fetch>.")
    if len(entities) != 1:
        raise _invalid_node("A FetchXML query must have exactly one <entity> element.")
    entity = entities[0]
    _check_attributes(entity, frozenset({"name", "enableprefiltering", "prefilterparametername"}))
    name = entity.get("name", "").strip()
    if not name:
        raise _invalid_node("The <entity> element needs a name attribute.")
    count = _positive(root, "count")
    top = _positive(root, "top")
    page = _positive(root, "page")
    if top is not None and (count is not None or page is not None):
        raise invalid_argument("The top attribute can't be used with the page or count attributes of <fetch>.")
    attributes, orders, filters, links = _entity_children(entity)
    return FetchSpec(
        entity=name,
        attributes=attributes,
        orders=orders,
        filter=(filters[0] if len(filters) == 1 else FetchFilter("and", tuple(filters))) if filters else None,
        count=count,
        page=page or 1,
        paging_cookie=root.get("paging-cookie") or None,
        top=top,
        distinct=_flag(root, "distinct", _INVALID_DISTINCT),
        total_count=_flag(root, "returntotalrecordcount", INVALID_NODE),
        links=links,
    )


def parse_xml(text: str, what: str) -> ET.Element:
    """Parse XML that must not carry a DTD (no entity expansion, so no entity bombs).

    :param text: the XML text.
    :param what: what it is, for messages (``FetchXML``, ``paging cookie``).
    :returns: the root element.
    :raises DataverseError: 400 ``0x80040201`` when the text is empty, carries a DTD or is not well-formed.
    """
    if not text.strip():
        raise DataverseError(400, INVALID_XML, f"The {what} is empty.")
    upper = text.upper()
    if "<!DOCTYPE" in upper or "<!ENTITY" in upper:
        raise DataverseError(400, INVALID_XML, f"The {what} must not contain a DTD.")
    try:
        # A DTD was refused above, so nothing in the text can expand or fetch entities.
        return ET.fromstring(text)  # noqa: S314
    except ET.ParseError as exc:
        raise DataverseError(400, INVALID_XML, f"The {what} is not well-formed XML: {exc}.") from None


def _invalid_node(message: str) -> DataverseError:
    return DataverseError(400, INVALID_NODE, message)


def _check_attributes(element: ET.Element, allowed: frozenset[str]) -> None:
    for attribute in element.attrib:
        if attribute not in allowed:
            raise _invalid_node(f"The attribute '{attribute}' is not valid on <{element.tag}>.")


def _flag(element: ET.Element, name: str, code: str) -> bool:
    raw = element.get(name)
    if raw is None:
        return False
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise DataverseError(400, code, f"The {name} attribute of <{element.tag}> must be true or false, not '{raw}'.")


def _positive(element: ET.Element, name: str) -> int | None:
    raw = element.get(name)
    if raw is None:
        return None
    number = ascii_whole_number(raw)
    if number is None or number < 1:
        raise invalid_argument(f"The {name} attribute of <{element.tag}> must be a positive integer, not '{raw}'.")
    return number


def _link(element: ET.Element, index: int) -> FetchLink:
    """Read one ``<link-entity>`` (its ``<attribute>`` children only; filters and deeper links are refused)."""
    _check_attributes(element, frozenset({"name", "from", "to", "alias", "link-type", "visible", "intersect"}))
    name, from_attribute, to_attribute = (element.get(key, "").strip() for key in ("name", "from", "to"))
    if not name or not from_attribute or not to_attribute:
        raise _invalid_node("A <link-entity> element needs name, from and to attributes.")
    link_type = element.get("link-type", "inner").strip()
    if link_type not in ("inner", "outer"):
        raise invalid_argument(f"The sandbox supports link-type inner and outer, not '{link_type}'.")
    attributes: list[str] = []
    for child in element:
        if child.tag != "attribute":
            raise invalid_argument(f"The sandbox supports only <attribute> inside <link-entity>, not <{child.tag}>.")
        _check_attributes(child, frozenset({"name"}))
        attributes.append(child.get("name", "").strip())
    alias = element.get("alias", "").strip() or f"{name}{index + 1}"
    return FetchLink(name, from_attribute, to_attribute, alias, link_type == "inner", tuple(attributes))


def _entity_children(
    entity: ET.Element,
) -> tuple[tuple[str, ...] | None, tuple[FetchOrder, ...], list[FetchFilter], tuple[FetchLink, ...]]:
    attributes: list[str] = []
    every = False
    orders: list[FetchOrder] = []
    filters: list[FetchFilter] = []
    links: list[FetchLink] = []
    for child in entity:
        if child.tag == "attribute":
            _check_attributes(child, frozenset({"name", "alias", "aggregate", "groupby", "build", "distinct"}))
            if {"alias", "aggregate", "groupby"} & child.attrib.keys():
                raise invalid_argument("The sandbox does not support aliased or aggregate <attribute> elements.")
            name = child.get("name", "").strip()
            if not name:
                raise _invalid_node("An <attribute> element needs a name attribute.")
            if name not in attributes:
                attributes.append(name)
        elif child.tag == "all-attributes":
            every = True
        elif child.tag == "order":
            orders.append(_order(child))
        elif child.tag == "filter":
            filters.append(_filter(child))
        elif child.tag == "link-entity":
            links.append(_link(child, len(links)))
        else:
            raise _invalid_node(f"The element <{child.tag}> is not valid inside <entity>.")
    return (None if every or not attributes else tuple(attributes)), tuple(orders), filters, tuple(links)


def _order(element: ET.Element) -> FetchOrder:
    _check_attributes(element, frozenset({"attribute", "descending", "alias", "entityname"}))
    if "alias" in element.attrib or "entityname" in element.attrib:
        raise invalid_argument("The sandbox does not support <order> by alias or on another entity.")
    name = element.get("attribute", "").strip()
    if not name:
        raise _invalid_node("An <order> element needs an attribute attribute.")
    return FetchOrder(name, _flag(element, "descending", _INVALID_DESCENDING))


def _filter(element: ET.Element) -> FetchFilter:
    _check_attributes(
        element,
        frozenset(
            {
                "type",
                "hint",
                "isquickfindfields",
                "overridequickfindrecordlimitenabled",
                "overridequickfindrecordlimitdisabled",
            }
        ),
    )
    kind = element.get("type", "and").strip().lower()
    if kind not in ("and", "or"):
        raise DataverseError(
            400, _INVALID_FILTER_TYPE, f"The type attribute of <filter> must be 'and' or 'or', not '{kind}'."
        )
    items: list[FetchCondition | FetchFilter] = []
    for child in element:
        if child.tag == "condition":
            items.append(_condition(child))
        elif child.tag == "filter":
            items.append(_filter(child))
        elif child.tag == "link-entity":
            raise invalid_argument("The sandbox does not support <link-entity> inside <filter>.")
        else:
            raise _invalid_node(f"The element <{child.tag}> is not valid inside <filter>.")
    return FetchFilter("and" if kind == "and" else "or", tuple(items))


def _condition(element: ET.Element) -> FetchCondition:
    _check_attributes(
        element,
        frozenset(
            {
                "attribute",
                "operator",
                "value",
                "entityname",
                "valueof",
                "uiname",
                "uitype",
                "uihidden",
                "column",
                "alias",
                "aggregate",
                "rowaggregate",
            }
        ),
    )
    if element.get("entityname") or element.get("valueof") or element.get("alias"):
        raise invalid_argument(
            "The sandbox does not support conditions on another entity (entityname), on aliases or on another "
            "column (valueof)."
        )
    name = (element.get("attribute") or element.get("column") or "").strip()
    if not name:
        raise _invalid_node("A <condition> element needs an attribute attribute.")
    operator = element.get("operator", "").strip().lower()
    if not operator:
        raise _invalid_node(f"The <condition> on '{name}' needs an operator attribute.")
    children = []
    for child in element:
        if child.tag != "value":
            raise _invalid_node(f"The element <{child.tag}> is not valid inside <condition>.")
        children.append(child.text or "")
    value = element.get("value")
    values = tuple(children) if children else ((value,) if value is not None else ())
    return FetchCondition(name, operator, values)
