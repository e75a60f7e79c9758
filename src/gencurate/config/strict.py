"""Strict conversion of plain YAML data into typed, frozen dataclasses.

Every params section is a dataclass with keyword-only fields. `from_mapping` rejects
unknown keys (naming the valid ones), wrong types and, through each dataclass's
`__post_init__`, impossible values, so a misspelled key stops a stage before any work.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

T = TypeVar("T")


class ParamsError(ValueError):
    """A params.yaml problem, reported as one line naming the key."""


def require(condition: bool, key: str, message: str) -> None:
    """Raise `ParamsError` naming `key` unless `condition` holds (used in `__post_init__`)."""
    if not condition:
        raise ParamsError(f"params.yaml: {key}: {message}")


def _suggest(name: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(name, valid, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, key: str) -> Any:
    origin = get_origin(tp)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ParamsError(f"params.yaml: {key}: expected a mapping, got {value!r}")
        return from_mapping(tp, value, key)
    if origin is Literal:
        choices = get_args(tp)
        if value not in choices:
            raise ParamsError(
                f"params.yaml: {key}: {value!r} is not one of {', '.join(map(repr, choices))}"
            )
        return value
    if origin in (typing.Union, types.UnionType):
        args = get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            raise ParamsError(f"params.yaml: {key}: must not be null")
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, key)
            except ParamsError as err:
                errors.append(str(err))
        raise ParamsError(errors[0] if len(errors) == 1 else f"params.yaml: {key}: {value!r} has the wrong type")
    if origin in (dict, typing.Mapping) or tp is dict:
        if not isinstance(value, dict):
            raise ParamsError(f"params.yaml: {key}: expected a mapping, got {value!r}")
        key_tp, value_tp = get_args(tp) or (Any, Any)
        return {_convert(k, key_tp, f"{key}.{k}"): _convert(v, value_tp, f"{key}.{k}") for k, v in value.items()}
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ParamsError(f"params.yaml: {key}: expected a list, got {value!r}")
        args = get_args(tp)
        item_tp = args[0] if args else Any
        return tuple(_convert(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value))
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            # YAML reads 1e-4 (no dot) as a string: accept numeric strings for floats.
            if isinstance(value, str):
                try:
                    return float(value)
                except ValueError:
                    pass
            raise ParamsError(f"params.yaml: {key}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParamsError(f"params.yaml: {key}: expected an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ParamsError(f"params.yaml: {key}: expected true or false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ParamsError(f"params.yaml: {key}: expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported params type {_type_name(tp)} for {key}")


def from_mapping(cls: type[T], data: dict[str, Any] | None, where: str) -> T:
    """Build dataclass `cls` from `data`, rejecting unknown keys and wrong types.

    `where` is the dotted key of this section, used in error messages.
    """
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ParamsError(f"params.yaml: {where}: expected a mapping, got {data!r}")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    valid = sorted(fields)
    prefix = f"{where}." if where else ""
    for name in data:
        if name not in fields:
            raise ParamsError(
                f"params.yaml: unknown key '{prefix}{name}'{_suggest(str(name), valid)}; "
                f"valid keys: {', '.join(valid)}"
            )
    kwargs = {}
    for name, field in fields.items():
        key = f"{prefix}{name}"
        if name in data:
            kwargs[name] = _convert(data[name], hints[name], key)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ParamsError(f"params.yaml: missing key '{key}'")
    return cls(**kwargs)


def to_mapping(obj: Any) -> Any:
    """Inverse of `from_mapping`: plain dicts/lists, for checkpoints and logs."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_mapping(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_mapping(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_mapping(v) for k, v in obj.items()}
    return obj
