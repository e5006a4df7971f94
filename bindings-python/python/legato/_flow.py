"""``Flow``: a declared DAG of steps (decorated functions), run by the Rust core."""

from __future__ import annotations

import asyncio
import inspect
from inspect import CO_COROUTINE
from types import FunctionType
from typing import Any, Callable, Generator, Iterable, Mapping, Optional, Union, overload

from . import _legato, _runtime
from ._common import (
    F,
    Hooks,
    check_callable,
    check_rules,
    check_run_options,
    check_when,
    flow_error,
    is_async,
    no_running_loop,
    retry_predicate,
    run_sync,
    wait_done,
)

Dep = Union[str, Callable[..., Any], "SyncPoint", Iterable[Any]]


class SyncPoint:
    """A set of steps that something can run after: ``after=[point]`` waits for all of them."""

    __slots__ = {"names": "The names of the steps the point waits for."}

    def __init__(self, names: Iterable[str]) -> None:
        self.names: tuple[str, ...] = tuple(names)

    def __repr__(self) -> str:
        return f"SyncPoint({list(self.names)!r})"


class Group:
    """Steps arranged by ``follow`` (a chain) or ``parallel`` (side by side).

    ``.after(*deps)`` makes the group start after ``deps`` and returns a :class:`SyncPoint` of
    the group's ends, usable in ``after=``.
    """

    __slots__ = ("_flow", "_heads", "_tails")

    def __init__(self, flow: Flow, heads: list[str], tails: list[str]) -> None:
        self._flow = flow
        self._heads = heads
        self._tails = tails

    def after(self, *deps: Dep) -> SyncPoint:
        """Start this group after ``deps`` (steps, names or sync points)."""
        names = self._flow._dep_names(deps, "after")
        for h in self._heads:
            self._flow._add_deps(h, names)
        return SyncPoint(self._tails)

    @property
    def point(self) -> SyncPoint:
        """A sync point of the group's ends."""
        return SyncPoint(self._tails)


class RunHandle:
    """A run in flight (from :meth:`Flow.spawn`): await it for the report, or cancel it."""

    __slots__ = ("_done", "_run", "_title")

    def __init__(self, run: _legato.Run, done: asyncio.Future[None], title: str) -> None:
        self._run = run
        self._done = done
        self._title = title

    def cancel(self) -> None:
        """Cancel the run: running tasks are cancelled, the rest skipped; hooks still see
        process_completion."""
        self._run.cancel()

    def done(self) -> bool:
        """Whether the run is finished."""
        return self._done.done()

    def report(self) -> _legato.RunReport:
        """The report so far (final once the run is finished)."""
        return self._run.report()

    async def _wait(self) -> _legato.RunReport:
        await wait_done(self._run, self._done)
        interrupt = self._run.take_interrupt()
        if interrupt is not None:  # a step's KeyboardInterrupt / SystemExit stopped the run
            raise interrupt
        return _final_report(self._run, self._title)

    def __await__(self) -> Generator[Any, None, _legato.RunReport]:
        return self._wait().__await__()


def _check_report(resume: Any) -> None:
    """``resume`` must be a :class:`RunReport`: a TypeError naming the argument."""
    if not isinstance(resume, _legato.RunReport):
        raise TypeError(f"resume: expected a RunReport, got {type(resume).__name__}")


def _final_report(run: _legato.Run, title: str) -> _legato.RunReport:
    """The report of a finished run; raises :class:`FlowError` unless it is ok (every task
    succeeded or was skipped by a condition or trigger rule)."""
    report = run.report()
    if not report.ok:
        raise flow_error(report, title, run.hook_error())
    return report


class _Step:
    __slots__ = ("fn", "index", "is_async", "name", "params", "pending", "retry_if", "when")

    def __init__(
        self,
        name: str,
        fn: Callable[..., Any],
        index: int,
        params: list[tuple[str, Optional[str]]],
        retry_if: Optional[Callable[[BaseException], bool]],
        fn_async: bool,
        when: Optional[Callable[[Any], Any]] = None,
    ) -> None:
        self.name = name
        self.fn = fn
        self.index = index
        self.is_async = fn_async
        self.params = params
        self.retry_if = retry_if
        self.when = when
        # Parameters with a default that named no step when this one was added.
        self.pending: Optional[list[str]] = None


def _fn_name(fn: Any) -> str:
    name = getattr(fn, "__name__", None)
    if not isinstance(name, str) or name == "<lambda>":
        return "anonymous"
    return name


# A plain function's parameters as Flow reads them: whether it is ``async def``, and per
# parameter (``*args`` and ``**kwargs`` left out) its name, whether it has a default, whether
# it is positional-only.
_Sig = tuple[bool, tuple[tuple[str, bool, bool], ...]]
_NO_PARAMS: list[tuple[str, Optional[str]]] = []


def _signature(fn: Any) -> Optional[_Sig]:
    """What ``inspect.signature`` and ``inspect.iscoroutinefunction`` say of a plain function,
    read from its code object (a hundred times cheaper); None for any other callable, and for
    a function with attributes of its own (``__wrapped__``, ``__signature__``, a coroutine
    mark), which only ``inspect`` reads right."""
    if type(fn) is not FunctionType or fn.__dict__:
        return None
    code = fn.__code__
    fn_async = bool(code.co_flags & CO_COROUTINE)
    n_pos = code.co_argcount
    n = n_pos + code.co_kwonlyargcount
    if not n:
        return fn_async, ()
    names = code.co_varnames  # positional parameters, then keyword-only ones, then the rest
    first_default = n_pos - len(fn.__defaults__ or ())
    kwdefaults = fn.__kwdefaults__ or {}
    n_posonly = code.co_posonlyargcount
    return fn_async, tuple(
        (names[i], i >= first_default if i < n_pos else names[i] in kwdefaults, i < n_posonly)
        for i in range(n)
    )


def _inspect_signature(fn: Any) -> _Sig:
    """:func:`_signature` for any callable, by ``inspect.signature`` (no parameters when it
    has none to give); ``_Sig``'s first item is left False."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return False, ()
    return False, tuple(
        (p.name, p.default is not p.empty, p.kind is p.POSITIONAL_ONLY)
        for p in sig.parameters.values()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    )


def _plain_names(after: Any) -> Optional[list[str]]:
    """``after`` as a new list of names without repeats when it is None or a list or tuple of
    names (the common case, without a walk); None otherwise."""
    if after is None:
        return []
    if type(after) is list or type(after) is tuple:
        for d in after:
            if type(d) is not str:
                return None
        return list(dict.fromkeys(after)) if len(after) > 1 else list(after)
    return None


def _name_errors(name: str, deps: list[str], description: Optional[str]) -> None:
    """After the core refused a step (or a name could not cross): raises the error naming the
    argument whose name is not a valid task name (a lone surrogate included), if one is not."""
    _legato.check_name("name", name)
    for d in deps:
        if not d.isascii():
            _legato.check_name("after", d)
    if description is not None:
        try:
            description.encode()
        except UnicodeEncodeError as e:
            raise ValueError(
                f"description: not valid Unicode (a lone surrogate at index {e.start})"
            ) from None


def _targets_valid(targets: Iterable[str], argument: str) -> None:
    """Raises the error naming ``argument`` (``targets[i]``) for a target that is not valid
    Unicode (a lone surrogate cannot cross); a valid one that is no task is the core's
    ``UnknownTaskError``."""
    for i, t in enumerate(targets):
        try:
            t.encode()
        except UnicodeEncodeError:
            _legato.check_name(f"{argument}[{i}]", t)


def _ctx_on_executor(name: str) -> str:
    # The executor runs the body elsewhere (a process, a Dask worker): the context, a live
    # handle on this run, cannot go with it.
    return (
        f'{name}: a sync step that takes "ctx" cannot run on executor= (its context'
        " does not leave this process); read what it needs from its parameters"
    )


def _not_a_step(name: str, param: str) -> str:
    return (
        f'{name}: parameter "{param}" is neither "ctx" nor the name of an upstream step'
        " (give it a default, or add that step first)"
    )


class Flow(Hooks):
    """A declared graph of steps.

    Steps are functions, sync or ``async def``; dependencies are given by function, by name or
    by sync point. A parameter named ``ctx`` receives the step's :class:`TaskContext`; one named
    after an upstream step receives that step's result (it becomes a dependency). A parameter
    with a default may name a step added later: names are resolved when the flow is planned,
    drawn or run; one without a default must name a step already added or listed in ``after``.

    Args:
        name: the flow's name (reports, errors).
        max_parallel: at most this many steps run at once (default: unlimited).
        fail_fast: the first failure cancels running steps and skips the rest.
        timeout: a limit on the whole run, in seconds.
        state: the shared mutable context (a dict), visible to steps (``ctx.state``) and hooks.
        executor: a ``concurrent.futures.Executor`` that runs the sync steps instead of the
            built-in worker pool (``ProcessPoolExecutor``, Dask's ``client.get_executor()``).
            A sync step that takes ``ctx`` is then refused when defined (``TypeError``): its
            context does not leave this process; upstream results come as parameters.
        max_depth: calls nested deeper than this fail at once with ``RecursionError``
            (``call depth exceeded 10000 (max_depth)``; default 10,000).
        limits: key capacities, ``{"db": 2}``: at most 2 steps that ``uses=["db"]`` run at
            once (a key not listed has capacity 1: a sequence). A capacity is a whole number
            >= 1.
        priority: the order ready steps start in when slots are short: ``"fifo"`` (the
            default: the order they became ready) or ``"critical_path"`` (first the step with
            the longest remaining path to the end, counting each step's ``cost``).
        costs: a previous run's :class:`RunReport`: under ``critical_path`` a step without a
            ``cost`` costs what it took then (else the mean of the known costs, or 1 second).
    """

    def __init__(
        self,
        name: str = "flow",
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
        if not isinstance(name, str):
            raise TypeError(f"name: expected a str, got {type(name).__name__}")
        self.name = name
        (self.max_parallel, self.fail_fast, self.timeout, self.state, self.executor, self.max_depth) = (
            check_run_options(max_parallel, fail_fast, timeout, state, executor, max_depth)
        )
        self.limits, self.priority, self.costs, self._rules = check_rules(limits, priority, costs)
        self._core = _legato.FlowCore()
        self._steps: list[_Step] = []
        self._bodies: Optional[_legato.Bodies] = None
        self._by_name: dict[str, _Step] = {}
        self._by_fn: dict[Any, str] = {}
        self._pending: list[_Step] = []  # steps with parameters resolved at plan or run time

    # ----- definition ---------------------------------------------------------------------

    @overload
    def step(self, fn: F, /) -> F: ...

    @overload
    def step(
        self,
        *,
        name: Optional[str] = None,
        after: Optional[Iterable[Dep]] = None,
        retries: Optional[int] = None,
        backoff: Optional[_legato.Backoff] = None,
        retry_if: Any = None,
        timeout: Optional[float] = None,
        sequences: Optional[Iterable[str]] = None,
        description: Optional[str] = None,
        uses: Optional[Iterable[str]] = None,
        when: Optional[Callable[[_legato.TaskContext], Any]] = None,
        trigger: Optional[str] = None,
        cost: Optional[float] = None,
    ) -> Callable[[F], F]: ...

    def step(self, fn: Any = None, /, **options: Any) -> Any:  # type: ignore[misc]
        """Declare a step: ``@flow.step`` or ``@flow.step(after=[...], retries=3, ...)``.

        Returns the function unchanged. Options as :meth:`add`.
        """
        if fn is not None:
            self.add(fn, **options)
            return fn

        def decorate(f: F) -> F:
            self.add(f, **options)
            return f

        return decorate

    def add(
        self,
        fn: F,
        *,
        name: Optional[str] = None,
        after: Optional[Iterable[Dep]] = None,
        retries: Optional[int] = None,
        backoff: Optional[_legato.Backoff] = None,
        retry_if: Any = None,
        timeout: Optional[float] = None,
        sequences: Optional[Iterable[str]] = None,
        description: Optional[str] = None,
        uses: Optional[Iterable[str]] = None,
        when: Optional[Callable[[_legato.TaskContext], Any]] = None,
        trigger: Optional[str] = None,
        cost: Optional[float] = None,
    ) -> F:
        """Add ``fn`` as a step (the non-decorator form); returns ``fn`` unchanged.

        Args:
            name: the step's name (default: the function's name, ``anonymous`` for a lambda).
            after: dependencies: steps (functions), names, or sync points.
            retries: extra attempts after a failure (default 0).
            backoff: the delay before each retry (:class:`Backoff`).
            retry_if: retry only for this exception class, tuple of classes, or when this
                predicate of the exception is true.
            timeout: seconds per attempt.
            sequences: mutual-exclusion keys: exactly ``uses`` (kept as an alias).
            description: a line of text for drawings and reports.
            uses: keys the step holds while it runs, a list (``["db"]``): at most the key's
                capacity (the flow's ``limits``, else 1) steps holding it run at once. A step
                waiting for a key holds no slot.
            when: a condition, ``lambda ctx: ...``: called once when the step is ready (after
                ``task_ready``) with its :class:`TaskContext` (``ctx.results`` so far,
                ``ctx.state``); false skips the step (reason ``condition false``, a branch
                not taken: the run stays ok). A predicate that raises fails the step with its
                exception. Conditions are synchronous, as in every door: an ``async def``
                predicate is refused (TypeError), and one that returns an awaitable fails the
                step; compute such a value in a step before it and read it from ``ctx.results``.
            trigger: when the step may run once its dependencies ended: ``"all_succeeded"``
                (default), ``"all_done"`` (whatever they did: cleanup; also under fail_fast),
                ``"any_succeeded"``, ``"none_failed"`` (succeeded or skipped by a condition).
            cost: the step's cost in seconds (>= 0) for the flow's ``critical_path`` priority.
        """
        if not callable(fn):
            raise TypeError(f"fn: expected a callable, got {type(fn).__name__}")
        if name is None:
            name = _fn_name(fn)
        elif not isinstance(name, str):
            raise TypeError(f"name: expected a str, got {type(name).__name__}")
        if description is not None and not isinstance(description, str):
            raise TypeError(f"description: expected a str, got {type(description).__name__}")
        if after is None or (type(after) is list and not after):
            deps: list[str] = []
        else:
            plain = _plain_names(after)
            deps = self._dep_names(after, "after") if plain is None else plain
        predicate = None if retry_if is None else retry_predicate(retry_if)
        if when is not None:
            check_when(when)
        if (
            retries is None
            and backoff is None
            and timeout is None
            and sequences is None
            and uses is None
            and when is None
            and trigger is None
            and cost is None
        ):
            options = None  # the defaults: no options object to make and check
        else:
            options = _legato.task_options(
                retries=retries,
                backoff=backoff,
                timeout=timeout,
                sequences=sequences,
                uses=uses,
                trigger=trigger,
                cost=cost,
                conditional=when is not None,
            )
        sig = _signature(fn)
        if sig is None:
            fn_async = is_async(fn)
            params, pending = self._params_of(_inspect_signature(fn), fn_async, name, deps)
        else:
            fn_async = sig[0]
            params, pending = self._params_of(sig, fn_async, name, deps) if sig[1] else (_NO_PARAMS, None)
        for _, src in params:
            if src is not None and src not in deps:
                deps.append(src)
        try:
            index = self._core.add(name, deps, options, description)
        except (ValueError, UnicodeEncodeError):
            _name_errors(name, deps, description)  # the error naming the argument, if a name is bad
            raise
        st = _Step(name, fn, index, params, predicate, fn_async, when)
        self._steps.append(st)
        self._bodies = None
        self._by_name[name] = st
        if pending:
            st.pending = pending
            self._pending.append(st)
        try:
            self._by_fn[fn] = name
        except TypeError:  # unhashable callable
            pass
        return fn

    def _params_of(
        self, sig: _Sig, fn_async: bool, name: str, deps: list[str]
    ) -> tuple[list[tuple[str, Optional[str]]], Optional[list[str]]]:
        """The injected parameters of a plain function (see :func:`_signature`), and those with
        a default that name no step yet: they are resolved when the flow is planned or run."""
        out: list[tuple[str, Optional[str]]] = []
        pending: Optional[list[str]] = None
        by_name = self._by_name
        for pname, has_default, positional_only in sig[1]:
            if pname == "ctx":
                if self.executor is not None and not fn_async:
                    raise TypeError(_ctx_on_executor(name))
                src: Optional[str] = None
            elif pname in by_name or pname in deps:
                src = pname
            elif has_default:
                if not positional_only and pname != name:
                    pending = [pname] if pending is None else [*pending, pname]
                continue
            else:
                raise TypeError(_not_a_step(name, pname))
            if positional_only:
                raise TypeError(f'{name}: parameter "{pname}" is positional-only; legato passes it by name')
            out.append((pname, src))
        return out, pending

    def _resolve(self) -> None:
        """Gives each parameter with a default that names a step, whenever that step was
        added, the step's result and the dependency (DESIGN: a parameter named after a step
        gets its result), so the order of definition does not matter."""
        still: list[_Step] = []
        for st in self._pending:
            assert st.pending is not None
            left = []
            for pname in st.pending:
                if pname in self._by_name:
                    st.params = [*st.params, (pname, pname)]
                    self._add_deps(st.name, [pname])
                    self._bodies = None
                else:
                    left.append(pname)
            st.pending = left or None
            if left:
                still.append(st)
        self._pending = still

    def _dep_names(self, deps: Any, arg: str) -> list[str]:
        out: list[str] = []

        def visit(d: Any) -> None:
            if isinstance(d, str):
                out.append(d)
            elif isinstance(d, SyncPoint):
                out.extend(d.names)
            elif isinstance(d, Group):
                out.extend(d._tails)
            elif callable(d):
                try:
                    n = self._by_fn.get(d)
                except TypeError:
                    n = None
                if n is None:
                    raise TypeError(f"{arg}: {_fn_name(d)!r} is not a step of this flow (add it first)")
                out.append(n)
            elif isinstance(d, Iterable):
                for x in d:
                    visit(x)
            else:
                raise TypeError(f"{arg}: expected steps, names or sync points, got {type(d).__name__}")

        visit(deps)
        seen: set[str] = set()
        return [n for n in out if not (n in seen or seen.add(n))]  # type: ignore[func-returns-value]

    def _add_deps(self, name: str, deps: list[str]) -> None:
        st = self._by_name[name]
        self._core.add_deps(st.index, [d for d in deps if d != name])

    def _name_of(self, s: Any) -> str:
        if isinstance(s, str):
            if s not in self._by_name:
                _targets_valid([s], "steps")
                self._core.position(s)  # UnknownTaskError: Task "nope" not found (did you mean …?)
            return s
        check_callable("steps", s)
        try:
            n = self._by_fn.get(s)
        except TypeError:
            n = None
        if n is None:
            self.add(s)
            n = self._steps[-1].name
        return n

    def follow(self, *steps: Any) -> Group:
        """Chain steps: each runs after the previous one (LightFlow's ``follow``).

        Functions not yet in the flow are added. ``.after(...)`` on the result makes the first
        one wait for other steps.
        """
        names = [self._name_of(s) for s in steps]
        for a, b in zip(names, names[1:]):
            self._add_deps(b, [a])
        return Group(self, names[:1], names[-1:])

    def parallel(self, *steps: Any) -> Group:
        """Group steps side by side; ``.after(...)`` starts them all after the same steps and
        returns a :class:`SyncPoint` of all of them."""
        names = [self._name_of(s) for s in steps]
        return Group(self, names, names)

    def sync_all(self, fn: F) -> F:
        """Add ``fn`` (if needed) after every step added so far; returns ``fn``."""
        check_callable("fn", fn)
        before = [s.name for s in self._steps]
        name = self._name_of(fn)
        self._add_deps(name, [n for n in before if n != name])
        return fn

    # ----- queries ------------------------------------------------------------------------

    @property
    def steps(self) -> list[str]:
        """The step names, in declaration order."""
        return [s.name for s in self._steps]

    def plan(self, *targets: str) -> list[list[str]]:
        """The dry run: the levels that would run for ``targets`` (all when none), in order."""
        if self._pending:
            self._resolve()
        try:
            return self._core.plan(list(targets))
        except UnicodeEncodeError:
            _targets_valid(targets, "targets")
            raise

    def to_mermaid(self) -> str:
        """The graph as a Mermaid flowchart."""
        if self._pending:
            self._resolve()
        return self._core.render("mermaid")

    def to_dot(self) -> str:
        """The graph in Graphviz DOT."""
        if self._pending:
            self._resolve()
        return self._core.render("dot")

    def to_ascii(self) -> str:
        """The graph drawn for a terminal."""
        if self._pending:
            self._resolve()
        return self._core.render("ascii")

    # ----- running ------------------------------------------------------------------------

    def run(self, *targets: str, resume: Optional[_legato.RunReport] = None) -> _legato.RunReport:
        """Run the flow (or ``targets`` and their dependencies) and return the report.

        Raises :class:`FlowError` (with ``.report``) unless every task succeeded or was skipped
        by a condition or trigger rule (a branch not taken: ``report.ok``). Makes an
        event loop for async steps and async hooks (a flow of sync steps and sync hooks runs
        without one); from async code use :meth:`run_async`. Ctrl-C cancels the run (hooks see
        process_completion) and raises KeyboardInterrupt.

        ``resume``: the report of an earlier run of this flow (``error.report`` of a failed
        one, in memory, pickled, or read back with :meth:`RunReport.from_json`). Its steps that
        succeeded are not run again: they end ``succeeded`` with 0 attempts and
        ``report.tasks[name].resumed``, hooks see only ``task_skip`` for them (reason
        ``resumed``), and the steps after them get their results (the Python objects of a
        report in memory or pickled; the JSON values of one read from JSON). The other steps
        run as usual. A report naming a step this flow does not have raises
        :class:`UnknownTaskError` before anything runs.
        """
        if resume is not None:
            _check_report(resume)
        if any(s.is_async for s in self._steps) or any(
            is_async(h) for hs in self._hooks.values() for h in hs
        ):
            return run_sync(lambda: self.run_async(*targets, resume=resume), "run")
        no_running_loop("run")
        # Hooks are taken when the run starts: one added during the run applies from the next.
        hooks = self._hooks_now()
        run = self._new_run(list(targets), None, hooks, resume)
        # Inside a sync step, this worker waits for the run: the pool must not count on it.
        worker = _legato._block_worker()
        try:
            run.start()
            _runtime.drive(run, hooks)
        finally:
            if worker:
                _legato._unblock_worker()
        return _final_report(run, self._title)

    async def run_async(self, *targets: str, resume: Optional[_legato.RunReport] = None) -> _legato.RunReport:
        """Run the flow on the running event loop; see :meth:`run` (``resume`` too)."""
        return await self.spawn(*targets, resume=resume)

    def spawn(self, *targets: str, resume: Optional[_legato.RunReport] = None) -> RunHandle:
        """Start a run on the running event loop and return its handle at once.

        ``await handle`` gives the report (or raises :class:`FlowError`); ``handle.cancel()``
        cancels the run from outside. ``resume``: as in :meth:`run`.
        """
        if resume is not None:
            _check_report(resume)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        run = self._new_run(list(targets), done, None, resume)
        run.start()
        return RunHandle(run, done, self._title)

    def _new_run(
        self,
        targets: list[str],
        done: Optional[asyncio.Future[None]],
        hooks: Optional[dict[str, list[Callable[..., Any]]]] = None,
        resume: Optional[_legato.RunReport] = None,
    ) -> _legato.Run:
        """A run of ``targets`` (all when empty): on the running loop, or blocking without ``done``.
        ``hooks``: the hooks taken at the run's start (now when not given); ``resume``: the
        report of the run it resumes."""
        for t in targets:
            if not isinstance(t, str):
                raise TypeError(f"targets: expected task names, got {type(t).__name__}")
        if self._pending:
            self._resolve()
        try:
            self._core.check(targets)
        except UnicodeEncodeError:
            _targets_valid(targets, "targets")
            raise
        bodies = self._bodies
        if bodies is None:  # made again only after a step is added
            bodies = self._bodies = _legato.Bodies(
                self._core, [(s.fn, s.is_async, s.params, s.retry_if, s.when) for s in self._steps]
            )
        return _legato.Run(
            self._core,
            bodies,
            targets,
            self._hooks_now() if hooks is None else hooks,
            self.state,
            done,
            max_parallel=self.max_parallel,
            fail_fast=self.fail_fast,
            timeout=self.timeout,
            executor=self.executor,
            title=self.name,
            max_depth=self.max_depth,
            rules=self._rules,
            resume=resume,
        )

    @property
    def _title(self) -> str:
        return f'flow "{self.name}"'

    def __repr__(self) -> str:
        return f"Flow({self.name!r}, steps={len(self._steps)})"
