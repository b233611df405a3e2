"""MkDocs hooks: pages generated from the code, so the docs cannot drift from it.

* ``<!-- evaltool:spec-reference -->`` becomes tables of every spec key (type, default, description),
  walked from the pydantic models in :mod:`evaltool.spec`;
* ``<!-- evaltool:cli-reference -->`` becomes every command's usage, options and help, from the Typer app;
* ``schema/spec.schema.json`` is published (``evaltool schema`` writes the same file);
* ``tests/<file>.md`` shows each test module's source, one heading per test, so the methods page can
  link each reference check to the test that makes it.
"""
from __future__ import annotations

import ast
import re
import typing
from pathlib import Path

from mkdocs.structure.files import File, InclusionLevel

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------------------------
# spec reference

def _type_name(ann: typing.Any) -> str:
    origin = typing.get_origin(ann)
    args = typing.get_args(ann)
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        parts = [_type_name(a) for a in args if a is not type(None)]
        return " \\| ".join(parts) + (" or null" if type(None) in args else "")
    if origin in (tuple, list):
        inner = [a for a in args if a is not Ellipsis]
        return f"list of {_type_name(inner[0])}" if inner else "list"
    if origin is dict:
        return f"mapping {_type_name(args[0])} → {_type_name(args[1])}" if args else "mapping"
    name = getattr(ann, "__name__", str(ann))
    return {"str": "text", "int": "integer", "float": "number", "bool": "true/false", "date": "date (YYYY-MM-DD)",
            "Path": "path", "PosixPath": "path"}.get(name, name)


def _submodel(ann: typing.Any):
    from pydantic import BaseModel

    for cand in (ann, *typing.get_args(ann)):
        for c in (cand, *typing.get_args(cand)):
            if isinstance(c, type) and issubclass(c, BaseModel):
                return c
    return None


def _default(field) -> str:
    from pydantic_core import PydanticUndefined

    if field.is_required():
        return "**required**"
    value = field.default_factory() if field.default_factory is not None else field.default
    if value is PydanticUndefined:
        return ""
    if hasattr(value, "model_dump"):
        return "(see below)"
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if value == "":
        return '`""`'
    if value is None:
        return "null"
    text = str(value).replace("'", "")
    text = text if len(text) <= 60 else text[:57] + "..."
    return f"`{text}`"


def _escape(text: str) -> str:
    text = re.sub(r":(?:func|class|mod|meth|data):`~?([^`]+)`", r"`\1`", " ".join(str(text).split()))
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def spec_reference() -> str:
    from evaltool.spec import Spec

    out: list[str] = []
    queue: list[tuple[str, type]] = [("(top level)", Spec)]
    seen: set[type] = set()
    while queue:
        path, model = queue.pop(0)
        if model in seen:
            continue
        seen.add(model)
        out.append(f"### `{path}`\n" if path != "(top level)" else "### Top level\n")
        doc = (model.__doc__ or "").strip().split("\n\n")[0]
        if doc:
            out.append(_escape(doc) + "\n")
        out.append("| key | type | default | description |\n|---|---|---|---|")
        for name, field in model.model_fields.items():
            sub = _submodel(field.annotation)
            kind = f"section ([`{name}`](#{name}))" if sub is not None and path == "(top level)" \
                else ("section" if sub is not None else _type_name(field.annotation))
            default = _default(field)
            desc = field.description or ""
            if sub is not None:
                if default == "null":
                    default = "absent: not run"
                desc = desc or (sub.__doc__ or "").strip().split("\n\n")[0]
            out.append(f"| `{name}` | {kind} | {default} | {_escape(desc)} |")
            if sub is not None:
                key = name if path == "(top level)" else f"{path}.{name}"
                queue.append((key, sub))
        out.append("")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# CLI reference

def cli_reference() -> str:
    import click
    import typer

    from evaltool.cli import app

    group = typer.main.get_command(app)
    ctx = click.Context(group, info_name="evaltool")
    out = ["## Global options\n", _params_table(group.params, ctx)]
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        sub = click.Context(cmd, info_name=name, parent=ctx)
        usage = " ".join(cmd.collect_usage_pieces(sub))
        help_text = re.sub(r"\[/?[a-z ]*\]", "", cmd.help or "").strip()
        out.append(f"## `evaltool {name}`\n")
        out.append(f"```text\nevaltool {name} {usage}\n```\n")
        out.append(help_text.replace("\n\n", "\n\n") + "\n")
        out.append(_params_table(cmd.params, sub))
    return "\n".join(out)


def _params_table(params, ctx) -> str:
    rows = ["| argument / option | value | default | what it does |", "|---|---|---|---|"]
    for p in params:
        if getattr(p, "hidden", False):
            continue
        names = ", ".join(f"`{o}`" for o in (p.opts + p.secondary_opts)) if p.param_type_name == "option" \
            else f"`{(p.metavar or p.name).upper()}`"
        value = "" if getattr(p, "is_flag", False) or getattr(p, "count", False) else f"`{p.metavar or p.name.upper()}`"
        default = p.default if p.default not in (None, False, 0, "") and not callable(p.default) else ""
        rows.append(f"| {names} | {value} | {f'`{default}`' if default != '' else ''} | {_escape(getattr(p, 'help', '') or '')} |")
    return "\n".join(rows) + "\n"


# ---------------------------------------------------------------------------------------------
# test sources

def test_page(path: Path) -> str:
    src = path.read_text(encoding="utf-8")
    tree = ast.parse(src)
    lines = src.splitlines()
    doc = ast.get_docstring(tree) or ""
    out = [f"# `tests/{path.name}`\n", doc + "\n" if doc else ""]
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name.startswith(("test_", "Test")):
            start = min([d.lineno for d in getattr(node, "decorator_list", [])] + [node.lineno])
            body = "\n".join(lines[start - 1:node.end_lineno])
            out.append(f"## {node.name}\n\n```python\n{body}\n```\n")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# hooks

def on_files(files, config):
    from evaltool.schema import schema_text

    files.append(File.generated(config, "schema/spec.schema.json", content=schema_text()))
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        f = File.generated(config, f"tests/{path.stem}.md", content=test_page(path),
                           inclusion=InclusionLevel.NOT_IN_NAV)
        files.append(f)
    return files


def validation_checks() -> str:
    from evaltool.inputs import CHECK_ACTIONS, DEFAULT_ACTIONS

    rows = ["| check | default | allowed |", "|---|---|---|"]
    rows += [f"| `{k}` | `{DEFAULT_ACTIONS[k]}` | {', '.join(f'`{a}`' for a in CHECK_ACTIONS[k])} |"
             for k in sorted(CHECK_ACTIONS)]
    return "\n".join(rows) + "\n"


_MARKERS = {"<!-- evaltool:spec-reference -->": spec_reference, "<!-- evaltool:cli-reference -->": cli_reference,
            "<!-- evaltool:validation-checks -->": validation_checks}


def on_page_markdown(markdown, page, config, files):
    for marker, fn in _MARKERS.items():
        if marker in markdown:
            markdown = markdown.replace(marker, fn())
    return markdown
