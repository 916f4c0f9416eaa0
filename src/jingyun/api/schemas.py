"""API models derived from the library's own types (接口模型): one source of truth for both directions.

Requests: :func:`request_model` walks a parameter dataclass (``FunnelParams``, ``RetentionParams``…)
and builds the pydantic model the route accepts, field by field, so the API offers every option the
library has; a parameter added to the library appears in the API (and its OpenAPI schema) without a
route edit. Library types are written on the wire the way users write them elsewhere (a step is an
event name or ``{event, filters}``, a breakdown is ``users.channel``, a date is ``YYYY-MM-DD``) and
turned back into the library's types by :meth:`ParamsModel.to_params`; the parameter object's own
validation then runs, so errors still name the field (``steps[1].filters[0].op``). The workspace time
zone is never a request field: it comes from the settings.

Responses: the result dataclasses themselves are the ``response_model`` (pydantic reads stdlib
dataclasses), so the schema is exactly what ``to_dict()`` returns.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.fields import FieldInfo

from jingyun.analysis.common import Dimension, Step, parse_date
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


class ParamsModel(BaseModel):
    """Base of the generated request models: :meth:`to_params` builds the library's parameter object."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    params_class: ClassVar[type]
    converters: ClassVar[dict[str, tuple[str, Callable[[Any, str], Any]]]]  # field -> (wire name, converter)

    def to_params(self, **settings: Any) -> Any:
        """The parameter object; ``settings`` (the workspace time zone) fill the fields no request sets."""
        kwargs = {name: conv(getattr(self, name), wire) for name, (wire, conv) in self.converters.items()}
        return self.params_class(**kwargs, **settings)


SETTINGS_FIELDS = ("timezone",)


def request_model(params_class: type, name: str, *, overrides: dict[str, Wire] | None = None,
                  exclude: tuple[str, ...] = (), doc: str | None = None) -> type[ParamsModel]:
    """A pydantic model with one field per field of ``params_class`` (less the settings' fields and
    ``exclude``); defaults are the library's. The wire name is the library's unless ``overrides`` say."""
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
        if f.default is not dataclasses.MISSING:
            default = list(f.default) if isinstance(f.default, tuple) else f.default
        wire_name = o.name or f.name
        extra = [o.field] if o.field is not None else []
        if wire_name != f.name:
            extra.append(Field(alias=wire_name))
        fields[f.name] = (Annotated[annotation, *extra] if extra else annotation, default)
        converters[f.name] = (wire_name, convert)
    model = create_model(name, __base__=ParamsModel, __doc__=doc or params_class.__doc__, **fields)
    model.params_class = params_class
    model.converters = converters
    return model
