"""The Jinja2 sandbox harness-profile templates render in, with a budget.

Templates arrive in pull requests, and `benchctl validate` renders every one of them in the CI
job that runs on each pull request, so a template must not be able to stall or exhaust it.
Jinja2's own sandbox stops attribute tricks, not arithmetic: ``{{ 10**300000000 }}`` computes
for minutes and ``{{ 'a' * 10**9 }}`` takes a gigabyte. Here every operation that can make a
value large is checked before it runs, against limits far above what a real template needs:

- integers: at most ``MAX_INT_BITS`` bits (``**`` and ``*`` are checked before computing);
- strings and lists: at most ``MAX_TEXT`` characters or ``MAX_ITEMS`` items, whether made by
  ``*``, ``+``, ``~``, a filter, a method or a global function; integer arguments of filters and
  calls (``center(10**9)``, ``range(...)``) are bounded the same way;
- iterations: ``range`` draws on a budget of ``MAX_ITERATIONS`` per render;
- output: at most ``MAX_TEXT`` characters per template;
- time: ``MAX_SECONDS`` of wall clock per render, where a timer can interrupt (the main thread).

The environment is also immutable: templates cannot append to lists or update dicts, so no
value grows across loop iterations. Going over any limit raises :class:`TemplateBudgetError`.
"""

from __future__ import annotations

import functools
import re
import signal
import string
import threading
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
MAX_ITEMS = 1024
MAX_ITERATIONS = 10_000
MAX_SECONDS = 0.25

_iterations: ContextVar[int] = ContextVar("benchctl_template_iterations", default=0)


class TemplateBudgetError(SecurityError):
    """A template went over one of the sandbox's limits."""


def _check_size(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        if value.bit_length() > MAX_INT_BITS:
            raise TemplateBudgetError(f"an integer above 2**{MAX_INT_BITS}")
    elif isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise TemplateBudgetError(f"a text longer than {MAX_TEXT:,} characters")
    elif isinstance(value, list | tuple | dict | set) and len(value) > MAX_ITEMS:
        raise TemplateBudgetError(f"a collection of more than {MAX_ITEMS:,} items")
    return value


def _check_arguments(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    for value in (*args, *kwargs.values()):
        _check_size(value)
        # A width, count or repeat beyond the text limit can only make an oversized result.
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_TEXT:
            raise TemplateBudgetError(f"an argument of {value:,} (at most {MAX_TEXT:,})")


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
    if isinstance(left, str):
        _check_format(left)
    return left % right


def _size(value: Any) -> int:
    return len(value) if isinstance(value, str | list | tuple) else 0


def _product(left: Any, right: Any) -> Any:
    for seq, count in ((left, right), (right, left)):
        if isinstance(seq, str | list | tuple) and isinstance(count, int):
            limit = MAX_TEXT if isinstance(seq, str) else MAX_ITEMS
            if len(seq) * max(count, 0) > limit:
                raise TemplateBudgetError(f"a repetition of more than {limit:,}")
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
    limit = MAX_TEXT if isinstance(left, str) else MAX_ITEMS
    if _size(left) + _size(right) > limit:
        raise TemplateBudgetError(f"a concatenation longer than {limit:,}")
    return left + right


def _concat(values: Any) -> str:
    """``a ~ b``: strings joined, with the total bounded before it is built."""
    parts = [str(v) for v in values]
    if sum(len(p) for p in parts) > MAX_TEXT:
        raise TemplateBudgetError(f"a text longer than {MAX_TEXT:,} characters")
    return "".join(parts)


def _range(*args: int) -> range:
    _check_arguments(args, {})
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
        self.globals["range"] = _range
        # namespace() is the one mutable object templates could grow across iterations.
        del self.globals["namespace"]

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        operation = {"*": _product, "**": _power, "+": _sum, "%": _modulo}[operator]
        return _check_size(operation(left, right))

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        _check_arguments(args, kwargs)
        # The sandbox hands templates a wrapper of str.format; its text is the bound string.
        method = getattr(obj, "__wrapped__", obj)
        if getattr(method, "__name__", "") in ("format", "format_map"):
            bound = getattr(method, "__self__", None)
            if isinstance(bound, str):
                _check_format(bound)
        return _check_size(super().call(context, obj, *args, **kwargs))

    @staticmethod
    def bounded_concat(values: Any) -> str:
        return _concat(values)

    def render(self, source: str, context: Mapping[str, Any]) -> str:
        """Render ``source`` within the budget; output past ``MAX_TEXT`` is an error too."""
        token = _iterations.set(0)
        try:
            with _deadline(MAX_SECONDS):
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
