"""Showing text that came from outside (a URL, a body, a file name) in messages and log lines."""

from __future__ import annotations

# Control characters are shown escaped: in a log line a raw newline could end the line and
# forge another, and in an error message they are invisible. Everything else is shown as is.
_ESCAPES = {code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
_ESCAPES |= {ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"}
_ESCAPES |= {0x2028: "\\u2028", 0x2029: "\\u2029"}
SHOWN_INPUT_CHARS = 40


def escape_controls(text: str) -> str:
    return text.translate(_ESCAPES)


def quoted(text: str) -> str:
    """`text` in single quotes, control characters escaped, cut after SHOWN_INPUT_CHARS: how
    messages show what a caller sent (never Python's repr, with its doubled backslashes)."""
    shown = text if len(text) <= SHOWN_INPUT_CHARS else text[:SHOWN_INPUT_CHARS] + "..."
    return f"'{escape_controls(shown)}'"


def json_type(value: object) -> str:
    """JSON's name for the type of a decoded value: `object`, `array`, `string`, `number`,
    `boolean` or `null`, as messages about a body or a file say it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    return "number"
