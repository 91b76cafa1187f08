"""File names as they really are: stored losslessly, shown on one printable line.

A POSIX file name is bytes, not text. Python hands names that are not UTF-8 (a Latin-1 name
copied from an old disk, a tar member written on Windows) to us as str with lone surrogates
('caf\\udce9.png' for the byte 0xE9), which sqlite, JSON consumers and the terminal all refuse.

    to_db(name)    -> str, or bytes when the name is not UTF-8; sqlite stores the exact bytes
    from_db(value) -> the same str Python gave us, so a resumed run recognises the same file
    printable(name)-> one line for people: undecodable bytes as \\xe9, control and bidi characters
                      as \\n / \\u202e, so a name can neither break a one-line message nor
                      disguise itself
"""

from __future__ import annotations

import unicodedata

# Categories that move the cursor or reorder text: control, format (bidi overrides, zero-width),
# line and paragraph separators, and lone surrogates that did not come from undecodable bytes.
_UNPRINTABLE = {"Cc", "Cf", "Zl", "Zp", "Cs"}


def to_db(name: str) -> str | bytes:
    """What to store for `name`: the str itself when it is UTF-8 text, else its exact bytes."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        return name.encode("utf-8", "surrogateescape")


def from_db(value: str | bytes | None) -> str | None:
    """The inverse of to_db."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return value


def printable(name: str) -> str:
    """`name` as one line of printable text; equal to `name` for ordinary names."""
    if name.isprintable():
        return name
    try:
        text = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that is not an escaped byte (from JSON, say)
        text = name
    return "".join(_escape(c) if unicodedata.category(c) in _UNPRINTABLE else c for c in text)


def _escape(c: str) -> str:
    code = ord(c)
    if c in "\n\r\t":
        return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}[c]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
