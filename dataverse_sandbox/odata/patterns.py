"""Dataverse's wildcard patterns (SQL Server ``LIKE``) translated to SQLite ``GLOB`` patterns.

Dataverse passes the text of ``contains``, ``startswith`` and ``endswith`` to SQL Server's ``LIKE`` unescaped, so
these act as wildcards there and here:

=========  ===========================================  ================
Dataverse  meaning                                      SQLite ``GLOB``
=========  ===========================================  ================
``%``      any run of characters, also none             ``*``
``_``      exactly one character                        ``?``
``[abc]``  one character of the set; ranges ``[a-f]``   ``[abc]``
``[^abc]`` one character not in the set                 ``[^abc]``
``*``      a literal asterisk (no wildcard in LIKE)     ``[*]``
``?``      a literal question mark                      ``[?]``
=========  ===========================================  ================

A wildcard character is matched literally inside brackets (``[%]``, ``[_]``, ``[[]``), as in SQL Server. A ``[``
without a closing ``]``, and the empty sets ``[]`` and ``[^]``, are matched as literal text (SQL Server's
behaviour for these is not documented). ``GLOB`` is case-sensitive and ``LIKE`` cannot express sets, so the
compiler lower-cases both sides (ASCII letters, like SQLite's ``lower()`` and ``NOCASE``) and uses ``GLOB``.

Not for ``eq``: Dataverse compares ``eq`` values literally, and so does the compiler.
"""

from __future__ import annotations

__all__ = ["ascii_lower", "like_to_glob"]

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(text: str) -> str:
    """:returns: ``text`` with ASCII letters lower-cased only, as SQLite's ``lower()`` does without ICU."""
    return text.translate(_ASCII_LOWER)


def like_to_glob(pattern: str) -> str:
    """Translate a Dataverse (SQL Server ``LIKE``) pattern to an SQLite ``GLOB`` pattern with the same matches.

    :param pattern: the user's text, wildcards included.
    :returns: the ``GLOB`` pattern (no anchoring added: ``GLOB`` always matches the whole value).
    """
    out: list[str] = []
    index = 0
    length = len(pattern)
    while index < length:
        char = pattern[index]
        index += 1
        if char == "%":
            out.append("*")
        elif char == "_":
            out.append("?")
        elif char in "*?":
            out.append(f"[{char}]")
        elif char == "[":
            body_start = index + 1 if pattern.startswith("^", index) else index
            close = pattern.find("]", body_start)
            if close <= body_start:  # unclosed, or an empty set: the bracket is text
                out.append("[[]")
                continue
            # SQL Server and GLOB agree on what a set holds: ranges with '-', '^' first negates, and every other
            # character, wildcards included, stands for itself.
            out.append(pattern[index - 1 : close + 1])
            index = close + 1
        else:
            out.append(char)  # ']' outside a set is text in GLOB too
    return "".join(out)
