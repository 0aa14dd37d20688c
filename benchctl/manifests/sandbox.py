"""The Jinja2 sandbox harness-profile templates render in, with a budget.

Templates arrive in pull requests, and `benchctl validate` renders every one of them in the CI
job that runs on each pull request, so a template must not be able to stall or exhaust it.
Jinja2's own sandbox stops attribute tricks, not arithmetic: ``{{ 10**300000000 }}`` computes
for minutes and ``{{ 'a' * 10**9 }}`` takes a gigabyte. Here every operation that can make a
value large is checked before it runs, against limits far above what a real template needs:

- integers: at most ``MAX_INT_BITS`` bits (``**`` and ``*`` are checked before computing);
- strings at most ``MAX_TEXT`` characters, and any value at most ``MAX_WEIGHT`` characters and
  items, nested ones counted each time they appear, whether made by ``*``, ``+``, ``~``, a
  filter, a method or a global function; integer arguments of filters and calls (``center``,
  widths inside containers a format spec reads) at most ``MAX_ARGUMENT``, and what a call can
  build from its texts and numbers is bounded before it runs;
- iterations: ``range`` draws on a budget of ``MAX_ITERATIONS`` per render;
- output: at most ``MAX_TEXT`` characters per template;
- time: ``MAX_SECONDS`` of wall clock per render, and ``MAX_TOTAL_SECONDS`` for all renders of
  one validate, where a timer can interrupt (the main thread).

The environment is also immutable: templates cannot append to lists or update dicts, so no
value grows across loop iterations. Going over any limit raises :class:`TemplateBudgetError`.
"""

from __future__ import annotations

import functools
import re
import signal
import string
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import FrameType
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_INT_BITS = 256
MAX_TEXT = 16 * 1024
MAX_ITERATIONS = 10_000
MAX_SECONDS = 0.25
# A value's characters and items together, nested ones counted each time they appear.
MAX_WEIGHT = 4 * MAX_TEXT
# The largest integer a call or filter takes: widths, counts, repeats.
MAX_ARGUMENT = 4096
# All renders of one `validate` (or one apply) together.
MAX_TOTAL_SECONDS = 2.0

_iterations: ContextVar[int] = ContextVar("benchctl_template_iterations", default=0)
# Seconds all renders of the current scope took (see ``total_budget``); None: no scope.
_spent: ContextVar[float | None] = ContextVar("benchctl_template_seconds", default=None)


class TemplateBudgetError(SecurityError):
    """A template went over one of the sandbox's limits."""


_TEXT = (str, bytes, bytearray)
_CONTAINERS = (list, tuple, dict, set, frozenset)
_SIZED = (*_TEXT, *_CONTAINERS)


def _weight(value: Any, limit: int = MAX_WEIGHT) -> int:
    """Characters plus items in ``value``, nested containers counted each time they appear
    (as printing them would), stopping once past ``limit``."""
    total = 0
    stack = [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, _TEXT):
            total += len(item)
        elif isinstance(item, dict):
            total += len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, _CONTAINERS):
            total += len(item)
            stack.extend(item)
        else:
            total += 1
    return total


def _ints(value: Any) -> Iterator[int]:
    """Every integer in ``value``, containers included (format specs reach into them)."""
    stack = [value]
    seen = 0
    while stack and seen <= MAX_WEIGHT:
        item = stack.pop()
        seen += 1
        if isinstance(item, int) and not isinstance(item, bool):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, _CONTAINERS):
            stack.extend(item)


def _check_size(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        if value.bit_length() > MAX_INT_BITS:
            raise TemplateBudgetError(f"an integer above 2**{MAX_INT_BITS}")
    elif isinstance(value, _TEXT) and len(value) > MAX_TEXT:
        raise TemplateBudgetError(f"a text longer than {MAX_TEXT:,} characters")
    elif isinstance(value, _CONTAINERS) and _weight(value) > MAX_WEIGHT:
        raise TemplateBudgetError(f"a value of more than {MAX_WEIGHT:,} items and characters")
    return value


def _check_arguments(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """The arguments of a call or filter, and a bound of what it can build from them.

    A width, count or repeat (an integer, even inside a container a format spec reads) above
    MAX_ARGUMENT can only make an oversized result. Otherwise a result is at most about the
    largest text times the next largest text or integer (``replace``, ``indent``,
    ``expandtabs``, ``center``...), which is checked before the call runs.
    """
    values = (*args, *kwargs.values())
    for value in values:
        _check_size(value)
        for number in _ints(value):
            if abs(number) > MAX_ARGUMENT:
                raise TemplateBudgetError(f"an argument of {number:,} (at most {MAX_ARGUMENT:,})")
    sizes = sorted(
        (_weight(v) for v in values if isinstance(v, (*_TEXT, *_CONTAINERS))), reverse=True
    )
    numbers = [abs(v) for v in values if isinstance(v, int) and not isinstance(v, bool)]
    largest = sizes[0] if sizes else 0
    factor = max([1, *sizes[1:2], *numbers])
    if largest * factor > MAX_WEIGHT:
        raise TemplateBudgetError(
            f"a call that can build {largest * factor:,} characters (at most {MAX_WEIGHT:,})"
        )


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\d*)(?:\.(\d*))?")


def _check_format(template: str) -> None:
    """Widths and precisions in ``%`` and ``str.format`` specs, which build text no argument
    shows: ``'%1000000000s' % x``, ``'{:>1000000000}'.format(x)``."""
    numbers = [n for pair in _PERCENT_SPEC.findall(template) for n in pair if n]
    try:
        for _, _, spec, _ in string.Formatter().parse(template):
            numbers += re.findall(r"\d+", spec or "")
    except ValueError:
        pass  # not a valid {} template: str.format refuses it by itself
    if any(int(n) > MAX_TEXT for n in numbers):
        raise TemplateBudgetError(f"a format width above {MAX_TEXT:,}")


def _modulo(left: Any, right: Any) -> Any:
    if isinstance(left, _TEXT):
        _check_format(left if isinstance(left, str) else left.decode("latin-1"))
        _check_arguments(right if isinstance(right, tuple) else (right,), {})
    return left % right


def _product(left: Any, right: Any) -> Any:
    for seq, count in ((left, right), (right, left)):
        repeated = isinstance(seq, (*_TEXT, list, tuple)) and isinstance(count, int)
        if repeated and _weight(seq) * max(count, 0) > MAX_WEIGHT:
            raise TemplateBudgetError(f"a repetition of more than {MAX_WEIGHT:,}")
    both_int = isinstance(left, int) and isinstance(right, int)
    if both_int and left.bit_length() + right.bit_length() > MAX_INT_BITS + 1:
        raise TemplateBudgetError(f"an integer above 2**{MAX_INT_BITS}")
    return left * right


def _power(left: Any, right: Any) -> Any:
    growing = isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1
    if growing and (abs(left).bit_length() - 1) * right > MAX_INT_BITS:
        raise TemplateBudgetError(f"an integer above 2**{MAX_INT_BITS}")
    if isinstance(left, float) or isinstance(right, float):
        try:
            return float(left) ** float(right)
        except OverflowError as exc:
            raise TemplateBudgetError("a number too large") from exc
    return left**right


def _sum(left: Any, right: Any) -> Any:
    if isinstance(left, (*_TEXT, list, tuple)) and _weight(left) + _weight(right) > MAX_WEIGHT:
        raise TemplateBudgetError(f"a concatenation of more than {MAX_WEIGHT:,}")
    return left + right


def _concat(values: Any) -> str:
    """``a ~ b``: strings joined, with the total bounded before it is built."""
    parts = [str(v) for v in values]
    if sum(len(p) for p in parts) > MAX_TEXT:
        raise TemplateBudgetError(f"a text longer than {MAX_TEXT:,} characters")
    return "".join(parts)


def _range(*args: int) -> range:
    for value in args:  # no width cap here: the iteration budget bounds what range costs
        _check_size(value)
    span = range(*args)
    spent = _iterations.get() + len(span)
    if spent > MAX_ITERATIONS:
        raise TemplateBudgetError(f"more than {MAX_ITERATIONS:,} loop iterations")
    _iterations.set(spent)
    return span


def _bounded(function: Callable[..., Any]) -> Callable[..., Any]:
    """A filter with its arguments and result checked (keeps Jinja's pass_* markers)."""

    @functools.wraps(function)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _check_arguments(args, kwargs)
        return _check_size(function(*args, **kwargs))

    return bounded


class _BoundedConcat(CodeGenerator):
    """Compiles ``~`` to the environment's bounded join instead of Jinja's unbounded one."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.bounded_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class BudgetedSandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset(["*", "**", "+", "%"])
    code_generator_class = _BoundedConcat

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.filters = {name: _bounded(f) for name, f in self.filters.items()}
        format_filter = self.filters["format"]

        def format_checked(value: Any, *args: Any, **kwargs: Any) -> Any:
            _check_format(str(value))
            return format_filter(value, *args, **kwargs)

        self.filters["format"] = format_checked
        sum_filter = self.filters["sum"]

        @functools.wraps(sum_filter)
        def sum_of_numbers(*args: Any, **kwargs: Any) -> Any:
            # Summing lists (start=[]) copies them over and over: quadratic in their number.
            start = kwargs.get("start", args[3] if len(args) > 3 else 0)
            if not isinstance(start, int | float):
                raise TemplateBudgetError("sum adds numbers only")
            return sum_filter(*args, **kwargs)

        self.filters["sum"] = sum_of_numbers
        self.globals["range"] = _range
        # namespace() is the one mutable object templates could grow across iterations.
        del self.globals["namespace"]

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        operation = {"*": _product, "**": _power, "+": _sum, "%": _modulo}[operator]
        return _check_size(operation(left, right))

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        # The sandbox hands templates a wrapper of str.format; its text is the bound string.
        if obj is _range:  # its own iteration budget bounds it, not the width cap
            return super().call(context, obj, *args, **kwargs)
        method = getattr(obj, "__wrapped__", obj)
        subject = getattr(method, "__self__", None)
        # A method's result grows with its subject too: 'x'.center(n), s.expandtabs(n).
        if isinstance(subject, _SIZED):
            _check_arguments((subject, *args), kwargs)
        else:
            _check_arguments(args, kwargs)
        if getattr(method, "__name__", "") in ("format", "format_map") and isinstance(subject, str):
            _check_format(subject)
        return _check_size(super().call(context, obj, *args, **kwargs))

    bounded_concat = staticmethod(_concat)

    def render(self, source: str, context: Mapping[str, Any]) -> str:
        """Render ``source`` within the budget; output past ``MAX_TEXT`` is an error too."""
        spent = _spent.get()
        allowed = MAX_SECONDS if spent is None else min(MAX_SECONDS, MAX_TOTAL_SECONDS - spent)
        if allowed <= 0:
            raise TemplateBudgetError(
                f"the repository's templates took more than {MAX_TOTAL_SECONDS:g}s in all"
            )
        token = _iterations.set(0)
        started = time.monotonic()
        try:
            with _deadline(allowed):
                out: list[str] = []
                size = 0
                for chunk in self.from_string(source).generate(context):
                    size += len(chunk)
                    if size > MAX_TEXT:
                        raise TemplateBudgetError(f"output longer than {MAX_TEXT:,} characters")
                    out.append(chunk)
                return "".join(out)
        finally:
            _iterations.reset(token)
            if spent is not None:
                _spent.set(spent + time.monotonic() - started)


def exhausted() -> bool:
    """Whether the renders of the current scope have used up MAX_TOTAL_SECONDS."""
    spent = _spent.get()
    return spent is not None and spent >= MAX_TOTAL_SECONDS


@contextmanager
def total_budget() -> Iterator[None]:
    """Bound all renders inside together by MAX_TOTAL_SECONDS (one validate, one apply): a
    repository of many slow templates must not add up to a stalled job."""
    token = _spent.set(0.0)
    try:
        yield
    finally:
        _spent.reset(token)


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Interrupt the render after ``seconds`` (a timer signal: only the main thread has one)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: FrameType | None) -> None:
        raise TemplateBudgetError(f"rendering took longer than {seconds:g}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
