"""Reading a spec's YAML safely: a size limit, UTF-8 only, no NUL, unique keys, few aliases, bounded expansion
and nesting -- so a hostile or mistaken file gives one clear message, never a hang or a traceback."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from evaltool.errors import SpecError

__all__ = ["MAX_ALIASES", "MAX_NODES", "MAX_SPEC_BYTES", "read_spec_yaml"]


#: A spec is a page or two of YAML: anything larger is refused before parsing.
MAX_SPEC_BYTES = 1_000_000
#: YAML aliases (``*name``) a spec may use, and the most values it may expand to.
MAX_ALIASES = 100
MAX_NODES = 100_000


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses duplicate keys (a silent override otherwise) and alias bombs."""

    _n_aliases = 0

    def compose_node(self, parent, index):  # noqa: ANN001 - PyYAML's signature
        if self.check_event(yaml.AliasEvent):
            self._n_aliases += 1
            if self._n_aliases > MAX_ALIASES:
                mark = self.peek_event().start_mark
                raise SpecError(f"more than {MAX_ALIASES} YAML aliases (`*name`) at line {mark.line + 1}: "
                                "a spec does not need them; write the values out")
        return super().compose_node(parent, index)


def _expanded_size(obj: Any, limit: int = MAX_NODES) -> int:
    """How many values ``obj`` holds once aliases are expanded (shared objects counted each time used)."""
    memo: dict[int, int] = {}

    def size(o: Any, depth: int = 0) -> int:
        if depth > 200:
            raise SpecError("the spec nests deeper than 200 levels")
        if not isinstance(o, (dict, list)):
            return 1
        k = id(o)
        if k not in memo:
            memo[k] = 0  # a self-referencing structure counts once
            items = list(o.keys()) + list(o.values()) if isinstance(o, dict) else o
            memo[k] = min(limit + 1, 1 + sum(size(x, depth + 1) for x in items))
        return memo[k]

    return size(obj)


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise SpecError(
                f"duplicate key {key!r} at line {key_node.start_mark.line + 1} "
                f"(first at line {seen[key] + 1}): each key may appear once"
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_spec_yaml(path: Path) -> Any:
    """The YAML of a spec file, read safely: size, encoding, NUL, duplicate keys, alias bombs and nesting refused
    with a message naming the file and line; ``SpecError`` otherwise never escapes as a traceback."""
    path = Path(path)
    if not path.exists():
        raise SpecError(f"{path}: spec file not found")
    if path.is_dir():
        raise SpecError(f"{path}: is a folder; expected a YAML spec file such as analyses/<name>.yaml")
    try:
        size = path.stat().st_size
        if size > MAX_SPEC_BYTES:
            raise SpecError(f"{path}: the spec is {size:,} bytes; a spec is at most {MAX_SPEC_BYTES:,} bytes "
                            "(data belong in the files it names, not in the spec)")
        data = path.read_bytes()
    except OSError as err:
        raise SpecError(f"{path}: cannot be read ({err.strerror or err})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise SpecError(f"{path}: not UTF-8 text (byte 0x{data[err.start]:02x} at line {line}); save the spec as "
                        "UTF-8") from None
    if "\x00" in text:
        raise SpecError(f"{path}: holds a NUL character: not a text file")
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - safe loader subclass
    except yaml.YAMLError as err:
        raise SpecError(f"{path}: not valid YAML: {_yaml_problem(err)}") from None
    except SpecError as err:  # duplicate keys, too many aliases
        raise SpecError(f"{path}: {err}") from None
    except RecursionError:
        raise SpecError(f"{path}: the YAML nests too deeply") from None
    if raw is None:
        raise SpecError(f"{path}: the spec is empty")
    if _expanded_size(raw) > MAX_NODES:
        raise SpecError(f"{path}: the spec expands to more than {MAX_NODES:,} values (YAML aliases?); refused")
    return raw


def _yaml_problem(err: yaml.YAMLError) -> str:
    """PyYAML's message in one line with its line number, without echoing long values."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    text = f"{problem}{where}"
    return text if len(text) <= 200 else text[:197] + "..."
