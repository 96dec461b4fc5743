"""Derive a tool's OpenAI function-calling schema from its Python source, without running it.

The source is parsed with :mod:`ast` only: nothing of it is imported or executed in the service
process. It must define exactly one top-level function (``def`` or ``async def``) with a docstring
and a type hint on every parameter. Supported hints:

- ``str``, ``int``, ``float``, ``bool``, ``None``, ``Any``, bare ``list`` and ``dict``
- ``list[T]``, ``tuple[T, ...]``, ``tuple[A, B]``, ``dict[str, T]`` (also ``typing.List`` & co.)
- ``X | Y``, ``Optional[X]``, ``Union[X, Y]``, ``Literal["a", "b"]`` (an enum)
- nested objects as a ``TypedDict`` class defined in the same source (``total=False``,
  ``Required[...]`` and ``NotRequired[...]`` are honoured); at run time the tool receives plain
  dicts, which is exactly what a TypedDict is. Dataclasses and pydantic models are refused because
  the sandbox would have to build them from dicts behind the tool's back.

A parameter with a default is optional; a JSON-literal default is put in the schema; a default of
``None`` also makes ``null`` acceptable. Anything else is refused with INVALID_ARGUMENT naming the
parameter and the type.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

from services.common.errors import InvalidArgument
from services.tools.core.docstrings import parse_docstring

SOURCE_FIELD = "tool.source_code"

_SCALARS: dict[str, dict] = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
    "None": {"type": "null"},
    "NoneType": {"type": "null"},
    "Any": {},
    "list": {"type": "array"},
    "List": {"type": "array"},
    "dict": {"type": "object"},
    "Dict": {"type": "object"},
}
_LISTS = {"list", "List", "Sequence", "Iterable", "Collection", "MutableSequence"}
_DICTS = {"dict", "Dict", "Mapping", "MutableMapping"}
_TYPING_MODULES = {"typing", "t", "typing_extensions", "collections", "abc"}


@dataclass(frozen=True)
class FunctionInfo:
    """The one function of a tool's source: its name and what its docstring says."""

    name: str
    summary: str
    parameter_names: tuple[str, ...]
    required: tuple[str, ...]
    takes_kwargs: bool
    node: ast.FunctionDef | ast.AsyncFunctionDef


@dataclass(frozen=True)
class DerivedSchema:
    """The function's name, the docstring summary, and the ``parameters`` JSON schema."""

    function_name: str
    description: str
    parameters: dict


def parse_function(source: str) -> FunctionInfo:
    """The single top-level function of ``source``; INVALID_ARGUMENT when there is not exactly one."""
    if not source.strip():
        raise InvalidArgument.field(SOURCE_FIELD, "is required")
    try:
        module = ast.parse(source, filename="<tool>")
    except SyntaxError as exc:
        raise InvalidArgument.field(SOURCE_FIELD, f"invalid Python: {exc.msg} (line {exc.lineno})") from None
    functions = [n for n in module.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    if len(functions) != 1:
        names = ", ".join(f.name for f in functions) or "none"
        raise InvalidArgument.field(
            SOURCE_FIELD, f"must define exactly one top-level function, found {len(functions)} ({names})"
        )
    node = functions[0]
    args = node.args
    if args.posonlyargs:
        raise InvalidArgument.field(
            SOURCE_FIELD,
            f"parameter {args.posonlyargs[0].arg!r}: positional-only parameters are not supported",
        )
    if args.vararg is not None:
        raise InvalidArgument.field(SOURCE_FIELD, f"parameter '*{args.vararg.arg}': *args is not supported")
    docstring = ast.get_docstring(node)
    summary = parse_docstring(docstring).summary if docstring else ""
    positional = args.args
    with_default = {a.arg for a in positional[len(positional) - len(args.defaults) :]}
    with_default |= {a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None}
    names = tuple(a.arg for a in [*positional, *args.kwonlyargs])
    return FunctionInfo(
        name=node.name,
        summary=summary,
        parameter_names=names,
        required=tuple(n for n in names if n not in with_default),
        takes_kwargs=args.kwarg is not None,
        node=node,
    )


def derive_schema(source: str) -> DerivedSchema:
    """The JSON schema of the one function in ``source``, from its signature and docstring."""
    info = parse_function(source)
    node = info.node
    docstring = ast.get_docstring(node)
    if not docstring or not parse_docstring(docstring).summary:
        raise InvalidArgument.field(
            SOURCE_FIELD, f"function {node.name!r} needs a docstring saying what it does"
        )
    if node.args.kwarg is not None:
        raise InvalidArgument.field(
            SOURCE_FIELD, f"parameter '**{node.args.kwarg.arg}': **kwargs is not supported"
        )
    described = parse_docstring(docstring).parameters
    types = _TypeTranslator(_classes(ast.parse(source)))
    positional = node.args.args
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(node.args.defaults))
    defaults += node.args.defaults
    pairs = list(zip(positional, defaults, strict=True))
    pairs += list(zip(node.args.kwonlyargs, node.args.kw_defaults, strict=True))
    properties: dict[str, dict] = {}
    required: list[str] = []
    for arg, default in pairs:
        if arg.annotation is None:
            raise InvalidArgument.field(SOURCE_FIELD, f"parameter {arg.arg!r} needs a type hint")
        schema = types.translate(arg.annotation, arg.arg)
        if default is None:
            required.append(arg.arg)
        else:
            schema = _with_default(schema, default)
        if described.get(arg.arg):
            schema = {**schema, "description": described[arg.arg]}
        properties[arg.arg] = schema
    parameters = {"type": "object", "properties": properties, "required": required}
    parameters["additionalProperties"] = False
    return DerivedSchema(function_name=node.name, description=info.summary, parameters=parameters)


def _with_default(schema: dict, default: ast.expr) -> dict:
    try:
        value = ast.literal_eval(default)
    except (ValueError, SyntaxError, TypeError):
        return schema  # optional, but the default is computed: the model need not know it
    if value is None:
        if schema.get("type") == "null" or {"type": "null"} in schema.get("anyOf", []):
            return {**schema, "default": None}
        return {"anyOf": [schema, {"type": "null"}], "default": None}
    if isinstance(value, tuple):
        value = list(value)
    if not _is_json(value):
        return schema
    return {**schema, "default": value}


def _is_json(value: Any) -> bool:
    if value is None or isinstance(value, str | int | float | bool):
        return True
    if isinstance(value, list):
        return all(_is_json(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json(v) for k, v in value.items())
    return False


def _classes(module: ast.Module) -> dict[str, ast.ClassDef]:
    return {node.name: node for node in module.body if isinstance(node, ast.ClassDef)}


def _simple_name(node: ast.expr) -> str | None:
    """``List`` for ``List``, ``typing.List`` or ``t.List``; None for anything else."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name | ast.Attribute):
        return node.attr
    if isinstance(node, ast.Constant) and node.value is None:
        return "None"
    return None


class _TypeTranslator:
    """Turns annotation ASTs into JSON schemas, resolving TypedDicts defined in the same source."""

    def __init__(self, classes: dict[str, ast.ClassDef]):
        self._classes = classes
        self._resolving: list[str] = []

    def refuse(self, parameter: str, annotation: ast.expr, why: str = "unsupported type") -> InvalidArgument:
        return InvalidArgument.field(
            SOURCE_FIELD, f"parameter {parameter!r}: {why} {ast.unparse(annotation)!r}"
        )

    def translate(self, annotation: ast.expr, parameter: str) -> dict:
        if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
            try:  # a string annotation (forward reference)
                parsed = ast.parse(annotation.value, mode="eval").body
            except SyntaxError:
                raise self.refuse(parameter, annotation, "unparseable type") from None
            return self.translate(parsed, parameter)
        if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
            return _any_of(
                [self.translate(annotation.left, parameter), self.translate(annotation.right, parameter)]
            )
        if isinstance(annotation, ast.Subscript):
            return self._generic(annotation, parameter)
        name = _simple_name(annotation)
        if name in _SCALARS:
            return dict(_SCALARS[name])
        if name is not None and name in self._classes:
            return self._typed_dict(self._classes[name], parameter, annotation)
        raise self.refuse(parameter, annotation)

    def _generic(self, annotation: ast.Subscript, parameter: str) -> dict:
        origin = _simple_name(annotation.value)
        args = annotation.slice.elts if isinstance(annotation.slice, ast.Tuple) else [annotation.slice]
        if origin in _LISTS and len(args) == 1:
            return {"type": "array", "items": self.translate(args[0], parameter)}
        if origin in {"tuple", "Tuple"}:
            if len(args) == 2 and isinstance(args[1], ast.Constant) and args[1].value is Ellipsis:
                return {"type": "array", "items": self.translate(args[0], parameter)}
            items = [self.translate(arg, parameter) for arg in args]
            return {
                "type": "array",
                "prefixItems": items,
                "minItems": len(items),
                "maxItems": len(items),
            }
        if origin in _DICTS and len(args) == 2:
            if _simple_name(args[0]) != "str":
                raise self.refuse(parameter, annotation, "JSON object keys are strings; unsupported type")
            return {"type": "object", "additionalProperties": self.translate(args[1], parameter)}
        if origin == "Optional" and len(args) == 1:
            return _any_of([self.translate(args[0], parameter), {"type": "null"}])
        if origin == "Union":
            return _any_of([self.translate(arg, parameter) for arg in args])
        if origin == "Literal":
            return self._literal(annotation, args, parameter)
        if origin == "Annotated" and args:
            return self.translate(args[0], parameter)
        raise self.refuse(parameter, annotation)

    def _literal(self, annotation: ast.expr, args: list[ast.expr], parameter: str) -> dict:
        values = []
        for arg in args:
            if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str | int | bool | None)):
                raise self.refuse(parameter, annotation, "Literal values must be str, int, bool or None in")
            values.append(arg.value)
        kinds = {type(v) for v in values}
        schema: dict = {"enum": values}
        json_types = {str: "string", int: "integer", bool: "boolean", type(None): "null"}
        if len(kinds) == 1:
            schema = {"type": json_types[kinds.pop()], "enum": values}
        return schema

    def _typed_dict(self, cls: ast.ClassDef, parameter: str, annotation: ast.expr) -> dict:
        bases = {_simple_name(base) for base in cls.bases}
        if "TypedDict" not in bases:
            decorators = {_simple_name(d) for d in cls.decorator_list}
            why = (
                "dataclasses are not supported (use a TypedDict);"
                if "dataclass" in decorators
                else "only TypedDict classes are supported;"
            )
            raise self.refuse(parameter, annotation, why)
        if cls.name in self._resolving:
            raise self.refuse(parameter, annotation, "recursive types are not supported;")
        total = True
        for keyword in cls.keywords:
            if keyword.arg == "total" and isinstance(keyword.value, ast.Constant):
                total = bool(keyword.value.value)
        self._resolving.append(cls.name)
        try:
            properties: dict[str, dict] = {}
            required: list[str] = []
            described = parse_docstring(ast.get_docstring(cls) or "").parameters
            for statement in cls.body:
                if not (isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)):
                    continue
                field_name = statement.target.id
                field_type, is_required = _requiredness(statement.annotation, total)
                schema = self.translate(field_type, f"{parameter}.{field_name}")
                if described.get(field_name):
                    schema = {**schema, "description": described[field_name]}
                properties[field_name] = schema
                if is_required:
                    required.append(field_name)
        finally:
            self._resolving.pop()
        return {
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": False,
        }


def _requiredness(annotation: ast.expr, total: bool) -> tuple[ast.expr, bool]:
    if isinstance(annotation, ast.Subscript):
        wrapper = _simple_name(annotation.value)
        if wrapper == "Required":
            return annotation.slice, True
        if wrapper == "NotRequired":
            return annotation.slice, False
    return annotation, total


def _any_of(options: list[dict]) -> dict:
    flat: list[dict] = []
    for option in options:
        for part in option.get("anyOf", [option]) if set(option) == {"anyOf"} else [option]:
            if part not in flat:
                flat.append(part)
    return flat[0] if len(flat) == 1 else {"anyOf": flat}
