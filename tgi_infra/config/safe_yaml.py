"""A bounded YAML reader for stack files: every hostile input is a `Problem`, fast.

PyYAML's `safe_load` expands aliases (a "billion laughs" document takes minutes and
gigabytes), lets the last of two equal keys win silently, parses a 5000-digit integer into
a `ValueError` and recurses until `RecursionError` on deep nesting. This loader refuses
each of these with a message naming the file, the line and the fix, and bounds the file's
size, its nesting and every scalar.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

MAX_FILE_BYTES = 4 * 2**20
"""A stack of 200 tiers and 2000 tenants is about 1 MiB."""
MAX_DEPTH = 32
MAX_SCALAR_CHARS = 64 * 1024
MAX_INT = 2**63 - 1


class YamlRefused(Exception):
    """A stack file the loader will not read: `line` (1-based, 0 if unknown), reason, fix."""

    def __init__(self, line: int, reason: str, fix: str) -> None:
        self.line, self.reason, self.fix = line, reason, fix
        super().__init__(reason)


def _line(node_or_event: Any) -> int:
    mark = getattr(node_or_event, "start_mark", None)
    return mark.line + 1 if mark is not None else 0


class BoundedLoader(yaml.SafeLoader):
    """SafeLoader without aliases or duplicate keys, with bounded depth and scalars."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise YamlRefused(
                _line(event),
                f"YAML alias *{str(event.anchor)[:40]} is not accepted (aliases can expand a "
                "small file into gigabytes).",
                "write the value out in full instead of using an anchor (&) and alias (*).",
            )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise YamlRefused(
                    _line(self.peek_event()),
                    f"nesting deeper than {MAX_DEPTH} levels.",
                    "a stack config nests a few levels: check the indentation and brackets.",
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_scalar(self, node: Any) -> Any:
        value = super().construct_scalar(node)
        if isinstance(value, str) and len(value) > MAX_SCALAR_CHARS:
            raise YamlRefused(
                _line(node),
                f"a value of {len(value)} characters (at most {MAX_SCALAR_CHARS}).",
                "shorten it; no stack field holds that much text.",
            )
        return value

    def construct_yaml_int(self, node: Any) -> int:
        text = str(node.value).replace("_", "").lstrip("+-")
        if len(text) > 20:
            raise YamlRefused(
                _line(node),
                f"an integer of {len(text)} digits ({text[:12]}...).",
                f"use a number at most {MAX_INT}; sizes have units in their field names.",
            )
        value = super().construct_yaml_int(node)
        if abs(value) > MAX_INT:
            raise YamlRefused(
                _line(node), f"the integer {value} is out of range.", f"use at most {MAX_INT}."
            )
        return value

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                hash(key)
            except TypeError:
                raise YamlRefused(
                    _line(key_node), "a mapping key that is not a scalar.", "use a plain key."
                ) from None
            if key in seen:
                raise YamlRefused(
                    _line(key_node),
                    f"duplicate key {str(key)[:60]!r} (first on line {seen[key]}); YAML would "
                    "silently keep the last one.",
                    "remove one of the two, or merge them.",
                )
            seen[key] = _line(key_node)
        return super().construct_mapping(node, deep=deep)


BoundedLoader.add_constructor("tag:yaml.org,2002:int", BoundedLoader.construct_yaml_int)


def load_text(path: Path) -> str:
    """The file's text: bounded size, UTF-8, no NUL bytes (binary)."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise YamlRefused(
                0,
                f"{size} bytes, above the {MAX_FILE_BYTES} a stack file may have.",
                "check that --config names a stack file.",
            )
        data = path.read_bytes()
    except OSError as exc:
        raise YamlRefused(0, f"cannot be read ({exc.strerror}).", "check the path.") from None
    if b"\0" in data:
        raise YamlRefused(0, "is a binary file (NUL bytes).", "pass a YAML stack file.")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise YamlRefused(
            line, f"is not UTF-8 (byte 0x{data[exc.start]:02x}).", "save the file as UTF-8."
        ) from None


def load_yaml(path: Path) -> Any:
    """The parsed document of a stack file; `YamlRefused` for anything hostile or broken."""
    text = load_text(path)
    loader = BoundedLoader(text)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = str(getattr(exc, "problem", None) or exc).splitlines()[0][:200]
        raise YamlRefused(
            mark.line + 1 if mark else 0, f"not valid YAML ({problem}).", "fix the YAML syntax."
        ) from None
    except RecursionError:
        raise YamlRefused(0, "nests too deeply.", "check the indentation and brackets.") from None
    finally:
        loader.dispose()
