"""Tests for the sandbox's OData query-option compiler (dataverse_sandbox.odata_query and its package).

Three kinds: tables of expressions and the exact SQL and parameters they compile to; the same compiler run
against a real in-memory SQLite table with typed rows, proving which rows come back; and grammar-driven random
expressions that must either compile to SQL SQLite accepts or raise ODataQueryError, never anything else.
"""

from __future__ import annotations

import contextlib
import random
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from dataverse_sandbox.odata.parser import MAX_NESTING
from dataverse_sandbox.odata.patterns import like_to_glob
from dataverse_sandbox.odata_query import (
    INVALID_ARGUMENT,
    UNKNOWN_PROPERTY,
    ColumnInfo,
    ODataQueryError,
    compile_filter,
    compile_orderby,
    parse_orderby,
    parse_select,
)

GUID_A = "6f9619ff-8b86-d011-b42d-00c04fc964ff"
GUID_B = "00000000-0000-0000-0000-000000000001"

COLUMNS: dict[str, ColumnInfo] = {
    "accountid": ColumnInfo("accountid", "uniqueidentifier"),
    "name": ColumnInfo("name", "string"),
    "description": ColumnInfo("description", "memo"),
    "revenue": ColumnInfo("revenue", "money"),
    "numberofemployees": ColumnInfo("numberofemployees", "integer"),
    "donotemail": ColumnInfo("donotemail", "boolean"),
    "createdon": ColumnInfo("createdon", "datetime"),
    "birthday": ColumnInfo("birthday", "dateonly"),
    "statecode": ColumnInfo("statecode", "state"),
    "_parentcustomerid_value": ColumnInfo("_parentcustomerid_value", "lookup"),
    # A column whose SQLite name needs quoting: proves identifiers are quoted, never pasted.
    "odd": ColumnInfo('we"ird col', "string"),
}

# id, name, description, revenue, employees, donotemail, createdon, birthday, statecode, parent, odd
ROWS = [
    (1, "Contoso", "100% real", 1000.0, 10, 0, "2024-01-02T03:04:05Z", "2000-01-01", 0, GUID_A, "x"),
    (2, "contoso ltd", "under_score", 5e6, 200, 1, "2024-01-02T23:59:59Z", "1999-12-31", 1, GUID_B, None),
    (3, "O'Bryan", "a*b?c", None, 5, 0, "2024-01-03T00:00:00Z", None, 0, None, None),
    (4, "Fabrikam", "[x]", 50.5, 50, None, None, "2024-02-29", 1, GUID_A, None),
    (5, None, None, 0.0, 0, 1, "2023-12-31T23:59:59Z", None, 0, None, None),
]


def compile_account(
    expr: str, *, aliases: dict[str, str] | None = None, now: datetime | None = None
) -> tuple[str, list[object]]:
    return compile_filter(expr, COLUMNS, entity="account", aliases=aliases, now=now)


@pytest.fixture(scope="module")
def database() -> Iterator[sqlite3.Connection]:
    """An in-memory table stored the way the sandbox stores records (see the storage convention)."""
    connection = sqlite3.connect(":memory:")
    connection.execute(
        "CREATE TABLE account (id INTEGER PRIMARY KEY, name TEXT, description TEXT, revenue REAL, "
        "numberofemployees INTEGER, donotemail INTEGER, createdon TEXT, birthday TEXT, statecode INTEGER, "
        '_parentcustomerid_value TEXT, "we""ird col" TEXT, accountid TEXT)'
    )
    connection.executemany(
        "INSERT INTO account VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '00000000-0000-0000-0000-00000000000' || ?)",
        [(*row, row[0]) for row in ROWS],
    )
    yield connection
    connection.close()


def matching_ids(
    database: sqlite3.Connection, expr: str, *, aliases: dict[str, str] | None = None, now: datetime | None = None
) -> set[int]:
    sql, params = compile_account(expr, aliases=aliases, now=now)
    return {row[0] for row in query(database, "SELECT id FROM account WHERE ", sql, params)}


def query(database: sqlite3.Connection, head: str, fragment: str, params: list[object]) -> list[tuple[Any, ...]]:
    """Run ``head + fragment``; the fragment is compiler output, whose values are all in ``params``."""
    return database.execute(head + fragment, params).fetchall()


# -- SQL and parameters ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "sql", "params"),
    [
        ("name eq 'Contoso'", '"name" COLLATE NOCASE = ?', ["Contoso"]),
        ("name eq 'O''Bryan'", '"name" COLLATE NOCASE = ?', ["O'Bryan"]),
        ("revenue gt 5", '"revenue" > ?', [5]),
        ("revenue ge 5.5m", '"revenue" >= ?', [5.5]),
        ("revenue lt 1e3", '"revenue" < ?', [1000.0]),
        ("numberofemployees le -3", '"numberofemployees" <= ?', [-3]),
        ("5 lt revenue", '"revenue" > ?', [5]),
        ("name ne null", '"name" IS NOT NULL', []),
        ("null eq name", '"name" IS NULL', []),
        ("donotemail eq true", '"donotemail" = ?', [1]),
        ("donotemail", '"donotemail" = 1', []),
        ("not donotemail", 'NOT ("donotemail" = 1)', []),
        ("statecode eq Microsoft.Dynamics.CRM.statecode'1'", '"statecode" = ?', [1]),
        (f"accountid eq {GUID_A.upper()}", '"accountid" = ?', [GUID_A]),
        (
            f"Microsoft.Dynamics.CRM.In(PropertyName='_parentcustomerid_value',PropertyValues=['{{{GUID_A.upper()}}}'])",
            '"_parentcustomerid_value" IN (?)',
            [GUID_A],
        ),
        ("createdon eq 2024-01-02T03:04:05Z", '"createdon" = ?', ["2024-01-02T03:04:05Z"]),
        ("createdon ge 2024-01-02T04:04+01:00", '"createdon" >= ?', ["2024-01-02T03:04:00Z"]),
        ("createdon ge 2024-01-02T03:04:05.25Z", '"createdon" > ?', ["2024-01-02T03:04:05Z"]),
        ("createdon eq 2024-01-02T03:04:05.25Z", '"createdon" = ?', ["2024-01-02T03:04:05.250000Z"]),
        ("createdon eq 2024-01-02", 'substr("createdon", 1, 10) = ?', ["2024-01-02"]),
        ("birthday lt 2000-01-01", '"birthday" < ?', ["2000-01-01"]),
        ("revenue gt numberofemployees", '"revenue" > "numberofemployees"', []),
        ("name eq odd", '"name" COLLATE NOCASE = "we""ird col"', []),
        ("odd eq 'x'", '"we""ird col" COLLATE NOCASE = ?', ["x"]),
        (
            "name eq 'a' or name eq 'b' and revenue gt 1",
            '("name" COLLATE NOCASE = ? OR ("name" COLLATE NOCASE = ? AND "revenue" > ?))',
            ["a", "b", 1],
        ),
        (
            "(name eq 'a' or name eq 'b') and not (revenue gt 1)",
            '(("name" COLLATE NOCASE = ? OR "name" COLLATE NOCASE = ?) AND NOT ("revenue" > ?))',
            ["a", "b", 1],
        ),
        ("contains(name,'On')", 'lower("name") GLOB ?', ["*on*"]),
        ("startswith(name,'C%[A-C]_')", 'lower("name") GLOB ?', ["c*[a-c]?*"]),
        ("endswith(description,'*?')", 'lower("description") GLOB ?', ["*[*][?]"]),
        ("not contains(name,'x')", 'NOT (lower("name") GLOB ?)', ["*x*"]),
        ("contains(name,'x') eq false", 'NOT (lower("name") GLOB ?)', ["*x*"]),
        ("true", "1", []),
        (
            'Microsoft.Dynamics.CRM.In(PropertyName=\'name\',PropertyValues=["a","O\'B"])',
            '"name" COLLATE NOCASE IN (?, ?)',
            ["a", "O'B"],
        ),
        (
            "Microsoft.Dynamics.CRM.NotIn(PropertyName='statecode',PropertyValues=['0','1'])",
            'NOT ("statecode" IN (?, ?))',
            [0, 1],
        ),
        (
            'Microsoft.Dynamics.CRM.Between(PropertyName=\'numberofemployees\',PropertyValues=["5","2000"])',
            '("numberofemployees" >= ? AND "numberofemployees" <= ?)',
            [5, 2000],
        ),
        ("Microsoft.Dynamics.CRM.Null(PropertyName='revenue')", '"revenue" IS NULL', []),
        ("Microsoft.Dynamics.CRM.NotNull(PropertyName='revenue')", '"revenue" IS NOT NULL', []),
        (
            "Microsoft.Dynamics.CRM.OnOrAfter(PropertyName='createdon',PropertyValue='2024-01-03')",
            'substr("createdon", 1, 10) >= ?',
            ["2024-01-03"],
        ),
    ],
)
def test_compiles_to_sql_and_parameters(expr: str, sql: str, params: list[object]) -> None:
    assert compile_account(expr) == (sql, params)


def test_odata_syntax_inside_a_string_stays_one_parameter() -> None:
    sql, params = compile_account("name eq 'a'' or 1 eq 1 or name eq ''b'")
    assert (sql, params) == ('"name" COLLATE NOCASE = ?', ["a' or 1 eq 1 or name eq 'b"])


def test_whitespace_of_any_kind_and_amount_separates_tokens() -> None:
    assert compile_account("  name\teq\n'x'   and(revenue  gt 1 )  ") == compile_account(
        "name eq 'x' and (revenue gt 1)"
    )


def test_parameter_aliases_are_resolved_and_an_unassigned_alias_is_null() -> None:
    sql, params = compile_account(
        "name eq @p1 and revenue eq @p9 and Microsoft.Dynamics.CRM.In(PropertyName=@n,PropertyValues=@v)",
        aliases={"@p1": "'O''B'", "n": "'statecode'", "@v": '["1","0"]'},
    )
    assert sql == '("name" COLLATE NOCASE = ? AND "revenue" IS NULL AND "statecode" IN (?, ?))'
    assert params == ["O'B", 1, 0]


def test_relative_date_functions_use_the_injected_clock() -> None:
    now = datetime(2024, 1, 2, 12, 0, 0, 500_000, tzinfo=UTC)
    assert compile_account("Microsoft.Dynamics.CRM.LastXHours(PropertyName='createdon',PropertyValue=9)", now=now) == (
        '("createdon" >= ? AND "createdon" <= ?)',
        ["2024-01-02T03:00:00Z", "2024-01-02T12:00:00Z"],
    )
    assert compile_account("Microsoft.Dynamics.CRM.Yesterday(PropertyName='birthday')", now=now) == (
        '"birthday" = ?',
        ["2024-01-01"],
    )


def test_long_or_chains_compile_without_deep_recursion() -> None:
    expr = " or ".join(f"numberofemployees eq {n}" for n in range(3000))
    sql, params = compile_account(expr)
    assert len(params) == 3000
    assert sql.count(" OR ") == 2999


# -- errors ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "code", "message"),
    [
        (
            "nosuch eq 1",
            UNKNOWN_PROPERTY,
            "Could not find a property named 'nosuch' on type 'Microsoft.Dynamics.CRM.account'.",
        ),
        ("Name eq 'x'", UNKNOWN_PROPERTY, "property named 'Name'"),  # property names are case-sensitive
        ("contains(nosuch,'x')", UNKNOWN_PROPERTY, "'nosuch'"),
        ("Microsoft.Dynamics.CRM.Null(PropertyName='nosuch')", UNKNOWN_PROPERTY, "'nosuch'"),
        ("name eq 5", INVALID_ARGUMENT, "'Edm.String' and 'Edm.Int32' for operator kind 'Equal'. The property 'name'"),
        (f"accountid eq '{GUID_A}'", INVALID_ARGUMENT, "operand types 'Edm.Guid' and 'Edm.String' for operator kind"),
        (f"'{GUID_A}' ne _parentcustomerid_value", INVALID_ARGUMENT, "'Edm.Guid' and 'Edm.String'"),
        ("revenue gt 'x'", INVALID_ARGUMENT, "The property 'revenue' needs a number"),
        ("statecode eq 1.5", INVALID_ARGUMENT, "The property 'statecode' needs the option's integer value"),
        ("donotemail eq 1", INVALID_ARGUMENT, "The property 'donotemail' needs true or false"),
        ("birthday eq 2024-01-02T00:00:00Z", INVALID_ARGUMENT, "The property 'birthday' needs a date"),
        ("accountid eq 'not-a-guid'", INVALID_ARGUMENT, "'Edm.Guid' and 'Edm.String'"),
        ("accountid eq 12", INVALID_ARGUMENT, "The property 'accountid' needs a GUID"),
        ("revenue gt null", INVALID_ARGUMENT, "Condition for attribute 'account.revenue': null is not a valid value"),
        ("revenue eq name", INVALID_ARGUMENT, "The columns 'revenue' and 'name' cannot be compared"),
        ("statecode eq Microsoft.Dynamics.CRM.statecode'Active'", INVALID_ARGUMENT, "by number only"),
        ("name eq 'x' an", INVALID_ARGUMENT, "Syntax error at position 12 in 'name eq 'x' an'"),
        ("name eq 'x' and", INVALID_ARGUMENT, "Syntax error at position 15"),
        ("(name eq 'x'", INVALID_ARGUMENT, "expected ')' to close the '(' at position 0"),
        ("name eq 'x')", INVALID_ARGUMENT, "Syntax error at position 11"),
        ("lastname eq 'O'Bryan'", INVALID_ARGUMENT, "There is an unterminated literal at position 21"),
        ("", INVALID_ARGUMENT, "Syntax error at position 0 in '': an expression is expected."),
        ("name eq 'x' ! revenue", INVALID_ARGUMENT, "Syntax error at position 12"),
        ('name eq "x"', INVALID_ARGUMENT, "double quotes are only for values inside [...]"),
        ("revenue gt 5.", INVALID_ARGUMENT, "Syntax error at position 11"),
        ("createdon eq 2024-02-30", INVALID_ARGUMENT, "The literal '2024-02-30' at position 13"),
        ("revenue eq 99999999999999999999", INVALID_ARGUMENT, "64-bit range"),
        ("revenue eq 1e999", INVALID_ARGUMENT, "out of range"),
        ("not name eq 'x'", INVALID_ARGUMENT, "write not (<condition>)"),
        ("name", INVALID_ARGUMENT, "The expression 'name' at position 0 is of type 'Edm.String'"),
        ("name eq 'x' and 5", INVALID_ARGUMENT, "The expression 5 at position 16"),
        ("1 eq 1", INVALID_ARGUMENT, "no property on either side"),
        ("contains(name,'x') eq 'y'", INVALID_ARGUMENT, "compared with true or false"),
        ("name eq ['a']", INVALID_ARGUMENT, "collection cannot be compared"),
        ("contains(revenue,'1')", INVALID_ARGUMENT, "needs a string property, but 'revenue' is 'Edm.Decimal'"),
        ("contains('x',name)", INVALID_ARGUMENT, "must be a property"),
        ("contains(name,5)", INVALID_ARGUMENT, "must be a string"),
        ("contains(name)", INVALID_ARGUMENT, "takes two arguments"),
        ("tolower(name) eq 'x'", INVALID_ARGUMENT, "unknown function with name 'tolower'"),
        ("In(PropertyName='name',PropertyValues=['a'])", INVALID_ARGUMENT, "Microsoft.Dynamics.CRM.In"),
        ("Microsoft.Dynamics.CRM.EqualUserId(PropertyName='name')", INVALID_ARGUMENT, "not supported by the sandbox"),
        ("Microsoft.Dynamics.CRM.In(PropertyValues=['a'])", INVALID_ARGUMENT, "needs the parameter 'PropertyName'"),
        ("Microsoft.Dynamics.CRM.In(PropertyName='name')", INVALID_ARGUMENT, "needs the parameter 'PropertyValues'"),
        ("Microsoft.Dynamics.CRM.In(PropertyName='name',PropertyValues=[])", INVALID_ARGUMENT, "non-empty collection"),
        ("Microsoft.Dynamics.CRM.In(PropertyName='name',PropertyValues=[null])", INVALID_ARGUMENT, "cannot be null"),
        (
            "Microsoft.Dynamics.CRM.In(PropertyName='name',X=1,PropertyValues=['a'])",
            INVALID_ARGUMENT,
            "no parameter 'X'",
        ),
        ("Microsoft.Dynamics.CRM.In('name',['a'])", INVALID_ARGUMENT, "takes named parameters"),
        (
            "Microsoft.Dynamics.CRM.Between(PropertyName='revenue',PropertyValues=['1','2','3'])",
            INVALID_ARGUMENT,
            "exactly two values",
        ),
        (
            "Microsoft.Dynamics.CRM.In(PropertyName='numberofemployees',PropertyValues=['ten'])",
            INVALID_ARGUMENT,
            "The value 'ten' is not valid for the property 'numberofemployees'",
        ),
        ("Microsoft.Dynamics.CRM.Today(PropertyName='name')", INVALID_ARGUMENT, "needs a date or datetime property"),
        ("primarycontactid/fullname eq 'x'", INVALID_ARGUMENT, "navigation paths such as 'primarycontactid/fullname'"),
        ("Account_Tasks/any(t:t/statecode eq 1)", INVALID_ARGUMENT, "Lambda operators"),
        ("name eq @p1", INVALID_ARGUMENT, "In the value of the parameter alias '@p1' ('1 eq'): Syntax error"),
    ],
)
def test_refuses_with_dataverse_code_and_actionable_message(expr: str, code: str, message: str) -> None:
    with pytest.raises(ODataQueryError) as caught:
        compile_account(expr, aliases={"@p1": "1 eq"})
    assert caught.value.code == code
    assert message in caught.value.message
    assert str(caught.value) == caught.value.message


def test_syntax_errors_carry_the_position() -> None:
    with pytest.raises(ODataQueryError) as caught:
        compile_account("name eq 'x' or or")
    assert caught.value.position == 15


def test_alias_that_refers_to_itself_is_refused() -> None:
    with pytest.raises(ODataQueryError, match="refers to itself"):
        compile_account("name eq @a", aliases={"@a": "@b", "@b": "@a"})


def test_nesting_beyond_the_limit_is_an_odata_error_not_a_recursion_error() -> None:
    deep = "(" * (MAX_NESTING + 5) + "name eq 'x'" + ")" * (MAX_NESTING + 5)
    with pytest.raises(ODataQueryError, match="nests more than"):
        compile_account(deep)
    with pytest.raises(ODataQueryError, match="nests more than"):
        compile_account("not " * 1000 + "donotemail")
    with pytest.raises(ODataQueryError, match="nests more than"):
        compile_account("donotemail" + " eq true" * 1000)
    assert compile_account("(" * 20 + "name eq 'x'" + ")" * 20)[1] == ["x"]


def test_hostile_long_input_is_refused_or_compiled() -> None:
    for expr in ("name eq '" + "''" * 20_000 + "'", "name eq '" + "''" * 20_000, " " * 30_000 + "!"):
        with contextlib.suppress(ODataQueryError):
            compile_account(expr)


def test_column_info_refuses_an_unknown_type() -> None:
    with pytest.raises(ValueError, match="unknown column type 'text'"):
        ColumnInfo("name", "text")


# -- results against SQLite ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "ids"),
    [
        # case-insensitive text
        ("name eq 'contoso'", {1}),
        ("name eq 'CONTOSO LTD'", {2}),
        ("name gt 'd'", {3, 4}),
        ("name eq 'O''Bryan'", {3}),
        ("name eq 'a'' or 1 eq 1 or name eq ''b'", set()),
        # null: only eq/ne null match it; ne and not exclude null rows, as in Dataverse
        ("name eq null", {5}),
        ("name ne 'Contoso'", {2, 3, 4}),
        ("revenue ne null", {1, 2, 4, 5}),
        ("not (revenue gt 100)", {4, 5}),
        ("donotemail", {2, 5}),
        ("not donotemail", {1, 3}),
        ("donotemail eq false", {1, 3}),
        # precedence: and binds tighter than or; not binds to its operand
        ("name eq 'Contoso' or name eq 'Fabrikam' and revenue gt 2000", {1}),
        ("(name eq 'Contoso' or name eq 'Fabrikam') and revenue gt 2000", set()),
        ("not (name eq 'Contoso') and revenue gt 100", {2}),
        # wildcards, as SQL Server's LIKE
        ("contains(name,'ONTO')", {1, 2}),
        ("startswith(name,'c')", {1, 2}),
        ("endswith(name,'LTD')", {2}),
        ("contains(name,'c_n')", {1, 2}),
        ("startswith(name,'[cf]')", {1, 2, 4}),
        ("startswith(name,'[^c]')", {3, 4}),
        ("startswith(name,'[a-d]o')", {1, 2}),
        ("contains(description,'%')", {1, 2, 3, 4}),
        ("contains(description,'[%]')", {1}),
        ("contains(description,'[_]')", {2}),
        ("contains(description,'*')", {3}),
        ("contains(description,'?')", {3}),
        ("contains(description,'[[]x]')", {4}),
        ("not contains(name,'o')", {4}),
        # dates: a date against a datetime compares the UTC date part
        ("createdon eq 2024-01-02", {1, 2}),
        ("createdon gt 2024-01-02", {3}),
        ("createdon le 2024-01-02", {1, 2, 5}),
        ("createdon ge 2024-01-02T03:04:05Z", {1, 2, 3}),
        ("createdon gt 2024-01-02T03:04:05Z", {2, 3}),
        ("createdon gt 2024-01-02T04:04:05+01:00", {2, 3}),
        ("createdon lt 2024-01-02T03:04:05.5Z", {1, 5}),
        ("createdon ge 2024-01-02T03:04:05.5Z", {2, 3}),
        ("createdon eq 2024-01-02T03:04:05.5Z", set()),
        ("createdon ne 2024-01-02T03:04:05.5Z", {1, 2, 3, 5}),
        ("birthday lt 2000-01-01", {2}),
        ("birthday eq 2024-02-29", {4}),
        # other types
        ("revenue gt numberofemployees", {1, 2, 4}),
        ("revenue ge 50.5 and revenue lt 1e3", {4}),
        ("statecode eq 1", {2, 4}),
        ("statecode eq Microsoft.Dynamics.CRM.statecode'1'", {2, 4}),
        (f"_parentcustomerid_value eq {GUID_A.upper()}", {1, 4}),
        (f"_parentcustomerid_value ne {GUID_A}", {2}),
        ("accountid eq 00000000-0000-0000-0000-000000000003", {3}),
        ("odd eq 'X'", {1}),
        # Dataverse query functions
        ('Microsoft.Dynamics.CRM.In(PropertyName=\'name\',PropertyValues=["CONTOSO","O\'Bryan"])', {1, 3}),
        ("Microsoft.Dynamics.CRM.NotIn(PropertyName='numberofemployees',PropertyValues=['10','200'])", {3, 4, 5}),
        (
            "Microsoft.Dynamics.CRM.In(PropertyName='createdon',PropertyValues=['2024-01-03','2023-12-31T23:59:59Z'])",
            {3, 5},
        ),
        ('Microsoft.Dynamics.CRM.Between(PropertyName=\'numberofemployees\',PropertyValues=["5","50"])', {1, 3, 4}),
        ("Microsoft.Dynamics.CRM.NotBetween(PropertyName='numberofemployees',PropertyValues=['5','50'])", {2, 5}),
        ("Microsoft.Dynamics.CRM.Between(PropertyName='name',PropertyValues=['c','d'])", {1, 2}),
        ("Microsoft.Dynamics.CRM.Null(PropertyName='birthday')", {3, 5}),
        ("Microsoft.Dynamics.CRM.NotNull(PropertyName='birthday')", {1, 2, 4}),
        ("Microsoft.Dynamics.CRM.On(PropertyName='createdon',PropertyValue='2024-01-02')", {1, 2}),
        ("Microsoft.Dynamics.CRM.OnOrAfter(PropertyName='createdon',PropertyValue=2024-01-02T18:00:00Z)", {1, 2, 3}),
        ("Microsoft.Dynamics.CRM.OnOrBefore(PropertyName='birthday',PropertyValue='2000-01-01')", {1, 2}),
    ],
)
def test_returns_the_right_rows(database: sqlite3.Connection, expr: str, ids: set[int]) -> None:
    assert matching_ids(database, expr) == ids


@pytest.mark.parametrize(
    ("function", "ids"),
    [
        ("Today(PropertyName='createdon')", {1, 2}),
        ("Tomorrow(PropertyName='createdon')", {3}),
        ("LastXHours(PropertyName='createdon',PropertyValue=9)", {1}),
        ("NextXHours(PropertyName='createdon',PropertyValue=12)", {2, 3}),
        ("LastXDays(PropertyName='createdon',PropertyValue=2)", {1, 2, 5}),
        ("NextXDays(PropertyName='createdon',PropertyValue='1')", {1, 2, 3}),
        ("Last7Days(PropertyName='createdon')", {1, 2, 5}),
        ("Next7Days(PropertyName='createdon')", {1, 2, 3}),
    ],
)
def test_relative_date_functions_return_the_right_rows(
    database: sqlite3.Connection, function: str, ids: set[int]
) -> None:
    now = datetime(2024, 1, 2, 12, 0, tzinfo=UTC)
    assert matching_ids(database, f"Microsoft.Dynamics.CRM.{function}", now=now) == ids


def test_aliases_return_the_right_rows(database: sqlite3.Connection) -> None:
    assert matching_ids(database, "name eq @p1", aliases={"@p1": "'CONTOSO'"}) == {1}
    assert matching_ids(database, "name eq @unset") == {5}


# -- wildcard translation --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "glob"),
    [
        ("abc", "abc"),
        ("a%b_c", "a*b?c"),
        ("a*b?c", "a[*]b[?]c"),
        ("[a-c]x", "[a-c]x"),
        ("[^a-c]x", "[^a-c]x"),
        ("[%]", "[%]"),
        ("[_]", "[_]"),
        ("[[]", "[[]"),
        ("a]b", "a]b"),
        ("a[b", "a[[]b"),
        ("[]", "[[]]"),
        ("[^]", "[[]^]"),
        ("[*?]", "[*?]"),
    ],
)
def test_like_patterns_translate_to_glob(pattern: str, glob: str) -> None:
    assert like_to_glob(pattern) == glob


# -- $orderby and $select --------------------------------------------------------------------------------------


def test_orderby_gives_quoted_columns_and_directions() -> None:
    assert compile_orderby("name asc,  revenue desc ,createdon", COLUMNS, entity="account") == [
        ('"name"', False),
        ('"revenue"', True),
        ('"createdon"', False),
    ]
    assert compile_orderby("odd desc", COLUMNS, entity="account") == [('"we""ird col"', True)]


def test_orderby_resolves_aliases_and_reports_types() -> None:
    terms = parse_orderby("@p1 desc", COLUMNS, entity="account", aliases={"@p1": "name"})
    assert [(t.property, t.column, t.descending, t.info.type) for t in terms] == [("name", '"name"', True, "string")]


@pytest.mark.parametrize(
    ("expr", "code", "message"),
    [
        (
            "nosuch",
            UNKNOWN_PROPERTY,
            "Could not find a property named 'nosuch' on type 'Microsoft.Dynamics.CRM.account'.",
        ),
        ("name desc, name", INVALID_ARGUMENT, "Duplicate property named 'name' is not supported in '$orderby'."),
        ("name up", INVALID_ARGUMENT, "Syntax error at position 5"),
        ("name,", INVALID_ARGUMENT, "expected a property name but found the end"),
        ("", INVALID_ARGUMENT, "expected a property name"),
        ("primarycontactid/fullname", INVALID_ARGUMENT, "navigation path"),
        ("@p2", INVALID_ARGUMENT, "has no value"),
    ],
)
def test_orderby_errors(expr: str, code: str, message: str) -> None:
    with pytest.raises(ODataQueryError) as caught:
        compile_orderby(expr, COLUMNS, entity="account")
    assert caught.value.code == code
    assert message in caught.value.message


def test_orderby_columns_sort_rows(database: sqlite3.Connection) -> None:
    order = ", ".join(f"{column} {'DESC' if descending else 'ASC'}" for column, descending in
                      compile_orderby("statecode desc, numberofemployees", COLUMNS, entity="account"))  # fmt: skip
    assert [row[0] for row in query(database, "SELECT id FROM account ORDER BY ", order, [])] == [4, 2, 5, 3, 1]


def test_select_lists_properties_without_duplicates() -> None:
    assert parse_select("name, revenue,name ,_parentcustomerid_value", COLUMNS, entity="account") == [
        "name",
        "revenue",
        "_parentcustomerid_value",
    ]
    assert parse_select("*", COLUMNS, entity="account") == list(COLUMNS)


@pytest.mark.parametrize(
    ("expr", "code", "message"),
    [
        (
            "name,nosuch",
            UNKNOWN_PROPERTY,
            "Could not find a property named 'nosuch' on type 'Microsoft.Dynamics.CRM.account'.",
        ),
        ("name,,revenue", INVALID_ARGUMENT, "Syntax error at position 5"),
        ("", INVALID_ARGUMENT, "Syntax error at position 0"),
    ],
)
def test_select_errors(expr: str, code: str, message: str) -> None:
    with pytest.raises(ODataQueryError) as caught:
        parse_select(expr, COLUMNS, entity="account")
    assert caught.value.code == code
    assert message in caught.value.message


# -- random expressions ----------------------------------------------------------------------------------------

_PROPERTIES = [*COLUMNS, "nosuch", "primarycontactid/fullname"]
_VALUES = [
    "'zqx'", "'zqx''s'", "'%[a-c]_zqx'", "5", "-3", "5.5", "5.5m", "1e3", "9L", "true", "false", "null",
    GUID_A, f"'{GUID_B}'", "2024-01-02", "2024-01-02T03:04:05Z", "2024-01-02T03:04:05.5+01:00",
    "@p1", "@p2", "@p3", "Microsoft.Dynamics.CRM.statecode'1'", "Microsoft.Dynamics.CRM.statecode'zqx'",
]  # fmt: skip
# Values that fit each property, so that most random comparisons compile and reach SQLite.
_FITTING = {
    "accountid": [GUID_A, f"'{GUID_B}'", "null"],
    "name": ["'zqx'", "'zqx''s'", "@p1", "null", "description"],
    "description": ["'%[a-c]_zqx'", "name"],
    "revenue": ["5", "-3", "5.5", "5.5m", "1e3", "numberofemployees"],
    "numberofemployees": ["9L", "0", "revenue"],
    "donotemail": ["true", "false"],
    "createdon": ["2024-01-02", "2024-01-02T03:04:05Z", "2024-01-02T03:04:05.5+01:00"],
    "birthday": ["2024-01-02", "null"],
    "statecode": ["1", "Microsoft.Dynamics.CRM.statecode'1'"],
    "_parentcustomerid_value": [GUID_A, "accountid"],
    "odd": ["'zqx'", "name"],
}
_OPERATORS = ["eq", "ne", "gt", "ge", "lt", "le"]
_FUNCTIONS = ["In", "NotIn", "Between", "NotBetween", "Null", "NotNull", "On", "Today", "LastXHours", "Nope"]
_WELL_FORMED_CALLS = [
    "Microsoft.Dynamics.CRM.In(PropertyName='name',PropertyValues=['zqx',\"zqx's\"])",
    "Microsoft.Dynamics.CRM.NotIn(PropertyName='statecode',PropertyValues=@p2)",
    "Microsoft.Dynamics.CRM.Between(PropertyName='createdon',PropertyValues=['2024-01-01','2024-01-02T03:04:05.5Z'])",
    "Microsoft.Dynamics.CRM.NotBetween(PropertyName='revenue',PropertyValues=['1.5','1e3'])",
    "Microsoft.Dynamics.CRM.Null(PropertyName='birthday')",
    "Microsoft.Dynamics.CRM.NotNull(PropertyName=@p4)",
    "Microsoft.Dynamics.CRM.On(PropertyName='birthday',PropertyValue=2024-01-02)",
    "Microsoft.Dynamics.CRM.Today(PropertyName='createdon')",
    "Microsoft.Dynamics.CRM.LastXHours(PropertyName='createdon',PropertyValue=3)",
    "Microsoft.Dynamics.CRM.NextXDays(PropertyName='birthday',PropertyValue='2')",
]
_JUNK = ["(", ")", "[", "]", ",", "=", "'", '"', "@", "/", ":", "!", " and ", " not ", "eq", "%", "\\", "-", "."]


def _random_expression(rng: random.Random, depth: int = 0) -> str:
    choice = rng.randrange(8 if depth < 3 else 3)
    if choice in (0, 1):
        left = rng.choice(_PROPERTIES)
        right = rng.choice(_FITTING.get(left, _VALUES) if rng.random() < 0.8 else _VALUES + _PROPERTIES)
        if rng.random() < 0.2:
            left, right = right, left
        return f"{left} {rng.choice(_OPERATORS)} {right}"
    if choice == 2:
        name = rng.choice(["contains", "startswith", "endswith"])
        if rng.random() < 0.8:
            return f"{name}({rng.choice(['name', 'description'])},{rng.choice(['@p1', *_FITTING['description']])})"
        return f"{name}({rng.choice(_PROPERTIES)},{rng.choice(_VALUES)})"
    if choice == 3:
        if rng.random() < 0.7:
            return rng.choice(_WELL_FORMED_CALLS)
        values = ",".join(
            rng.choice([f'"{rng.choice(_VALUES)}"', rng.choice(_VALUES)]) for _ in range(rng.randrange(3))
        )
        parameters = [f"PropertyName='{rng.choice(_PROPERTIES)}'", f"PropertyValues=[{values}]",
                      f"PropertyValue={rng.choice(_VALUES)}"]  # fmt: skip
        chosen = rng.sample(parameters, rng.randrange(1, 3))
        return f"Microsoft.Dynamics.CRM.{rng.choice(_FUNCTIONS)}({','.join(chosen)})"
    if choice == 4:
        return (
            f"not ({_random_expression(rng, depth + 1)})"
            if rng.random() < 0.8
            else f"not {_random_expression(rng, depth + 1)}"
        )
    if choice == 5:
        return f"({_random_expression(rng, depth + 1)})"
    joiner = rng.choice([" and ", " or "])
    return joiner.join(_random_expression(rng, depth + 1) for _ in range(rng.randrange(2, 4)))


def _mutate(rng: random.Random, expr: str) -> str:
    position = rng.randrange(len(expr) + 1)
    mutation = rng.randrange(3)
    if mutation == 0:
        return expr[:position] + rng.choice(_JUNK) + expr[position:]
    if mutation == 1:
        return expr[:position] + expr[position + rng.randrange(1, 4) :]
    return expr[:position]


def test_random_expressions_compile_to_valid_sql_or_raise_odata_errors(database: sqlite3.Connection) -> None:
    rng = random.Random(20240102)
    aliases = {"@p1": "'zqx'", "@p2": "['1','2']", "@p3": "name eq", "@p4": "'revenue'"}
    compiled = 0
    refused: list[tuple[str, ODataQueryError]] = []
    for index in range(800):
        expr = _random_expression(rng)
        if index % 3 == 0:
            expr = _mutate(rng, expr)
        try:
            sql, params = compile_account(expr, aliases=aliases, now=datetime(2024, 1, 2, tzinfo=UTC))
        except ODataQueryError as exc:
            refused.append((expr, exc))
            continue
        assert "zqx" not in sql, f"a literal was spliced into the SQL for {expr!r}"
        query(database, "SELECT count(*) FROM account WHERE ", sql, params)  # SQLite must accept it
        compiled += 1
    assert [(expr, exc.code) for expr, exc in refused if exc.code not in (INVALID_ARGUMENT, UNKNOWN_PROPERTY)] == []
    assert all(exc.message for _, exc in refused)
    # The grammar is meant to exercise both paths; if either vanished, the test would prove little.
    assert compiled > 200
    assert len(refused) > 200
