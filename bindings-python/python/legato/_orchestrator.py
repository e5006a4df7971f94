"""``Orchestrator``: wrap callables as actions; each call inside ``run(main)`` is a tracked task."""

from __future__ import annotations

import asyncio
import contextvars
import dis
import functools
import inspect
import sys
import threading
import types
from typing import Any, Awaitable, Callable, Iterable, Mapping, Optional, Sequence, TypeVar, Union, overload

from . import _legato
from ._common import (
    F,
    Hooks,
    check_callable,
    check_rules,
    check_run_options,
    flow_error,
    is_async,
    retry_predicate,
    run_sync,
    wait_done,
)
from ._runtime import CURRENT, wait_inline

T = TypeVar("T")

#: An action's ``uses``: a list of keys, or a function of a call's arguments that returns them.
Uses = Union[Iterable[str], Callable[..., Iterable[str]]]


class _Action:
    __slots__ = ("cache", "fn", "is_async", "name", "options", "retry_if", "uses")

    def __init__(
        self,
        fn: Callable[..., Any],
        name: str,
        options: Any,
        retry_if: Any,
        cache: bool,
        uses: Optional[Callable[..., Any]] = None,
    ) -> None:
        self.fn = fn
        self.name = name
        self.options = options
        self.retry_if = retry_if
        self.cache = cache
        self.is_async = is_async(fn)
        self.uses = uses

    def call_args(self, args: tuple[Any, ...], kwargs: dict[str, Any], run: Any) -> tuple[Any, ...]:
        """What the driver's ``Run.call`` / ``Run.calls`` take for one call of this action.

        With a ``uses`` function, the call holds the keys it returns for these arguments
        (whatever it raises propagates to the caller; no task is made); a cached call that
        joins a task already made does not ask it (as in the Node door)."""
        key = None
        if self.cache:
            try:
                key = (id(self), args, tuple(sorted(kwargs.items())))
                hash(key)
            except TypeError:
                key = None
        options = self.options
        if self.uses is not None and (key is None or not run.is_cached(key)):
            options = options.with_uses(self.uses(*args, **kwargs))
        return (self.fn, self.is_async, args, kwargs or None, self.name, options, self.retry_if, key)

    def spawn(
        self, cx: Any, args: tuple[Any, ...], kwargs: dict[str, Any], future: bool
    ) -> tuple[int, Any, Any]:
        run = cx._run()
        tid, handle = run.call(*self.call_args(args, kwargs, run), future, cx)
        return tid, handle, run

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        cx = _legato._current_any()
        if cx is None:
            return self.fn(*args, **kwargs)
        on_loop = cx._run().on_loop_thread()
        if on_loop and not self.is_async and not _awaited_by_caller(2):
            # A sync action called from async code: its value, the loop blocked meanwhile.
            tid, handle, run = self.spawn(cx, args, kwargs, False)
            return wait_inline(run, [handle], [tid], None, True)
        tid, handle, run = self.spawn(cx, args, kwargs, on_loop)
        if on_loop:
            return handle
        return run.wait_one(handle, tid)


#: Per code object: the offsets inside the calls whose result its next instruction awaits.
_AWAIT_AFTER: dict[types.CodeType, frozenset[int]] = {}


def _awaited_by_caller(depth: int) -> bool:
    """Whether the code ``depth`` frames up awaits this call's result at once (``await
    step_a()``): then a sync action's call gives an awaitable of its value without blocking the
    loop, as before values were given, so code written for awaitables keeps working."""
    try:
        frame = sys._getframe(depth + 1)
    except ValueError:  # pragma: no cover - there is always a caller
        return False
    code = frame.f_code
    offsets = _AWAIT_AFTER.get(code)
    if offsets is None:
        found: set[int] = set()
        prev: Optional[dis.Instruction] = None
        for ins in dis.get_instructions(code):
            if ins.opname == "GET_AWAITABLE" and prev is not None and prev.opname.startswith("CALL"):
                # Where the frame's last instruction can point during the call: the call,
                # the last unit of its inline cache (CPython 3.11), or the await itself.
                found.update(range(prev.offset, ins.offset + 1, 2))
            prev = ins
        offsets = frozenset(found)
        if len(_AWAIT_AFTER) >= 4096:
            _AWAIT_AFTER.clear()
        _AWAIT_AFTER[code] = offsets
    return frame.f_lasti in offsets


def _wrap(action: _Action) -> Callable[..., Any]:
    fn = action.fn

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return action(*args, **kwargs)

    wrapper.__legato_action__ = action  # type: ignore[attr-defined]
    return wrapper


_ACTION_OPTIONS = frozenset(
    ("name", "retries", "backoff", "retry_if", "timeout", "sequences", "description", "cache", "uses")
)


class Orchestrator(Hooks):
    """Imperative orchestration: wrap callables as actions and call them from ``main``.

    Inside :meth:`run` each action call is a tracked task (hooks, retries, timeout, report);
    actions may call actions (recursion works under ``max_parallel=1``: a caller waiting for
    its children holds no slot). Outside a run an action simply calls its function.

    An action call gives what the function gives: a sync action's call returns the value (it
    blocks; the body runs on the worker pool), from async code too; an async action's call
    returns an awaitable (see :meth:`action`).

    Args: as :class:`Flow` (``max_parallel``, ``fail_fast``, ``timeout``, ``state``,
    ``executor``, ``max_depth``: action calls nested deeper than this raise ``RecursionError``,
    ``call depth exceeded 10000 (max_depth)``, in their caller; default 10,000; ``limits``: the
    capacities of the keys actions ``uses``; ``priority`` and ``costs``).
    """

    def __init__(
        self,
        max_parallel: Optional[int] = None,
        fail_fast: bool = False,
        timeout: Optional[float] = None,
        state: Optional[dict[str, Any]] = None,
        executor: Any = None,
        max_depth: Optional[int] = None,
        limits: Optional[Mapping[str, int]] = None,
        priority: str = "fifo",
        costs: Optional[_legato.RunReport] = None,
    ) -> None:
        super().__init__()
        (self.max_parallel, self.fail_fast, self.timeout, self._state, self.executor, self.max_depth) = (
            check_run_options(max_parallel, fail_fast, timeout, state, executor, max_depth)
        )
        self.limits, self.priority, self.costs, self._rules = check_rules(limits, priority, costs)
        self.last_report: Optional[_legato.RunReport] = None

    # ----- state --------------------------------------------------------------------------

    def set_state(self, key: str, value: Any) -> Orchestrator:
        """Set ``state[key] = value``; returns the orchestrator (chainable)."""
        self._state[key] = value
        return self

    def get_state(self) -> dict[str, Any]:
        """The shared state: the live dict itself."""
        return self._state

    # ----- actions ------------------------------------------------------------------------

    @overload
    def action(self, fn: F, /) -> F: ...

    @overload
    def action(
        self,
        *,
        name: Optional[str] = None,
        retries: Optional[int] = None,
        backoff: Optional[_legato.Backoff] = None,
        retry_if: Any = None,
        timeout: Optional[float] = None,
        sequences: Optional[Iterable[str]] = None,
        description: Optional[str] = None,
        cache: bool = False,
        uses: Optional[Uses] = None,
    ) -> Callable[[F], F]: ...

    @overload
    def action(
        self,
        fn: F,
        /,
        *,
        name: Optional[str] = None,
        retries: Optional[int] = None,
        backoff: Optional[_legato.Backoff] = None,
        retry_if: Any = None,
        timeout: Optional[float] = None,
        sequences: Optional[Iterable[str]] = None,
        description: Optional[str] = None,
        cache: bool = False,
        uses: Optional[Uses] = None,
    ) -> F: ...

    def action(self, fn: Any = None, /, **options: Any) -> Any:  # type: ignore[misc]
        """Wrap ``fn`` as an action: ``@orch.action``, ``@orch.action(retries=2)`` or
        ``orch.action(fn, timeout=5.0)``.

        Returns a wrapper with ``fn``'s name and signature. Options as :meth:`Flow.add`
        (``name``, ``retries``, ``backoff``, ``retry_if``, ``timeout``, ``sequences``,
        ``description``), plus ``cache=True``: identical calls (same arguments) within one run
        share one task; and ``uses``: the keys each call holds while it runs, a list, or a
        function of the call's arguments that returns them (``uses=lambda user_id:
        [f"user:{user_id}"]``: never two calls for one user at once; with the orchestrator's
        ``limits`` for a key, that many).

        Called while a task runs (an action, a flow's step), the call is a child task of that
        caller, which gives its slot back while it waits. A sync action's call returns the
        value, also from async code on the run's loop (an async ``main``, action or step): like
        any sync function called there, it blocks the loop until it is done (its body runs on
        the worker pool; meanwhile the loop thread calls the run's hooks and fires its timers,
        so the call's hooks, retries and timeout work as from sync code). So
        ``step_a() + await step_b()`` works, and the wrapper's type is ``fn``'s. What needs the
        loop cannot happen while it is blocked: a call that could only end once the loop runs
        again (its body calls an async action; it waits for a slot or key an async call holds;
        a retry delay on a virtual clock) raises ``RuntimeError`` saying so, never hangs; call
        such an action with ``await asyncio.to_thread(step_a)``, which does not block the loop.
        A call whose result is awaited at once (``await step_a()``, code written for
        awaitables) does not block the loop either: it gives an awaitable of the value.
        """
        unknown = sorted(set(options) - _ACTION_OPTIONS)
        if unknown:
            raise TypeError(
                f"action() got an unknown option {unknown[0]!r} (options: {', '.join(sorted(_ACTION_OPTIONS))})"
            )
        if fn is not None:
            return self._make(fn, **options)
        return lambda f: self._make(f, **options)

    def _make(
        self,
        fn: Any,
        *,
        name: Optional[str] = None,
        retries: Optional[int] = None,
        backoff: Optional[_legato.Backoff] = None,
        retry_if: Any = None,
        timeout: Optional[float] = None,
        sequences: Optional[Iterable[str]] = None,
        description: Optional[str] = None,
        cache: bool = False,
        uses: Optional[Uses] = None,
    ) -> Any:
        check_callable("fn", fn)
        if name is None:
            n = getattr(fn, "__name__", None)
            name = n if isinstance(n, str) and n != "<lambda>" else "anonymous"
        else:
            # A dynamic task's name is checked as a step's is, now rather than at each call.
            _legato.check_name("name", name)
        if not isinstance(cache, bool):
            raise TypeError(f"cache: expected a bool, got {type(cache).__name__}")
        if description is not None and not isinstance(description, str):
            raise TypeError(f"description: expected a str, got {type(description).__name__}")
        keys_of: Optional[Callable[..., Iterable[str]]] = None
        keys: Optional[Iterable[str]] = None
        if callable(uses):
            keys_of = uses  # the keys of each call, from its arguments
        else:
            keys = uses
        options = _legato.task_options(
            retries=retries, backoff=backoff, timeout=timeout, sequences=sequences, uses=keys
        )
        return _wrap(_Action(fn, name, options, retry_predicate(retry_if), cache, keys_of))

    def _as_action(self, a: Any) -> _Action:
        act = getattr(a, "__legato_action__", None)
        if isinstance(act, _Action):
            return act
        check_callable("actions", a)
        return self._make(a).__legato_action__  # type: ignore[no-any-return]

    def parallel(
        self, actions: Sequence[Callable[..., Any]], *, fail_fast: bool = False
    ) -> Callable[..., Any]:
        """A callable that calls action ``i`` with argument ``i``, all at once, and gives back the
        results in order.

        Without ``fail_fast`` every call runs to its end and a failure's exception takes its
        place in the results (like ``asyncio.gather(return_exceptions=True)``); with it, the
        calls are a fail-fast group of the core's: the first error cancels the other calls this
        caller made (a cached call another caller made runs on) and is raised. Plain functions are accepted (each
        call is a tracked task). In async code the callable returns an awaitable when one of the
        actions is async, or when its result is awaited at once (``await both(a, b)``); with
        sync actions only it returns the list, the loop blocked meanwhile (as
        :meth:`action` says of one call).
        """
        if not isinstance(fail_fast, bool):
            raise TypeError(f"fail_fast: expected a bool, got {type(fail_fast).__name__}")
        acts = [self._as_action(a) for a in actions]
        any_async = any(a.is_async for a in acts)

        def call(*args: Any) -> Any:
            if len(args) != len(acts):
                raise TypeError(f"expected {len(acts)} arguments (one per action), got {len(args)}")
            cx = _legato._current_any()
            if cx is None:
                return _outside(acts, args, fail_fast)
            run = cx._run()
            on_loop = run.on_loop_thread()
            # Sync actions only, called from async code: their values, the loop blocked meanwhile.
            inline = on_loop and not any_async and not _awaited_by_caller(1)
            future = on_loop and not inline
            # All the calls at once (no call starts before the last is made, from a sync
            # caller's thread too); with fail_fast a group of the core's: it cancels the others.
            made, group = run.calls(
                [a.call_args((x,), {}, run) for a, x in zip(acts, args)], future, cx, fail_fast
            )
            tids = [t for t, _ in made]
            if inline:
                return wait_inline(run, [h for _, h in made], tids, group, False)
            if future:
                return _gather(run, [h for _, h in made], tids, group)
            return run.wait([h for _, h in made], tids, group)

        return call

    # ----- running ------------------------------------------------------------------------

    @overload
    def run(self, main: Callable[[], Awaitable[T]]) -> T: ...

    @overload
    def run(self, main: Callable[[], T]) -> T: ...

    def run(self, main: Callable[[], Any]) -> Any:
        """Run ``main`` (sync or async) with its action calls tracked; returns main's value or
        raises main's own exception. Hooks see process_completion either way; the report is
        then in :attr:`last_report`. Makes an event loop; from async code use :meth:`run_async`.

        ``main`` starts once the process_begin hooks (async ones included) are done. When the
        run stops early, main is stopped too and the run's error is raised: on its timeout
        :class:`TaskTimeoutError` (``run timed out after 100ms``), with ``fail_fast`` the
        failing action's own exception, when a hook raised :class:`FlowError` whose message is
        the run's error, ``hook for event "task_begin" failed: …`` (the hook's exception is its
        ``__cause__``). An async main is cancelled; a sync main, which runs on a thread of its
        own, cannot be: the run does not wait for it. The action calls main had
        in flight end ``cancelled``, as do those a main that raised left running (the report's
        ``stop`` is ``main failed``). The core decides all of this: when main starts, when it
        is cancelled, and the run's error.
        """
        check_callable("main", main)
        return run_sync(lambda: self.run_async(main), "run")

    @overload
    async def run_async(self, main: Callable[[], Awaitable[T]]) -> T: ...

    @overload
    async def run_async(self, main: Callable[[], T]) -> T: ...

    async def run_async(self, main: Callable[[], Any]) -> Any:
        """Run ``main`` on the running event loop; see :meth:`run`. Cancelling the awaiting task
        cancels the run and main."""
        check_callable("main", main)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        # The core says when main starts (after process_begin) and when it is cancelled (the
        # run stopped); the driver reports its end.
        run: Any = None
        run = _legato.Run(
            None,
            [],
            [],
            self._hooks_now(),
            self._state,
            done,
            max_parallel=self.max_parallel,
            fail_fast=self.fail_fast,
            timeout=self.timeout,
            executor=self.executor,
            main=lambda: _start_main(loop, run, main),
            title="orchestrator",
            max_depth=self.max_depth,
            rules=self._rules,
        )
        run.start()
        try:
            await wait_done(run, done)
        finally:
            self.last_report = run.report()
        interrupt = run.take_interrupt()
        if interrupt is not None:  # an action's KeyboardInterrupt / SystemExit stopped the run
            raise interrupt
        err = run.stop_error()
        if err is not None:
            raise err
        hook = run.hook_error()
        if hook is not None:  # a hook raised (before or after main returned): the run's error
            raise flow_error(self.last_report, None, hook)
        task = run.main_future()
        if task is None:  # pragma: no cover - the core starts main unless the run stopped
            raise _legato.CancelledError("main did not start")
        return task.result()  # main's value, or its own exception


def _start_main(loop: asyncio.AbstractEventLoop, run: Any, main: Callable[[], Any]) -> asyncio.Future[Any]:
    """Starts ``main`` with the main context current: an async main as a task on the loop, a
    sync one on a daemon thread of its own (it cannot be killed: a run that stops does not
    wait for it, nor does interpreter exit). An awaitable a sync main returns is awaited as a
    task too. Whatever main raises once it no longer matters is retrieved, never logged."""
    token = CURRENT.set(run.main_context())
    try:
        if is_async(main):
            task: asyncio.Future[Any] = loop.create_task(main())
        else:
            task = loop.create_future()
            cx = contextvars.copy_context()
            threading.Thread(
                target=_call_main, args=(loop, task, cx, main), name="legato-main", daemon=True
            ).start()
    finally:
        CURRENT.reset(token)
    task.add_done_callback(_retrieve)
    return task


def _call_main(
    loop: asyncio.AbstractEventLoop, fut: asyncio.Future[Any], cx: Any, main: Callable[[], Any]
) -> None:
    """The thread of a sync main: calls it, then hands its outcome to the loop (if the run
    still waits for it)."""
    try:
        value, exc = cx.run(main), None
    except BaseException as e:
        value, exc = None, e
    try:
        loop.call_soon_threadsafe(_main_done, fut, value, exc, context=cx)
    except RuntimeError:  # the loop is closed: the run is over
        pass


def _main_done(fut: asyncio.Future[Any], value: Any, exc: Optional[BaseException]) -> None:
    if fut.done():
        return
    if exc is not None:
        fut.set_exception(exc)
    elif inspect.isawaitable(value):
        inner = asyncio.ensure_future(value)  # in main's context (see _call_main)
        inner.add_done_callback(lambda f: _chain(f, fut))
        fut.add_done_callback(lambda f: inner.cancel())
    else:
        fut.set_result(value)


def _chain(src: asyncio.Future[Any], dst: asyncio.Future[Any]) -> None:
    if dst.done():
        _retrieve(src)
    elif src.cancelled():
        dst.cancel()
    elif src.exception() is not None:
        dst.set_exception(src.exception())  # type: ignore[arg-type]
    else:
        dst.set_result(src.result())


def _retrieve(f: asyncio.Future[Any]) -> None:
    if not f.cancelled():
        f.exception()


async def _gather(run: Any, futs: list[Any], tids: list[int], group: Optional[int]) -> list[Any]:
    """The results of a ``parallel`` call on the loop: every call's, errors in place; for a
    fail-fast group, the error of the member the core says failed first."""
    if group is None:
        return list(await asyncio.gather(*futs, return_exceptions=True))
    pending = set(futs)
    while pending:
        _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
        failed = run.group_failure(group)
        if failed is not None:
            f = futs[tids.index(failed)]
            if f.done():
                for g in futs:  # the others' errors are the group's failure's consequence
                    if g.done() and not g.cancelled():
                        g.exception()
                exc = f.exception()
                assert exc is not None
                raise exc
    return [f.result() for f in futs]


def _outside(acts: list[_Action], args: tuple[Any, ...], fail_fast: bool) -> Any:
    if any(a.is_async for a in acts):

        async def go() -> list[Any]:
            async def one(a: _Action, x: Any) -> Any:
                r = a.fn(x)
                return await r if inspect.isawaitable(r) else r

            return list(
                await asyncio.gather(
                    *(one(a, x) for a, x in zip(acts, args)), return_exceptions=not fail_fast
                )
            )

        return go()
    out: list[Any] = []
    for a, x in zip(acts, args):
        try:
            out.append(a.fn(x))
        except Exception as e:
            if fail_fast:
                raise
            out.append(e)
    return out
