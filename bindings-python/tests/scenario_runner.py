"""The conformance suite (tests/scenarios/*.json, format in tests/README.md) through the
Python front door.

How a scenario becomes Python:

- ``tasks`` → a :class:`legato.Flow`; each task's body follows its scripted attempts (picked
  with ``legato.current().attempt``): ``ms`` is a sleep, ``fail`` raises ``ScriptError(error)``,
  ``hang`` never ends by itself, ``value`` is returned. ``retryable: false`` is a ``retry_if``
  that reads a per-task flag the body sets just before it raises.
- ``calls`` → actions (an Orchestrator serves as the action factory) that the body calls all at
  once and awaits (async) or waits for through ``orch.parallel`` (sync), then works ``ms`` more.
- ``main`` → :meth:`legato.Orchestrator.run_async` with a main that calls every entry at once,
  an entry with ``after`` only once those entries succeeded.
- ``run`` → the flow's / orchestrator's options; ``targets``; ``cancel_at_ms`` →
  ``Flow.spawn`` and ``RunHandle.cancel``; every event has a hook that records the trace line
  and raises when its line is in ``hook_failures``.

Two kinds of bodies: ``async def`` (sleeps on the loop: exact on a virtual clock) and sync
(``time.sleep`` on the worker pool; real clock only). A flow of sync steps runs twice: spawned
on a loop, and through a plain ``flow.run()`` from a thread without one (a blocking run).

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
        out.append(sc)
    return out


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
    trace: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    started: list[str] = field(default_factory=list)
    running: int = 0
    peak: int = 0
    refuse: dict[str, bool] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> None:
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)

    def release(self) -> None:
        with self.lock:
            self.running -= 1


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
    name = td["name"]
    o["retry_if"] = lambda e: not rec.refuse.get(name, False)
    return o


class Builder:
    def __init__(self, sc: dict[str, Any], sync: bool, loop: asyncio.AbstractEventLoop) -> None:
        self.sc = sc
        self.sync = sync
        self.rec = Rec(hook_failures=dict(sc.get("run", {}).get("hook_failures", {})))
        self.wheel = Wheel(loop)
        self.orch = legato.Orchestrator()

    # ----- bodies -------------------------------------------------------------------------

    def body(self, td: dict[str, Any]) -> Any:
        rec, name = self.rec, td["name"]
        children = [[self.action(c) for c in (a.get("calls") or [])] for a in (td.get("attempts") or [{}])]

        def script(n: int) -> tuple[dict[str, Any], list[Any]]:
            a = attempt_of(td, n)
            kids = children[min(n, len(children)) - 1] if children else []
            return a, kids

        def first(n: int) -> None:
            if n == 1:
                with rec.lock:
                    rec.started.append(name)

        def outcome(a: dict[str, Any]) -> Any:
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
                first(n)
                rec.take()
                try:
                    if kids:
                        rec.release()
                        try:
                            self.orch.parallel(kids)(*[None] * len(kids))
                        finally:
                            rec.take()
                    if a.get("result") == "hang":
                        deadline = time.monotonic() + 10
                        while not cx.cancelled and time.monotonic() < deadline:
                            time.sleep(0.001)
                        raise ScriptError("hung")
                    if a.get("ms"):
                        time.sleep(a["ms"] / 1000)
                    return outcome(a)
                finally:
                    rec.release()

            return sync_body

        async def async_body() -> Any:
            cx = legato.current()
            assert cx is not None
            n = cx.attempt
            a, kids = script(n)
            first(n)
            rec.take()
            try:
                if kids:
                    rec.release()
                    try:
                        await asyncio.gather(*[k(None) for k in kids], return_exceptions=True)
                    finally:
                        rec.take()
                if a.get("result") == "hang":
                    await asyncio.get_running_loop().create_future()
                if a.get("ms"):
                    await self.wheel.sleep(a["ms"])
                return outcome(a)
            finally:
                rec.release()

        return async_body

    def action(self, td: dict[str, Any]) -> Any:
        o = task_options(td, self.rec)
        body = self.body(td)
        if self.sync:

            def sync_child(_: Any) -> Any:
                return body()

            return self.orch.action(sync_child, **o)

        async def child(_: Any) -> Any:
            return await body()

        return self.orch.action(child, **o)

    # ----- hooks --------------------------------------------------------------------------

    def hooks(self, target: Any) -> None:
        rec = self.rec

        def hook(line_of: Any) -> Any:
            def h(e: Any) -> None:
                line = line_of(e)
                rec.trace.append(line)
                if line in rec.hook_failures:
                    raise ScriptError(rec.hook_failures[line])

            return h

        target.on_process_begin(hook(lambda e: "process_begin"))
        target.on_task_ready(hook(lambda e: f"task_ready {e.name}"))
        target.on_task_begin(hook(lambda e: f"task_begin {e.name} {e.attempt}"))
        target.on_task_retry(hook(lambda e: f"task_retry {e.name} {e.attempt}"))

        def success(e: Any) -> str:
            rec.values[e.name] = e.result
            return f"task_success {e.name}"

        target.on_task_success(hook(success))
        target.on_task_failure(hook(lambda e: f"task_failure {e.name}"))
        target.on_task_skip(hook(lambda e: f"task_skip {e.name}"))
        target.on_task_completion(hook(lambda e: f"task_completion {e.name} {e.status}"))
        target.on_process_completion(hook(lambda e: "process_completion"))


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
    trace: list[str] = field(default_factory=list)
    stop: Optional[str] = None


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
    obs.values = dict(rec.values)
    obs.trace = list(rec.trace)
    obs.started_order = list(rec.started)
    obs.max_running = rec.peak


async def run_scenario(sc: dict[str, Any], sync: bool, blocking: bool = False) -> Observed:
    """Runs ``sc`` on the running loop. ``blocking``: a flow's sync steps through a plain
    ``flow.run()`` in a thread without an event loop (the run drives itself), not ``spawn``."""
    loop = asyncio.get_running_loop()
    b = Builder(sc, sync, loop)
    run = sc.get("run", {})
    opts: dict[str, Any] = {
        "max_parallel": run.get("max_parallel"),
        "fail_fast": run.get("fail_fast", False),
        "timeout": run["timeout_ms"] / 1000 if run.get("timeout_ms") is not None else None,
    }
    obs = Observed()
    if sc.get("main"):
        orch = legato.Orchestrator(**opts)
        b.orch = orch
        b.hooks(orch)
        entries = [(e, b.action(e)) for e in sc["main"]]

        async def main() -> None:
            settled: dict[str, asyncio.Future[bool]] = {e["name"]: loop.create_future() for e, _ in entries}

            async def call(e: dict[str, Any], act: Any) -> None:
                for dep in e.get("after", []):
                    if not await settled[dep]:
                        settled[e["name"]].set_result(False)
                        return
                try:
                    fut = act(None)
                    await fut
                    ok = True
                except Exception:
                    ok = False
                if not settled[e["name"]].done():
                    settled[e["name"]].set_result(ok)

            # Entries without `after` are called at once, in order; the others when theirs end.
            coros = [call(e, a) for e, a in entries]
            await asyncio.gather(*coros)

        main_fn: Any = main
        if sync:

            def sync_main() -> None:
                done: dict[str, bool] = {}
                pending = list(entries)
                # Every entry that can be called now, at once; then those whose deps are done.
                while pending:
                    ready = [(e, a) for e, a in pending if all(d in done for d in e.get("after", []))]
                    pending = [p for p in pending if p not in ready]
                    call = [(e, a) for e, a in ready if all(done[d] for d in e.get("after", []))]
                    for e, _ in ready:
                        if (e, _) not in call:
                            done[e["name"]] = False
                    if call:
                        res = orch.parallel([a for _, a in call])(*[None] * len(call))
                        for (e, _), r in zip(call, res):
                            done[e["name"]] = not isinstance(r, BaseException)

            main_fn = sync_main
        try:
            await orch.run_async(main_fn)
        except BaseException:
            pass
        report = orch.last_report
        observe(report, b.rec, obs)
        return obs

    flow = legato.Flow("scenario", **opts)
    b.hooks(flow)
    for td in sc.get("tasks", []):
        o = task_options(td, b.rec)
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
    if blocking:
        assert sync and run.get("cancel_at_ms") is None
        try:
            report = await asyncio.to_thread(flow.run, *targets)
        except legato.FlowError as e:
            report = e.report  # type: ignore[attr-defined]
        except legato.GraphError as e:
            obs.error = str(e)
            return obs
        observe(report, b.rec, obs)
        return obs
    try:
        handle = flow.spawn(*targets)
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
    if e.get("trace") is not None:
        eq("trace", e["trace"], obs.trace)
    if e.get("stop") is not None:
        eq("stop", e["stop"], obs.stop or "")
    if exact_times:
        for k, v in e.get("starts_ms", {}).items():
            eq(f"start of {k}", v, obs.starts_ms.get(k))
        for k, v in e.get("ends_ms", {}).items():
            eq(f"end of {k}", v, obs.ends_ms.get(k))
        if e.get("total_ms") is not None:
            eq("total", e["total_ms"], obs.total_ms)
    return bad
