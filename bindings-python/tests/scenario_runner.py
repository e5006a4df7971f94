"""The conformance suite (tests/scenarios/*.json, format in tests/README.md) through the
Python front door, written as a Python user would write each program.

How a scenario becomes Python:

- ``tasks`` → a :class:`legato.Flow`; each task's body follows its scripted attempts (picked
  with ``legato.current().attempt``): ``ms`` is a sleep, ``fail`` raises ``ScriptError(error)``,
  ``hang`` never ends by itself, ``value`` is returned. ``retryable: false`` is a ``retry_if``
  that reads a per-task flag the body sets just before it raises. ``value_of`` reads
  ``ctx.results[name]`` as the attempt starts (a missing result: ``no result for "name"``).
  ``chain: N`` is expanded into N tasks as the format says (:func:`prepare`).
- ``calls`` → actions (an Orchestrator serves as the action factory) that the body calls all at
  once and awaits (async) or waits for through ``orch.parallel`` (sync), then works ``ms`` more;
  with the attempt's ``fail_fast`` they are one ``orch.parallel(children, fail_fast=True)``
  whose error the attempt raises. A ``cached`` call is an ``orch.action(cache=True)``: one
  action per name, always called with the same argument, so every call of the name is one task.
- ``main`` → an Orchestrator main (async, or sync in the sync and blocking modes) that calls
  every entry at once, an entry with ``after`` only once those entries succeeded; a group entry
  is ``orch.parallel(members, fail_fast=...)`` (with ``fail_fast`` its error ends main); then
  main sleeps ``main_ms`` outside any action. ``main_error`` is the text of what
  ``orch.run_async(main)`` (blocking: ``orch.run(main)``) raised.
- ``uses`` / ``sequences`` → the step's ``uses=`` (``sequences=`` when the scenario says
  ``sequences``); a call object's ``uses`` → an action made with ``uses=`` a function of the
  call's argument that returns those keys. ``when`` → ``when=`` a predicate that returns the
  value (or raises ``ScriptError("condition raised")``); ``trigger`` → ``trigger=``;
  ``cost_ms`` → ``cost=`` in seconds. ``max_holding`` counts, per key, the attempts that hold
  it while they hold their slot (as ``max_running``).
- ``run`` → the flow's / orchestrator's options (``limits``, ``priority`` included); ``targets``; ``cancel_at_ms`` →
  ``Flow.spawn`` and ``RunHandle.cancel``; ``resume`` → ``resume=`` a report read back with
  ``RunReport.from_json`` from a JSON that lists those tasks as succeeded with their results
  (``resumed`` is what ``report.tasks[name].resumed`` says); every event has a hook that
  records the trace line (and ``task_completion``'s ``error``, ``None`` or ``str(error)``) and raises when its line is
  in ``hook_failures``. For the kinds ``hook_ms`` names, a second hook follows that takes that
  long for the listed lines: an ``async def`` hook that ``asyncio.sleep``s where the run has an
  event loop (async and sync modes), a sync hook that ``time.sleep``s in the blocking mode (an
  async hook would make ``flow.run()`` run on a loop of its own instead of driving itself).

Three modes: ``async`` (``async def`` bodies and main; sleeps on the loop: exact on a virtual
clock), ``sync`` (sync bodies and main, ``time.sleep`` on the worker pool, the run spawned on a
loop; real clock only) and ``blocking`` (the sync program run from a thread without an event
loop: a flow through a plain ``flow.run()``, which drives itself, an Orchestrator through
``orch.run(main)``).

Sleeps of async bodies go through a FIFO wheel so that attempts ending at the same instant
reach the core in the order they were scheduled, as the timing rules say (asyncio's timer heap
does not keep that order for equal deadlines).
"""

from __future__ import annotations

import asyncio
import json
import pathlib
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Optional

import legato

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "tests" / "scenarios"

#: Scenarios not checked on the real clock: their outcome rests on two things happening at the
#: same instant (the same list as core/tests/it/scenarios_tokio.rs).
SAME_INSTANT = {
    "rules-cancel-after-finish": "cancel() is due the instant the last task ends",
    "rules-cancel-same-instant": "cancel() is due the instant finisher ends",
    "rules-timeout-is-retried": "on-the-edge ends exactly at its timeout",
    "rules-ready-order-same-instant": "a and b end at the same instant; their order decides the next starts",
}

#: With sync steps on the real clock, started_order is not checked in these: it rests on which
#: of several equal sleeps in different worker threads ends first (the OS decides; tokio's
#: timer wheel and the async runner's FIFO wheel wake equal deadlines in order).
SYNC_ORDER_RACES = {
    "spry-full-stack": "db-start, backend-install and frontend-install sleep 10 ms each in three threads",
}


def load_all() -> list[dict[str, Any]]:
    out = []
    for p in sorted(SCENARIOS.glob("*.json")):
        sc = json.loads(p.read_text())
        assert sc["name"] == p.stem, p
        out.append(prepare(sc))
    return out


def prepare(sc: dict[str, Any]) -> dict[str, Any]:
    """Expands ``chain``s (``NAME1`` … ``NAMEN``: ``NAME1`` has the task's ``after``, each next
    one is after the one before) and checks what the format allows where (as the Rust runner's
    ``prepare``)."""
    tasks: list[dict[str, Any]] = []
    for t in sc.get("tasks", []):
        n = t.get("chain")
        if n is None:
            tasks.append(t)
            continue
        for i in range(1, n + 1):
            link = {k: v for k, v in t.items() if k != "chain"}
            link["name"] = f"{t['name']}{i}"
            if i > 1:
                link["after"] = [f"{t['name']}{i - 1}"]
            tasks.append(link)
    sc = {**sc, "tasks": tasks}
    cached: dict[str, str] = {}
    names: set[str] = set()
    for e in sc.get("main", []):
        for d in e.get("after", []):
            assert d in names, f"{sc['name']}: main entry {e['name']!r}: {d!r} is not an earlier entry"
        names.add(e["name"])
    todo: list[tuple[dict[str, Any], bool]] = [(m, True) for m in sc.get("main", [])]
    todo += [(t, False) for t in tasks]
    while todo:
        d, in_main = todo.pop()
        group = bool(d.get("parallel"))
        where = f"{sc['name']}: {d['name']!r}"
        assert in_main or not group, f"{where}: `parallel` is for main entries"
        assert not d.get("fail_fast") or group, f"{where}: a call's `fail_fast` needs `parallel`"
        assert not group or not (d.get("attempts") or d.get("cached")), (
            f"{where}: a group has members, not a script"
        )
        if d.get("cached"):
            text = json.dumps(d, sort_keys=True)
            assert cached.setdefault(d["name"], text) == text, f"{where}: cached calls differ"
        todo += [(m, False) for m in d.get("parallel", [])]
        for a in d.get("attempts") or []:
            assert not a.get("fail_fast") or a.get("calls"), f"{where}: `fail_fast` needs `calls`"
            todo += [(c, False) for c in a.get("calls") or []]
    return sc


class ScriptError(Exception):
    """The error a scripted attempt raises."""


class Wheel:
    """Sleeps on the loop, woken in FIFO order per instant."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.buckets: dict[float, list[asyncio.Future[None]]] = {}

    def sleep(self, ms: int) -> asyncio.Future[None]:
        when = self.loop.time() + ms / 1000
        when = round(when, 6)
        fut: asyncio.Future[None] = self.loop.create_future()
        b = self.buckets.get(when)
        if b is None:
            b = self.buckets[when] = []
            self.loop.call_at(when, self._fire, when)
        b.append(fut)
        return fut

    def _fire(self, when: float) -> None:
        for f in self.buckets.pop(when, []):
            if not f.done():
                f.set_result(None)


@dataclass
class Rec:
    hook_failures: dict[str, str]
    hook_ms: dict[str, int] = field(default_factory=dict)
    trace: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    completion_errors: dict[str, Optional[str]] = field(default_factory=dict)
    started: list[str] = field(default_factory=list)
    running: int = 0
    peak: int = 0
    refuse: dict[str, bool] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: Per key, the attempts holding it now, and the most at once.
    holding: dict[str, int] = field(default_factory=dict)
    peak_holding: dict[str, int] = field(default_factory=dict)

    def take(self, keys: list[str] = []) -> None:  # noqa: B006 - never mutated
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
            for k in keys:
                n = self.holding[k] = self.holding.get(k, 0) + 1
                self.peak_holding[k] = max(self.peak_holding.get(k, 0), n)

    def release(self, keys: list[str] = []) -> None:  # noqa: B006 - never mutated
        with self.lock:
            self.running -= 1
            for k in keys:
                self.holding[k] -= 1


def attempt_of(td: dict[str, Any], n: int) -> dict[str, Any]:
    a = td.get("attempts") or []
    if not a:
        return {}
    return a[min(n, len(a)) - 1]  # type: ignore[no-any-return]


def task_options(td: dict[str, Any], rec: Rec) -> dict[str, Any]:
    o: dict[str, Any] = {"name": td["name"]}
    if td.get("retries"):
        o["retries"] = td["retries"]
    b = td.get("backoff")
    if b:
        if b.get("fixed_ms") is not None:
            o["backoff"] = legato.Backoff.fixed(b["fixed_ms"] / 1000)
        else:
            o["backoff"] = legato.Backoff.exponential(
                b["initial_ms"] / 1000,
                factor=b.get("factor", 2.0),
                max=b["max_ms"] / 1000 if b.get("max_ms") is not None else None,
            )
    if td.get("timeout_ms") is not None:
        o["timeout"] = td["timeout_ms"] / 1000
    if td.get("sequences"):
        o["sequences"] = td["sequences"]
    if td.get("trigger") is not None:
        o["trigger"] = td["trigger"]
    if td.get("cost_ms") is not None:
        o["cost"] = td["cost_ms"] / 1000
    name = td["name"]
    o["retry_if"] = lambda e: not rec.refuse.get(name, False)
    return o


def keys_of(td: dict[str, Any]) -> list[str]:
    """The keys a task or call holds while it runs (``uses`` and its alias ``sequences``)."""
    return list(dict.fromkeys([*(td.get("uses") or []), *(td.get("sequences") or [])]))


def step_options(td: dict[str, Any], rec: Rec) -> dict[str, Any]:
    """A flow step's options: :func:`task_options`, its ``uses`` and its ``when``."""
    o = task_options(td, rec)
    if td.get("uses"):
        o["uses"] = td["uses"]
    if "when" in td:
        o["when"] = condition(td["when"])
    return o


def condition(value: Any) -> Any:
    """A ``when`` predicate that gives ``value``, or raises for ``"raise"``."""
    if value == "raise":

        def raises(ctx: Any) -> bool:
            raise ScriptError("condition raised")

        return raises
    return lambda ctx: value


#: The argument of every call of a cached action: same name and argument, one task per run.
CACHED_ARG = "cached"


@dataclass
class Call:
    """A call a body or main makes: an action and the argument it is called with."""

    action: Any
    arg: Any


@dataclass
class Calls:
    """The calls of one attempt, made at once; with ``fail_fast`` one fail-fast ``parallel``."""

    each: list[Call]
    fail_fast: bool


@dataclass
class Entry:
    """A ``main`` entry: one call, or a group (``orch.parallel``) of several."""

    name: str
    after: list[str]
    calls: list[Call]
    group: bool
    fail_fast: bool


#: An event kind's trace line, from its hook payload.
LINES: dict[str, Any] = {
    "process_begin": lambda e: "process_begin",
    "task_ready": lambda e: f"task_ready {e.name}",
    "task_begin": lambda e: f"task_begin {e.name} {e.attempt}",
    "task_retry": lambda e: f"task_retry {e.name} {e.attempt}",
    "task_success": lambda e: f"task_success {e.name}",
    "task_failure": lambda e: f"task_failure {e.name}",
    "task_skip": lambda e: f"task_skip {e.name}",
    "task_completion": lambda e: f"task_completion {e.name} {e.status}",
    "process_completion": lambda e: "process_completion",
}


class Builder:
    def __init__(
        self, sc: dict[str, Any], sync: bool, blocking: bool, loop: asyncio.AbstractEventLoop
    ) -> None:
        self.sc = sc
        self.sync = sync
        self.blocking = blocking
        run = sc.get("run", {})
        self.rec = Rec(hook_failures=dict(run.get("hook_failures", {})), hook_ms=dict(run.get("hook_ms", {})))
        self.wheel = Wheel(loop)
        self.orch = legato.Orchestrator()
        self.cached: dict[str, Any] = {}

    # ----- bodies -------------------------------------------------------------------------

    def body(self, td: dict[str, Any]) -> Any:
        rec, name = self.rec, td["name"]
        keys = keys_of(td)
        children = [
            Calls([self.call(c) for c in (a.get("calls") or [])], bool(a.get("fail_fast")))
            for a in (td.get("attempts") or [{}])
        ]

        def script(n: int) -> tuple[dict[str, Any], Calls]:
            return attempt_of(td, n), children[min(n, len(children)) - 1]

        def first(n: int) -> None:
            if n == 1:
                with rec.lock:
                    rec.started.append(name)

        def read(cx: Any, a: dict[str, Any]) -> Optional[tuple[bool, Any]]:
            # value_of: the result as the attempt starts (rule 10: any task that succeeded so far).
            src = a.get("value_of")
            if src is None:
                return None
            try:
                return True, cx.results[src]
            except KeyError:
                return False, f"no result for {json.dumps(src)}"

        def outcome(a: dict[str, Any], got: Optional[tuple[bool, Any]]) -> Any:
            if got is not None:
                ok, v = got
                if not ok:
                    raise ScriptError(v)
                return v
            if a.get("result") == "fail":
                rec.refuse[name] = a.get("retryable", True) is False
                raise ScriptError(a.get("error", "failed"))
            return a.get("value")

        if self.sync:

            def sync_body() -> Any:
                cx = legato.current()
                assert cx is not None
                n = cx.attempt
                a, kids = script(n)
                got = read(cx, a)
                first(n)
                rec.take(keys)
                try:
                    if kids.each:
                        rec.release(keys)
                        try:
                            group = self.orch.parallel(
                                [k.action for k in kids.each], fail_fast=kids.fail_fast
                            )
                            group(*[k.arg for k in kids.each])  # with fail_fast: raises the first error
                        finally:
                            rec.take(keys)
                    if a.get("result") == "hang":
                        deadline = time.monotonic() + 10
                        while not cx.cancelled and time.monotonic() < deadline:
                            time.sleep(0.001)
                        raise ScriptError("hung")
                    if a.get("ms"):
                        time.sleep(a["ms"] / 1000)
                    return outcome(a, got)
                finally:
                    rec.release(keys)

            return sync_body

        async def async_body() -> Any:
            cx = legato.current()
            assert cx is not None
            n = cx.attempt
            a, kids = script(n)
            got = read(cx, a)
            first(n)
            rec.take(keys)
            try:
                if kids.each:
                    rec.release(keys)
                    try:
                        if kids.fail_fast:
                            group = self.orch.parallel([k.action for k in kids.each], fail_fast=True)
                            await group(*[k.arg for k in kids.each])  # raises the first error
                        else:
                            await asyncio.gather(
                                *[k.action(k.arg) for k in kids.each], return_exceptions=True
                            )
                    finally:
                        rec.take(keys)
                if a.get("result") == "hang":
                    await asyncio.get_running_loop().create_future()
                if a.get("ms"):
                    await self.wheel.sleep(a["ms"])
                return outcome(a, got)
            finally:
                rec.release(keys)

        return async_body

    def call(self, td: dict[str, Any]) -> Call:
        """One call of ``td``: a cached name is one ``cache=True`` action, called alike."""
        if not td.get("cached"):
            return Call(self.action(td), None)
        act = self.cached.get(td["name"])
        if act is None:
            act = self.cached[td["name"]] = self.action(td)
        return Call(act, CACHED_ARG)

    def action(self, td: dict[str, Any]) -> Any:
        o = task_options(td, self.rec)
        if td.get("uses"):
            keys = list(td["uses"])
            o["uses"] = lambda _: keys  # a function of the call's argument
        cache = bool(td.get("cached"))
        body = self.body(td)
        if self.sync:

            def sync_child(_: Any) -> Any:
                return body()

            return self.orch.action(sync_child, cache=cache, **o)

        async def child(_: Any) -> Any:
            return await body()

        return self.orch.action(child, cache=cache, **o)

    def entry(self, e: dict[str, Any]) -> Entry:
        group = "parallel" in e
        calls = [self.call(m) for m in e["parallel"]] if group else [self.call(e)]
        return Entry(e["name"], list(e.get("after", [])), calls, group, bool(e.get("fail_fast")))

    # ----- hooks --------------------------------------------------------------------------

    def hooks(self, target: Any) -> None:
        rec = self.rec

        def hook(kind: str) -> Any:
            line_of = LINES[kind]

            def h(e: Any) -> None:
                line = line_of(e)
                if kind == "task_success":
                    rec.values[e.name] = e.result
                if kind == "task_completion":
                    rec.completion_errors[e.name] = None if e.error is None else str(e.error)
                rec.trace.append(line)
                if line in rec.hook_failures:
                    raise ScriptError(rec.hook_failures[line])

            return h

        def slow(kind: str) -> Any:
            # The hook_ms hook of a kind: takes the listed time for the listed lines.
            line_of = LINES[kind]
            if self.blocking:

                def blocking_hook(e: Any) -> None:
                    n = rec.hook_ms.get(line_of(e))
                    if n:
                        time.sleep(n / 1000)

                return blocking_hook

            async def async_hook(e: Any) -> None:
                n = rec.hook_ms.get(line_of(e))
                if n:
                    await asyncio.sleep(n / 1000)

            return async_hook

        slow_kinds = {line.split(" ")[0] for line in rec.hook_ms}
        for kind in LINES:
            register = getattr(target, f"on_{kind}")
            register(hook(kind))
            if kind in slow_kinds:
                register(slow(kind))


@dataclass
class Observed:
    error: Optional[str] = None
    plan: Optional[list[list[str]]] = None
    ok: bool = False
    status: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    skip_reason: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    starts_ms: dict[str, int] = field(default_factory=dict)
    ends_ms: dict[str, int] = field(default_factory=dict)
    total_ms: int = 0
    started_order: list[str] = field(default_factory=list)
    max_running: int = 0
    max_holding: dict[str, int] = field(default_factory=dict)
    trace: list[str] = field(default_factory=list)
    stop: Optional[str] = None
    #: What ``run()`` raised, as text; None when main returned (and for a flow).
    main_error: Optional[str] = None
    completion_errors: dict[str, Optional[str]] = field(default_factory=dict)
    #: The tasks that ended resumed (restored from the resumed run).
    resumed: list[str] = field(default_factory=list)


def ms(x: Optional[float]) -> Optional[int]:
    # Milliseconds, truncated as Rust's Duration::as_millis (times are whole microseconds).
    return None if x is None else round(x * 1_000_000) // 1000


def observe(report: Any, rec: Rec, obs: Observed) -> None:
    obs.ok = report.ok
    obs.total_ms = ms(report.total_duration) or 0
    obs.stop = report.stop
    for t in report.all_tasks:
        obs.counts[t.status] = obs.counts.get(t.status, 0) + 1
        obs.status[t.name] = t.status
        obs.attempts[t.name] = t.attempts
        if t.skip_reason is not None:
            obs.skip_reason[t.name] = t.skip_reason
        if t.error is not None:
            obs.errors[t.name] = str(t.error)
        if t.start_offset is not None:
            obs.starts_ms[t.name] = ms(t.start_offset)  # type: ignore[assignment]
        if t.end_offset is not None:
            obs.ends_ms[t.name] = ms(t.end_offset)  # type: ignore[assignment]
        if t.resumed:
            obs.resumed.append(t.name)
    obs.values = dict(rec.values)
    obs.completion_errors = dict(rec.completion_errors)
    obs.trace = list(rec.trace)
    obs.started_order = list(rec.started)
    obs.max_running = rec.peak
    obs.max_holding = dict(rec.peak_holding)


def resumed_report(sc: dict[str, Any]) -> Optional[legato.RunReport]:
    """The report of a run in which the tasks of ``run.resume`` succeeded with those results,
    read back from its JSON as a report file would be (listed in the flow's declaration order,
    then the names the flow does not have)."""
    resume = sc.get("run", {}).get("resume")
    if resume is None:
        return None
    declared = [t["name"] for t in sc.get("tasks", [])]
    names = [n for n in declared if n in resume] + [n for n in resume if n not in declared]
    tasks = [
        {"id": i, "name": n, "status": "succeeded", "attempts": 1, "result": resume[n]}
        for i, n in enumerate(names)
    ]
    return legato.RunReport.from_json(json.dumps({"total_ms": 0, "tasks": tasks}))


def _retrieve(t: asyncio.Future[Any]) -> None:
    if not t.cancelled():
        t.exception()


def async_main(orch: legato.Orchestrator, entries: list[Entry], main_ms: int) -> Any:
    """main as ``async def``: every entry at once (an entry with ``after`` once those
    succeeded), then ``main_ms`` of work outside any action."""

    async def main() -> None:
        settled: dict[str, asyncio.Task[bool]] = {}

        async def one(en: Entry) -> bool:
            for dep in en.after:
                if not await settled[dep]:  # a fail-fast group's error propagates
                    return False  # the `await` threw: the call is never made
            if en.group:
                group = orch.parallel([c.action for c in en.calls], fail_fast=en.fail_fast)
                results = await group(*[c.arg for c in en.calls])  # with fail_fast: raises
                return not any(isinstance(r, BaseException) for r in results)
            c = en.calls[0]
            try:
                await c.action(c.arg)
            except Exception:
                return False
            return True

        for en in entries:
            settled[en.name] = asyncio.ensure_future(one(en))
            settled[en.name].add_done_callback(_retrieve)
        try:
            await asyncio.gather(*settled.values())
        finally:
            for t in settled.values():
                t.cancel()
        if main_ms:
            await asyncio.sleep(main_ms / 1000)

    return main


def sync_main(orch: legato.Orchestrator, entries: list[Entry], main_ms: int) -> Any:
    """main as a plain function: in rounds, every entry whose ``after`` entries are all settled
    at once (one ``orch.parallel`` of their calls; a fail-fast group on its own: its error ends
    main), then ``main_ms`` of ``time.sleep``."""

    def main() -> None:
        done: dict[str, bool] = {}
        pending = list(entries)
        while pending:
            ready = [en for en in pending if all(d in done for d in en.after)]
            pending = [en for en in pending if en not in ready]
            now = []
            for en in ready:
                if all(done[d] for d in en.after):
                    now.append(en)
                else:
                    done[en.name] = False  # never called
            if not now:
                continue
            if any(en.fail_fast for en in now):
                assert len(now) == 1, "a fail-fast group is called on its own by a sync main"
                en = now[0]
                orch.parallel([c.action for c in en.calls], fail_fast=True)(*[c.arg for c in en.calls])
                done[en.name] = True
                continue
            if len(now) == 1 and not now[0].group:
                c = now[0].calls[0]
                try:
                    c.action(c.arg)
                    done[now[0].name] = True
                except Exception:
                    done[now[0].name] = False
                continue
            flat = [(en, c) for en in now for c in en.calls]
            results = orch.parallel([c.action for _, c in flat])(*[c.arg for _, c in flat])
            for en in now:
                done[en.name] = True
            for (en, _), r in zip(flat, results):
                if isinstance(r, BaseException):
                    done[en.name] = False
        if main_ms:
            time.sleep(main_ms / 1000)

    return main


async def run_scenario(sc: dict[str, Any], sync: bool, blocking: bool = False) -> Observed:
    """Runs ``sc`` on the running loop. ``blocking``: the sync program from a thread without an
    event loop (the run drives itself): a plain ``flow.run()`` or ``orch.run(main)``."""
    loop = asyncio.get_running_loop()
    b = Builder(sc, sync, blocking, loop)
    run = sc.get("run", {})
    opts: dict[str, Any] = {
        "max_parallel": run.get("max_parallel"),
        "fail_fast": run.get("fail_fast", False),
        "timeout": run["timeout_ms"] / 1000 if run.get("timeout_ms") is not None else None,
        "limits": run.get("limits"),
        "priority": run.get("priority", "fifo"),
    }
    obs = Observed()
    if sc.get("main"):
        assert run.get("cancel_at_ms") is None, "an Orchestrator run has no outside cancel here"
        orch = legato.Orchestrator(**opts)
        b.orch = orch
        b.hooks(orch)
        entries = [b.entry(e) for e in sc["main"]]
        main_ms = sc.get("main_ms", 0)
        try:
            if blocking:
                await asyncio.to_thread(orch.run, sync_main(orch, entries, main_ms))
            elif sync:
                await orch.run_async(sync_main(orch, entries, main_ms))
            else:
                await orch.run_async(async_main(orch, entries, main_ms))
        except Exception as e:
            obs.main_error = str(e)
        report = orch.last_report
        observe(report, b.rec, obs)
        return obs

    flow = legato.Flow("scenario", **opts)
    b.hooks(flow)
    for td in sc.get("tasks", []):
        o = step_options(td, b.rec)
        try:
            flow.add(b.body(td), after=td.get("after", []), **o)
        except legato.GraphError as e:  # a duplicate is refused when added
            obs.error = str(e)
            return obs
    targets = run.get("targets", [])
    try:
        obs.plan = flow.plan(*targets)
    except legato.GraphError as e:
        obs.error = str(e)
        return obs
    resume = resumed_report(sc)
    if blocking:
        assert sync and run.get("cancel_at_ms") is None
        try:
            report = await asyncio.to_thread(lambda: flow.run(*targets, resume=resume))
        except legato.FlowError as e:
            report = e.report  # type: ignore[attr-defined]
        except legato.GraphError as e:
            obs.error = str(e)
            return obs
        observe(report, b.rec, obs)
        return obs
    try:
        handle = flow.spawn(*targets, resume=resume)
    except legato.GraphError as e:
        obs.error = str(e)
        return obs
    if run.get("cancel_at_ms") is not None:
        t0 = loop.time()
        loop.call_at(t0 + run["cancel_at_ms"] / 1000, handle.cancel)
    try:
        await handle
    except legato.FlowError:
        pass
    observe(handle.report(), b.rec, obs)
    return obs


def check(sc: dict[str, Any], obs: Observed, exact_times: bool) -> list[str]:
    """The differences between a scenario's expectations and what a run showed."""
    e = sc["expect"]
    bad: list[str] = []

    def eq(what: str, want: Any, got: Any) -> None:
        if want != got:
            bad.append(f"{what}: expected {want!r}, got {got!r}")

    if e.get("error") is not None:
        eq("error", e["error"], obs.error or "")
        return bad
    if obs.error is not None:
        return [f"unexpected error: {obs.error}"]
    if e.get("plan") is not None:
        eq("plan", e["plan"], obs.plan)
    if e.get("ok") is not None:
        eq("ok", e["ok"], obs.ok)
    for k, v in e.get("status", {}).items():
        eq(f"status of {k}", v, obs.status.get(k, ""))
    for k, v in e.get("counts", {}).items():
        eq(f"count of {k}", v, obs.counts.get(k, 0))
    for k, v in e.get("attempts", {}).items():
        eq(f"attempts of {k}", v, obs.attempts.get(k, 0))
    for k, v in e.get("skip_reason", {}).items():
        eq(f"skip reason of {k}", v, obs.skip_reason.get(k, ""))
    for k, v in e.get("errors", {}).items():
        eq(f"error of {k}", v, obs.errors.get(k, ""))
    for k, v in e.get("values", {}).items():
        eq(f"value of {k}", v, obs.values.get(k))
    for a, b in e.get("before", []):
        ea, sb = obs.ends_ms.get(a), obs.starts_ms.get(b)
        if ea is None or sb is None or ea > sb:
            bad.append(f"{a} ends before {b} starts: got end {ea}, start {sb}")
    if e.get("started_order") is not None:
        eq("started order", e["started_order"], obs.started_order)
    if e.get("max_running") is not None:
        eq("max running", e["max_running"], obs.max_running)
    for k, v in e.get("max_holding", {}).items():
        eq(f"max holding {k}", v, obs.max_holding.get(k, 0))
    if e.get("trace") is not None:
        eq("trace", e["trace"], obs.trace)
    if e.get("stop") is not None:
        eq("stop", e["stop"], obs.stop or "")
    if e.get("resumed") is not None:
        eq("resumed", sorted(e["resumed"]), sorted(obs.resumed))
    if sc.get("main") or e.get("main_error") is not None:
        eq("main error", e.get("main_error"), obs.main_error)  # absent: main returned
    for k, v in e.get("completion_errors", {}).items():
        eq(f"completion error of {k}", v, obs.completion_errors.get(k, "no task_completion"))
    if exact_times:
        for k, v in e.get("starts_ms", {}).items():
            eq(f"start of {k}", v, obs.starts_ms.get(k))
        for k, v in e.get("ends_ms", {}).items():
            eq(f"end of {k}", v, obs.ends_ms.get(k))
        if e.get("total_ms") is not None:
            eq("total", e["total_ms"], obs.total_ms)
    return bad
