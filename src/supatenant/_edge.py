"""The edge: every public method's arguments are checked before it runs, in one place.

:func:`checked` wraps a function so that its arguments are validated against its own
annotations by pydantic (a malformed UUID, a ``limit`` out of range, a role that is not one
of the ``Literal``'s, a wrong type) and that no text carries what PostgreSQL cannot store
(NUL characters, lone surrogates). Whatever is wrong raises :class:`InvalidInput`, with one
:class:`FieldError` per argument at fault, before any I/O. :func:`check_public_methods`
applies it to every public method of a class, so a repository cannot forget it.
"""

from __future__ import annotations

import enum
import functools
import inspect
import math
import re
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from typing import Annotated, Any, TypeVar

import pydantic
from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, Strict, ValidationError
from pydantic_core import PydanticCustomError

from supatenant.errors import FieldError, InvalidInput

MAX_LIMIT = 1000
Limit = Annotated[int, Strict(), Field(ge=1, le=MAX_LIMIT)]  # rows per call: an int, 1 to MAX_LIMIT


MONEY_PLACES = 6  # the columns hold money to the millionth (numeric(16, 6))


def _not_a_float(value: Any) -> Any:
    if isinstance(value, float | bool):
        raise ValueError("a float cannot hold an amount of money exactly: pass a Decimal, a str or an int")
    if isinstance(value, Decimal | str):
        try:
            exponent = Decimal(value).as_tuple().exponent
        except ArithmeticError:
            return value  # not a number: the models say so, naming the field
        if isinstance(exponent, int) and exponent < -MONEY_PLACES:
            raise ValueError(f"an amount of money has at most {MONEY_PLACES} decimal places: {value}")
    return value


# an amount of money: exact, never a float (the column is numeric)
Money = Annotated[Decimal | str | int, BeforeValidator(_not_a_float)]
MAX_MONEY = Decimal("9999999999.999999")  # numeric(16, 6)


def exact_money(value: Any, field: str = "cost_usd") -> Decimal:
    """``value`` as the exact amount the money columns hold, from 0 to :data:`MAX_MONEY`;
    anything else (a float, a finer fraction, not a number) is InvalidInput naming ``field``."""
    try:
        amount = Decimal(_not_a_float(value))
    except (ValueError, TypeError, ArithmeticError) as e:
        raise invalid(
            field, [FieldError(field=field, message=str(e) or "not a number", type="money")]
        ) from None
    if not amount.is_finite() or not 0 <= amount <= MAX_MONEY:
        problem = FieldError(field=field, message=f"from 0 to {MAX_MONEY}, not {value!r}", type="money")
        raise invalid(field, [problem])
    return amount


MAX_INT = 2**31 - 1  # an integer column's range (tokens, milliseconds)


def whole_number(name: str, value: Any, what: str, low: int = 0, high: int = MAX_INT) -> int:
    """``value`` when it is a whole number from ``low`` to ``high`` (a bool is not one);
    anything else is InvalidInput naming ``name``, with pydantic's error types."""
    if isinstance(value, bool) or not isinstance(value, int):
        problem = FieldError(field=name, message=f"a whole number, not {value!r}", type="int_type")
    elif value < low:
        problem = FieldError(field=name, message=f"at least {low}, not {value}", type="greater_than_equal")
    elif value > high:
        problem = FieldError(field=name, message=f"at most {high}, not {value}", type="less_than_equal")
    else:
        return value
    raise invalid(what, [problem])


MAX_CONTENT_BYTES = 1_048_576  # a message's text, as the table's check has it


def _fits_a_message(value: str) -> str:
    if len(value) * 4 > MAX_CONTENT_BYTES and len(value.encode("utf-8", "surrogatepass")) > MAX_CONTENT_BYTES:
        raise PydanticCustomError(
            "too_long", "a message holds at most {limit} bytes of text", {"limit": MAX_CONTENT_BYTES}
        )
    return value


MessageText = Annotated[str, AfterValidator(_fits_a_message)]  # a message's text: up to 1 MiB in UTF-8


class Unset(enum.Enum):
    """The default of an update's fields: left as it is. ``None`` sets a nullable column to null."""

    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


UNSET = Unset.UNSET


def given(**values: Any) -> dict[str, Any]:
    """The fields a caller set (``None`` included: it clears a nullable column)."""
    return {k: v for k, v in values.items() if v is not UNSET}


F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T", bound=type)

_CONFIG = ConfigDict(arbitrary_types_allowed=True)


def field_errors(e: ValidationError, names: list[str] | None = None, prefix: str = "") -> list[FieldError]:
    """pydantic's errors as :class:`FieldError`s; positional locations become ``names``."""
    found: list[FieldError] = []
    for err in e.errors(include_url=False):
        loc = list(err["loc"])
        if loc and isinstance(loc[0], int) and names is not None and loc[0] < len(names):
            loc[0] = names[loc[0]]
        where = ".".join(str(part) for part in loc) or "input"
        found.append(FieldError(field=prefix + where, message=err["msg"], type=err["type"]))
    return found


def invalid(what: str, problems: list[FieldError]) -> InvalidInput:
    text = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
    return InvalidInput(f"{what}: {text}", problems)


MAX_NESTING = 64  # levels of JSON (dicts and lists) an argument may hold


def _lone_surrogate(text: str) -> bool:
    # UTF-8 cannot encode one; asking the codec is C speed (a loop over a megabyte is not)
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _bad_value(value: Any, where: str) -> FieldError | None:
    """What no PostgreSQL text or JSON value can hold: NUL characters, lone surrogates, a
    non-finite number, an integer too long to write out."""
    if isinstance(value, str):
        if "\x00" in value:
            return FieldError(field=where, message="text cannot contain NUL (\\x00) characters", type="nul")
        if _lone_surrogate(value):
            return FieldError(field=where, message="text cannot contain lone surrogates", type="surrogate")
    elif isinstance(value, float) and not math.isfinite(value):
        return FieldError(
            field=where, message="a number is finite (JSON has no NaN or infinity)", type="finite_number"
        )
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) >= _HUGE:
        return FieldError(field=where, message="an integer has at most 4000 digits", type="int_too_long")
    return None


_HUGE = 10**4000


def _bad_values(value: Any, where: str) -> Iterator[FieldError]:
    """:func:`_bad_value` anywhere in ``value``, and nesting past MAX_NESTING (walked without
    recursion, so no depth of nesting can exhaust the stack)."""
    pending: list[tuple[Any, str, int]] = [(value, where, 0)]
    while pending:
        item, at, depth = pending.pop()
        if isinstance(item, Mapping | list | tuple):
            if depth >= MAX_NESTING:
                yield FieldError(
                    field=at, message=f"nested deeper than {MAX_NESTING} levels", type="too_deep"
                )
                continue
            pairs = item.items() if isinstance(item, Mapping) else enumerate(item)
            children: list[tuple[Any, str, int]] = []
            for key, child in pairs:
                if isinstance(item, Mapping):
                    children.append((key, f"{at}.<key>", depth + 1))
                children.append((child, f"{at}.{key}", depth + 1))
            pending.extend(reversed(children))  # in order
        elif (problem := _bad_value(item, at)) is not None:
            yield problem


def text_problems(values: Mapping[str, Any]) -> list[FieldError]:
    return [p for name, value in values.items() for p in _bad_values(value, name)]


def _call_name(fn: Callable[..., Any]) -> str:
    """How errors name a method: ``conversations.list`` for AsyncConversations.list and
    Conversations.list alike (the attribute a store reaches it by)."""
    owner, _, method = fn.__qualname__.rpartition(".")
    owner = re.sub(r"(?<!^)(?=[A-Z])", "_", owner.removeprefix("Async")).lower()
    return f"{owner}.{method}" if owner else method


def checked(fn: F) -> F:
    """``fn`` with its arguments validated first (see the module's text)."""
    signature = inspect.signature(fn)
    name = _call_name(fn)
    names = list(signature.parameters)
    validated: Callable[..., Any] | None = None

    def prepare(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Callable[..., Any]:
        nonlocal validated
        if validated is None:  # built on first use: importing the package stays cheap
            validated = pydantic.validate_call(config=_CONFIG, validate_return=False)(fn)
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as e:
            problem = FieldError(field="input", message=str(e), type="arguments")
            raise invalid(name, [problem]) from None
        problems = text_problems({k: v for k, v in bound.arguments.items() if k not in ("self", "cls")})
        if problems:
            raise invalid(name, problems)
        return validated

    def refused(e: ValidationError) -> InvalidInput | None:
        """This call's arguments at fault; None for an error from a row or model inside it."""
        # an Iterable argument is validated as the call consumes it, under this title
        ours = e.title in (fn.__qualname__, "ValidatorIterator")
        return invalid(name, field_errors(e, names)) if ours else None

    wrapper: Callable[..., Any]
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            run = prepare(args, kwargs)
            try:
                return await run(*args, **kwargs)
            except ValidationError as e:
                if (error := refused(e)) is None:
                    raise
                raise error from None

    else:

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            run = prepare(args, kwargs)
            try:
                return run(*args, **kwargs)
            except ValidationError as e:
                if (error := refused(e)) is None:
                    raise
                raise error from None

    return wrapper  # type: ignore[return-value]


def check_public_methods(cls: T) -> T:
    """Wrap each public method defined on ``cls`` itself with :func:`checked`."""
    for name, attr in list(vars(cls).items()):
        if name.startswith("_"):
            continue
        if isinstance(attr, classmethod):
            setattr(cls, name, classmethod(checked(attr.__func__)))
        elif inspect.isfunction(attr):
            setattr(cls, name, checked(attr))
    return cls
