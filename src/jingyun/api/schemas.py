"""API models derived from the library's own types (接口模型): one source of truth for both directions.

Requests: :func:`request_model` walks a parameter dataclass (``FunnelParams``, ``RetentionParams``…)
and builds the pydantic model the route accepts, field by field, so the API offers every option the
library has; a parameter added to the library appears in the API (and its OpenAPI schema) without a
route edit. Library types are written on the wire the way users write them elsewhere (a step is an
event name or ``{event, filters}``, a breakdown is ``users.channel``, a date is ``YYYY-MM-DD``) and
turned back into the library's types by :meth:`ParamsModel.to_params`; the parameter object's own
validation then runs, so errors still name the field (``steps[1].filters[0].op``). The workspace time
zone is never a request field: it comes from the settings.

Query strings: :func:`query_model` is the same model for a GET route, taken with ``Annotated[M, Query()]``
so every field of the parameter object is a query parameter (lists repeat the parameter).

Responses: :func:`result_model` walks a result dataclass the way :func:`jingyun.api.deps.jsonable` writes
it: a float may be null (NaN and infinities become null), an instant is a
:data:`jingyun.localtime.LocalTime` (shown with the workspace offset), nested dataclasses become nested
models. Where a result has no NaN and no instant the dataclass itself may be the ``response_model``.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import datetime as dt
import decimal
import functools
import operator
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.fields import FieldInfo

from jingyun.analysis.common import Dimension, Step, parse_date
from jingyun.localtime import LocalTime
from jingyun.segments.common import as_naive_utc
from jingyun.warehouse import filters as flt

Day = Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$", description="Local date YYYY-MM-DD 日期")]
EventName = Annotated[str, Field(min_length=1, max_length=128, description="Event name 事件名")]
Scalar = str | int | float | bool
# Operators as the one Filter type spells them, plus the older spellings it still reads.
OpName = Literal[flt.OPS + tuple(flt.ALIASES)]  # type: ignore[valid-type]


class FilterIn(BaseModel):
    """A property filter of a step (warehouse.filters.Filter): ``key op value``."""

    model_config = ConfigDict(extra="forbid")
    key: str = Field(pattern=flt.KEY.pattern, description="Event property key 属性键")
    op: OpName = Field(default="eq", description="Operator 运算符")  # type: ignore[valid-type]
    value: Scalar | list[Scalar] | None = Field(default=None, description="Value; a list for in/not_in/between 值")


class StepIn(BaseModel):
    """An event with optional property filters (all must hold)."""

    model_config = ConfigDict(extra="forbid")
    event: EventName
    filters: list[FilterIn] = Field(default_factory=list, max_length=20)


StepWire = EventName | StepIn
DimensionWire = Annotated[str, Field(min_length=1, max_length=100,
                                     description="platform, users.<column> or properties.<key> 分组维度")]
InstantWire = Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?"
                                           r"(Z|[+-]\d{2}:\d{2})?$",
                                   description="Reference time; UTC unless it carries an offset (default: the "
                                               "latest data) 基准时间")]


def to_step(value: Any, path: str) -> Step:
    if isinstance(value, str):
        return Step(value)
    raw: StepIn = value
    return Step(raw.event, tuple(flt.parse(f.model_dump(), f"{path}.filters[{i}]", field_key="key")
                                 for i, f in enumerate(raw.filters)))


def _is(tp: Any, cls: type) -> bool:
    return tp is cls or (isinstance(tp, type) and issubclass(tp, cls))


def _optional(tp: Any) -> tuple[Any, bool]:
    """(the type inside ``X | None``, whether None was allowed)."""
    if typing.get_origin(tp) in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0], True
    return tp, False


def wire_type(tp: Any) -> tuple[Any, Callable[[Any, str], Any]] | None:
    """How a library type travels: (wire annotation, wire value → library value), or None when the
    library type has no wire form (the route must then name an override)."""
    inner, optional = _optional(tp)
    wire: Any
    conv: Callable[[Any, str], Any]
    if _is(inner, Step):
        wire, conv = StepWire, to_step
    elif typing.get_origin(inner) is tuple and typing.get_args(inner)[1:] == (Ellipsis,) and \
            _is(typing.get_args(inner)[0], Step):
        wire = list[StepWire]
        conv = lambda v, path: tuple(to_step(s, f"{path}[{i}]") for i, s in enumerate(v))  # noqa: E731
    elif typing.get_origin(inner) is tuple and typing.get_args(inner)[1:] == (Ellipsis,) and \
            typing.get_args(inner)[0] in (str, int, float):
        wire = list[typing.get_args(inner)[0]]  # type: ignore[misc]
        conv = lambda v, path: tuple(v)  # noqa: E731
    elif _is(inner, Dimension):
        wire, conv = DimensionWire, lambda v, path: Dimension.parse(v, path)
    elif _is(inner, dt.datetime):
        wire, conv = InstantWire, lambda v, path: as_naive_utc(v.replace("Z", "+00:00"))
    elif _is(inner, dt.date):
        wire, conv = Day, lambda v, path: parse_date(v, path)
    elif inner in (str, int, float, bool) or typing.get_origin(inner) is Literal:
        wire, conv = inner, lambda v, path: v
    else:
        return None
    if optional:
        return wire | None, lambda v, path: None if v is None else conv(v, path)
    return wire, conv


@dataclasses.dataclass(frozen=True)
class Wire:
    """A route's override of one field: another wire annotation and converter, a constraint, a name."""

    annotation: Any = None
    convert: Callable[[Any, str], Any] | None = None
    field: FieldInfo | None = None
    name: str | None = None  # the wire name, where the API's name predates the library's
    default: Any = ()  # the wire form of the library's default, where the annotation differs (() = the library's)


class ParamsModel(BaseModel):
    """Base of the generated request models: :meth:`to_params` builds the library's parameter object."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)
    params_class: ClassVar[type]
    converters: ClassVar[dict[str, tuple[str, Callable[[Any, str], Any]]]]  # field -> (wire name, converter)
    unset: ClassVar[frozenset[str]] = frozenset()

    def values(self) -> dict[str, Any]:
        """The library's values of the fields the request set (or that have a library default)."""
        return {name: conv(getattr(self, name), wire) for name, (wire, conv) in self.converters.items()
                if not (name in self.unset and getattr(self, name) is None)}

    def to_params(self, **settings: Any) -> Any:
        """The parameter object; ``settings`` (the workspace time zone) fill the fields no request sets."""
        return self.params_class(**self.values(), **settings)


SETTINGS_FIELDS = ("timezone",)


class QueryParamsModel(ParamsModel):
    """A query-string model: parameters the route names beside it (a preset, paging) are not its fields."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, allow_inf_nan=False)


def request_model(params_class: type, name: str, *, overrides: dict[str, Wire] | None = None,
                  exclude: tuple[str, ...] = (), doc: str | None = None, unset: tuple[str, ...] = (),
                  base: type[ParamsModel] = ParamsModel) -> type[ParamsModel]:
    """A pydantic model with one field per field of ``params_class`` (less the settings' fields and
    ``exclude``); defaults are the library's. The wire name is the library's unless ``overrides`` say.
    Fields in ``unset`` default to None and are left out of :meth:`ParamsModel.to_params` when not given
    (the library's own default, or a preset's, applies)."""
    overrides = overrides or {}
    hints = typing.get_type_hints(params_class)
    fields: dict[str, Any] = {}
    converters: dict[str, tuple[str, Callable[[Any, str], Any]]] = {}
    for f in dataclasses.fields(params_class):
        if f.name in SETTINGS_FIELDS or f.name in exclude:
            continue
        o = overrides.get(f.name, Wire())
        derived = wire_type(hints[f.name])
        if o.annotation is None and derived is None:
            raise TypeError(f"{params_class.__name__}.{f.name}: no wire form for {hints[f.name]}; name an override")
        annotation = o.annotation if o.annotation is not None else derived[0]  # type: ignore[index]
        convert = o.convert or (derived[1] if derived else (lambda v, path: v))
        default: Any = ...
        if f.name in unset:
            annotation, default = annotation | None, None
        elif o.default != ():
            default = o.default
        elif f.default is not dataclasses.MISSING:
            default = list(f.default) if isinstance(f.default, tuple) else f.default
        wire_name = o.name or f.name
        extra = [o.field] if o.field is not None else []
        if wire_name != f.name:
            extra.append(Field(alias=wire_name))
        fields[f.name] = (Annotated[annotation, *extra] if extra else annotation, default)
        converters[f.name] = (wire_name, convert)
    model = create_model(name, __base__=base, __doc__=doc or params_class.__doc__, **fields)
    model.params_class = params_class
    model.converters = converters
    model.unset = frozenset(unset)
    return model


def query_model(params_class: type, name: str, **kwargs: Any) -> type[ParamsModel]:
    """:func:`request_model` for a query string: take it as ``Annotated[M, Query()]``."""
    return request_model(params_class, name, base=QueryParamsModel, **kwargs)


_RESULTS: dict[type, type[BaseModel]] = {}


def _out_type(tp: Any) -> Any:
    """The wire type of one result field, as ``jsonable`` writes it."""
    if tp is Any or isinstance(tp, typing.TypeVar):
        return Any
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if typing.get_origin(tp) is Annotated or hasattr(tp, "__metadata__"):
        return tp  # the library's own wire annotation (LocalTime) wins
    if origin in (Union, types.UnionType):
        return functools.reduce(operator.or_, [_out_type(a) for a in args])
    if origin is Literal:
        return tp
    if (origin is tuple and args[1:] == (Ellipsis,)) or origin in (list, set, frozenset, collections.abc.Sequence):
        return list[_out_type(args[0]) if args else Any]  # type: ignore[misc]
    if origin is tuple:
        return tuple[tuple(_out_type(a) for a in args)]  # type: ignore[misc]
    if origin in (dict, collections.abc.Mapping):
        return dict[str, _out_type(args[1]) if args else Any]  # type: ignore[misc]
    if tp is float or tp is decimal.Decimal:
        return float | None  # NaN and infinities are written as null
    if tp is dt.datetime:
        return LocalTime
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return result_model(tp)
    if tp in (str, int, bool, dt.date, dt.time, type(None)):
        return tp
    return Any  # arrays, paths and other values jsonable writes as it can


def result_model(result_class: type, name: str | None = None, *, extra: dict[str, Any] | None = None,
                 exclude: tuple[str, ...] = ()) -> type[BaseModel]:
    """The response model of a result dataclass (one per class, so OpenAPI names it once). ``extra``
    adds fields an edge puts beside the result (``{"deidentified": (bool, ...)}``)."""
    key = result_class if name is None and not extra and not exclude else None
    if key is not None and key in _RESULTS:
        return _RESULTS[key]
    hints = typing.get_type_hints(result_class, include_extras=True)
    fields: dict[str, Any] = {f.name: (_out_type(hints[f.name]), ...) for f in dataclasses.fields(result_class)
                              if f.name not in exclude}
    doc = result_class.__doc__ or ""
    doc = "" if doc.startswith(f"{result_class.__name__}(") else doc  # the dataclass's generated signature
    model = create_model(name or result_class.__name__, __doc__=doc or None, **fields, **(extra or {}))
    if key is not None:
        _RESULTS[key] = model
    return model
