"""W1-W6 through the Python door, beside Python peers, in the same process and run.

Workloads (DESIGN.md "Workloads", the same LCG as every door): W1 wide (10,000 no-op tasks and a
sink), W2 chain (2,000), W3 random DAG (10,000), W4 sleep (200 tasks of 10 ms in 4 layers,
max_parallel 50, ideal 40 ms), W5 retry (1,000 tasks failing twice), W6 priority (300 tasks that
sleep 1-20 ms each, max_parallel 4; makespan / the lower bound 805.25 ms). Each runs twice: with
sync steps ("W1"...) and with ``async def`` steps ("W1-async"...).

W6 runs legato twice, ``legato-fifo`` and ``legato-critical-path`` (``priority="critical_path"``,
each step's ``cost`` its sleep, as the core's W6 test and DESIGN's simulation give it), beside
the first-come peers ``graphlib+threadpool`` (4 workers) and ``asyncio-hand-rolled`` (a
semaphore of 4).

Implementations (``impl``):
- ``legato``: a ``legato.Flow``, one step per task; what is timed is ``flow.run()`` (it builds and
  validates the graph, runs, and returns the report), not adding the steps.
- ``graphlib+threadpool`` (sync): ``graphlib.TopologicalSorter`` + ``ThreadPoolExecutor``
  (``max_workers`` 50 for W4, the default otherwise), ``wait(FIRST_COMPLETED)``.
- ``asyncio-hand-rolled`` (async): in-degree counting, ``loop.create_task`` per task and a
  done-callback that starts the dependents (a semaphore for W4's max_parallel).
- ``dask-threaded`` (sync): ``dask.threaded.get`` on a task graph.
- ``prefect`` (sync): Prefect 3 run locally (``@flow``/``@task``, ``task.submit(wait_for=...)``);
  at about 14 ms per task it runs W1-W3 at 1,000 tasks (``tasks`` says how many), W4, and W5 at
  1,000.

Every figure is the median of ``--runs`` timed runs after one untimed warm-up; the timed runs
go round the implementations in turn so that a slow moment of the machine falls on all alike.
Rows are merged into ``--json`` (one object per line; a row replaces the row with the same door,
impl and workload).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import graphlib
import json
import os
import pathlib
import statistics
import subprocess
import sys
import threading
import time
from typing import Any, Awaitable, Callable, Optional

import legato

SLEEP = 0.010
IDEAL_MS = 40.0
#: W6's lower bound: max(critical path 553 ms, total work 3,221 ms / 4 slots).
W6_BOUND_MS = 805.25


class Lcg:
    def __init__(self) -> None:
        self.s = 42

    def next(self) -> int:
        self.s = (self.s * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        return self.s >> 33


class Dag:
    def __init__(
        self, names: list[str], deps: list[list[int]], body: str = "noop", max_parallel: Optional[int] = None
    ) -> None:
        self.names = names
        self.deps = deps
        self.body = body  # noop | sleep | fail2
        self.max_parallel = max_parallel

    def __len__(self) -> int:
        return len(self.names)


def wide(n: int) -> Dag:
    return Dag([f"t{i}" for i in range(n)] + ["sink"], [[] for _ in range(n)] + [list(range(n))])


def chain(n: int) -> Dag:
    return Dag([f"t{i}" for i in range(n)], [[i - 1] if i else [] for i in range(n)])


def random_dag(n: int) -> Dag:
    lcg = Lcg()
    deps: list[list[int]] = []
    for i in range(n):
        chosen: list[int] = []
        if i > 0:
            k = 1 + lcg.next() % 3
            for _ in range(k):
                j = lcg.next() % i
                if j not in chosen:
                    chosen.append(j)
        deps.append(chosen)
    return Dag([f"t{i}" for i in range(n)], deps)


def layers() -> Dag:
    lcg = Lcg()
    names, deps = [], []
    for layer in range(4):
        for i in range(50):
            names.append(f"l{layer}_{i}")
            d = []
            if layer > 0:
                a, b = lcg.next() % 50, lcg.next() % 50
                d.append((layer - 1) * 50 + a)
                if b != a:
                    d.append((layer - 1) * 50 + b)
            deps.append(d)
    return Dag(names, deps, "sleep", 50)


def w6() -> tuple[Dag, list[int]]:
    """DESIGN's W6: the graph and each task's sleep in ms (drawn after its dependencies)."""
    lcg = Lcg()
    deps: list[list[int]] = []
    ms: list[int] = []
    for i in range(300):
        chosen: list[int] = []
        if i > 0:
            k = lcg.next() % 4
            for _ in range(k):
                j = i - 1 - lcg.next() % min(i, 10)
                if j not in chosen:
                    chosen.append(j)
        deps.append(chosen)
        ms.append(1 + lcg.next() % 20)
    return Dag([f"t{i}" for i in range(300)], deps, "w6", 4), ms


def retry(n: int) -> Dag:
    return Dag([f"t{i}" for i in range(n)], [[] for _ in range(n)], "fail2")


class Flaky(Exception):
    pass


# ----- legato --------------------------------------------------------------------------------


def legato_flow(dag: Dag, is_async: bool) -> Callable[[], Any]:
    flow = legato.Flow("bench", max_parallel=dag.max_parallel)
    if dag.body == "noop":
        if is_async:

            async def body() -> None:
                pass
        else:

            def body() -> None:
                pass
    elif dag.body == "sleep":
        if is_async:

            async def body() -> None:
                await asyncio.sleep(SLEEP)
        else:

            def body() -> None:
                time.sleep(SLEEP)
    else:
        if is_async:

            async def body(ctx: Any) -> None:
                if ctx.attempt <= 2:
                    raise Flaky()
        else:

            def body(ctx: Any) -> None:
                if ctx.attempt <= 2:
                    raise Flaky()

    add_steps(flow, dag, body)

    def run() -> Any:
        report = flow.run()
        assert report.ok
        return report

    return run


def add_steps(flow: legato.Flow, dag: Dag, body: Callable[..., Any]) -> None:
    """Adds one step per task of ``dag``, as a user would: ``flow.add`` with names in ``after=``."""
    retries = 2 if dag.body == "fail2" else None
    for name, deps in zip(dag.names, dag.deps):
        flow.add(body, name=name, after=[dag.names[d] for d in deps], retries=retries)


def define_add(dag: Dag) -> Callable[[], Any]:
    """W1's steps added with ``flow.add`` (one function for every step), then ``plan()``."""

    def body() -> None:
        pass

    def define() -> Any:
        flow = legato.Flow("bench")
        add_steps(flow, dag, body)
        return flow.plan()

    return define


def define_decorator(dag: Dag) -> Callable[[], Any]:
    """W1's steps as a function each (a new one per step) under ``@flow.step``, then ``plan()``."""

    def define() -> Any:
        flow = legato.Flow("bench")
        for name, deps in zip(dag.names, dag.deps):

            @flow.step(name=name, after=[dag.names[d] for d in deps])
            def body() -> None:
                pass

        return flow.plan()

    return define


def define_graphlib(dag: Dag) -> Callable[[], Any]:
    """The peer: the same graph given to ``graphlib.TopologicalSorter``, then ``prepare()``."""

    def define() -> Any:
        ts: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
        for name, deps in zip(dag.names, dag.deps):
            ts.add(name, *[dag.names[d] for d in deps])
        ts.prepare()
        return ts

    return define


def bench_define(runs: int) -> list[dict[str, Any]]:
    """The ``define`` rows: the cost of declaring W1 (10,001 steps), not of running it."""
    dag = WORKLOADS["W1"]()
    impls = {
        "legato": define_add(dag),
        "legato @flow.step": define_decorator(dag),
        "graphlib": define_graphlib(dag),
    }
    notes = {
        "legato": "W1's steps added with flow.add (one function), then plan(); target <= 3 us a step",
        "legato @flow.step": "W1's steps as a new function each under @flow.step, then plan()",
        "graphlib": "TopologicalSorter.add per task, then prepare(): the peer",
    }
    times = time_in_turns(impls, runs)
    peer_ms = median_ms(times["graphlib"])
    rows = []
    for k in impls:
        ms = median_ms(times[k])
        rows.append(
            {
                "door": "python",
                "impl": k,
                "workload": "define",
                "tasks": len(dag),
                "runs": runs,
                "ms": round(ms, 4),
                "per_task_us": round(ms * 1000 / len(dag), 4),
                "vs_graphlib": round(ms / peer_ms, 4),
                "note": notes[k],
            }
        )
    return rows


# ----- peers ---------------------------------------------------------------------------------


def sync_body(dag: Dag) -> Callable[[], None]:
    if dag.body == "noop":
        return lambda: None
    if dag.body == "sleep":
        return lambda: time.sleep(SLEEP)

    def flaky() -> None:  # a retry loop, as the peer's own code would have it
        for attempt in (1, 2, 3):
            try:
                if attempt <= 2:
                    raise Flaky()
                return
            except Flaky:
                continue

    return flaky


def graphlib_threadpool(dag: Dag) -> Callable[[], Any]:
    body = sync_body(dag)
    graph = {i: set(d) for i, d in enumerate(dag.deps)}
    workers = dag.max_parallel

    def run() -> int:
        ts = graphlib.TopologicalSorter(graph)
        ts.prepare()
        done_count = 0
        with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as ex:
            pending: dict[concurrent.futures.Future[None], int] = {}
            while ts.is_active():
                for node in ts.get_ready():
                    pending[ex.submit(body)] = node
                finished, _ = concurrent.futures.wait(pending, return_when=concurrent.futures.FIRST_COMPLETED)
                for f in finished:
                    f.result()
                    ts.done(pending.pop(f))
                    done_count += 1
        assert done_count == len(dag)
        return done_count

    return run


def dask_threaded(dag: Dag) -> Callable[[], Any]:
    import dask.threaded

    body = sync_body(dag)

    def call(*_: Any) -> None:
        body()

    dsk = {name: (call, *[dag.names[d] for d in deps]) for name, deps in zip(dag.names, dag.deps)}
    keys = list(dag.names)
    workers = dag.max_parallel

    def run() -> Any:
        return dask.threaded.get(dsk, keys, num_workers=workers)

    return run


def time_in_turns(impls: dict[str, Callable[[], Any]], runs: int) -> dict[str, list[float]]:
    """Each implementation's run times, in seconds: one warm-up each, then `runs` rounds in
    which they take turns (a slow moment of the machine falls on all of them alike)."""
    times: dict[str, list[float]] = {k: [] for k in impls}
    for fn in impls.values():  # warm-up
        fn()
    for _ in range(runs):
        for k, fn in impls.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return times


def dependents_of(dag: Dag) -> list[list[int]]:
    """Each step's dependents (the in-degree runners' reverse edges), made before timing."""
    dependents: list[list[int]] = [[] for _ in range(len(dag))]
    for i, d in enumerate(dag.deps):
        for j in d:
            dependents[j].append(i)
    return dependents


async def run_by_indegree(
    dependents: list[list[int]], indegree0: list[int], body: Callable[[int], Awaitable[None]]
) -> int:
    """The hand-rolled asyncio runner: a task per step once its in-degree is zero; returns how
    many finished."""
    loop = asyncio.get_running_loop()
    n = len(indegree0)
    indegree = list(indegree0)
    done = loop.create_future()
    finished = 0

    def start(i: int) -> None:
        loop.create_task(body(i)).add_done_callback(lambda t, i=i: on_done(i, t))

    def on_done(i: int, t: asyncio.Task[None]) -> None:
        nonlocal finished
        t.result()
        finished += 1
        for j in dependents[i]:
            indegree[j] -= 1
            if indegree[j] == 0:
                start(j)
        if finished == n:
            done.set_result(None)

    for i in range(n):
        if indegree[i] == 0:
            start(i)
    await done
    return finished


def asyncio_hand_rolled(dag: Dag) -> Callable[[], Any]:
    dependents = dependents_of(dag)
    indegree0 = [len(d) for d in dag.deps]
    kind = dag.body
    limit = dag.max_parallel

    async def main() -> int:
        sem = asyncio.Semaphore(limit) if limit else None

        async def body(_: int) -> None:
            if kind == "sleep":
                if sem is not None:
                    async with sem:
                        await asyncio.sleep(SLEEP)
                else:
                    await asyncio.sleep(SLEEP)
            elif kind == "fail2":
                for attempt in (1, 2, 3):
                    try:
                        if attempt <= 2:
                            raise Flaky()
                        return
                    except Flaky:
                        continue

        return await run_by_indegree(dependents, indegree0, body)

    return lambda: asyncio.run(main())


def prefect_flow(dag: Dag) -> Callable[[], Any]:
    from prefect import flow, task

    kind = dag.body

    @task
    def t() -> None:
        if kind == "sleep":
            time.sleep(SLEEP)

    @task(retries=2)
    def flaky() -> None:  # Prefect's own retries: fails twice per task run
        from prefect.context import get_run_context

        if get_run_context().task_run.run_count <= 2:  # type: ignore[union-attr]
            raise Flaky()

    body = flaky if kind == "fail2" else t

    @flow
    def run_flow() -> int:
        futures: list[Any] = []
        for deps in dag.deps:
            futures.append(body.submit(wait_for=[futures[d] for d in deps]))
        for f in futures:
            f.wait()
        return len(futures)

    return lambda: run_flow()


# ----- W6 ------------------------------------------------------------------------------------


def legato_w6(dag: Dag, ms: list[int], is_async: bool, priority: str) -> Callable[[], Any]:
    """W6 as a user writes it: one step per task that sleeps its time, ``cost=`` that time."""
    flow = legato.Flow("w6", max_parallel=dag.max_parallel, priority=priority)
    for name, deps, m in zip(dag.names, dag.deps, ms):
        secs = m / 1000
        if is_async:

            async def body(secs: float = secs) -> None:
                await asyncio.sleep(secs)
        else:

            def body(secs: float = secs) -> None:
                time.sleep(secs)

        flow.add(body, name=name, after=[dag.names[d] for d in deps], cost=secs)

    def run() -> Any:
        report = flow.run()
        assert report.ok
        return report

    return run


def graphlib_w6(dag: Dag, ms: list[int]) -> Callable[[], Any]:
    """The sync peer: ``graphlib.TopologicalSorter`` + 4 threads, first come first served."""
    graph = {i: set(d) for i, d in enumerate(dag.deps)}

    def run() -> int:
        ts = graphlib.TopologicalSorter(graph)
        ts.prepare()
        with concurrent.futures.ThreadPoolExecutor(max_workers=dag.max_parallel) as ex:
            pending: dict[concurrent.futures.Future[None], int] = {}
            while ts.is_active():
                for node in ts.get_ready():
                    pending[ex.submit(time.sleep, ms[node] / 1000)] = node
                finished, _ = concurrent.futures.wait(pending, return_when=concurrent.futures.FIRST_COMPLETED)
                for f in finished:
                    f.result()
                    ts.done(pending.pop(f))
        return len(dag)

    return run


def asyncio_w6(dag: Dag, ms: list[int]) -> Callable[[], Any]:
    """The async peer: in-degree counting, a task per step under a semaphore of 4."""
    dependents = dependents_of(dag)
    indegree0 = [len(d) for d in dag.deps]

    async def main() -> None:
        sem = asyncio.Semaphore(dag.max_parallel or len(dag))

        async def body(i: int) -> None:
            async with sem:
                await asyncio.sleep(ms[i] / 1000)

        await run_by_indegree(dependents, indegree0, body)

    return lambda: asyncio.run(main())


def w6_floor(ms: list[int], is_async: bool) -> Callable[[], Any]:
    """No scheduler and no dependencies: the 300 sleeps split into 4 even lanes (longest first,
    each to the least loaded lane: 805-806 ms of sleep a lane), each lane sleeping its share in a
    row on a thread (sync) or a task (async). What the machine's timer alone adds to W6's bound."""
    lanes: list[list[float]] = [[] for _ in range(4)]
    for m in sorted(ms, reverse=True):
        min(lanes, key=lambda lane: sum(lane)).append(m / 1000)

    def sync_lane(lane: list[float]) -> None:
        for secs in lane:
            time.sleep(secs)

    async def async_lane(lane: list[float]) -> None:
        for secs in lane:
            await asyncio.sleep(secs)

    async def all_lanes() -> None:
        await asyncio.gather(*(async_lane(lane) for lane in lanes))

    def run() -> None:
        if is_async:
            asyncio.run(all_lanes())
            return
        threads = [threading.Thread(target=sync_lane, args=(lane,)) for lane in lanes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    return run


def bench_w6(runs: int) -> list[dict[str, Any]]:
    """W6 rows: makespan / the lower bound for legato in both orders and the first-come peer,
    sync steps ("W6") and ``async def`` steps ("W6-async")."""
    dag, ms = w6()
    assert sum(ms) == 3221, "DESIGN's total work"
    rows: list[dict[str, Any]] = []
    for is_async in (False, True):
        wl = "W6" + ("-async" if is_async else "")
        peer = "asyncio-hand-rolled" if is_async else "graphlib+threadpool"
        impls: dict[str, Callable[[], Any]] = {
            "legato-fifo": legato_w6(dag, ms, is_async, "fifo"),
            "legato-critical-path": legato_w6(dag, ms, is_async, "critical_path"),
            peer: asyncio_w6(dag, ms) if is_async else graphlib_w6(dag, ms),
            "sleeps floor": w6_floor(ms, is_async),
        }
        times = time_in_turns(impls, runs)
        peer_ms = median_ms(times[peer])
        for k in impls:
            m = median_ms(times[k])
            row: dict[str, Any] = {
                "door": "python",
                "impl": k,
                "workload": wl,
                "tasks": len(dag),
                "runs": runs,
                "ms": round(m, 4),
                "makespan_ratio": round(m / W6_BOUND_MS, 4),
                "vs_" + ("asyncio" if is_async else "graphlib"): round(m / peer_ms, 4),
            }
            if k == "sleeps floor":
                row["tasks"] = 0
                row["note"] = "no scheduler: the 300 sleeps in 4 even lanes, the timer's own floor"
            rows.append(row)
    return rows


# ----- running -------------------------------------------------------------------------------

WORKLOADS: dict[str, Callable[[], Dag]] = {
    "W1": lambda: wide(10_000),
    "W2": lambda: chain(2_000),
    "W3": lambda: random_dag(10_000),
    "W4": layers,
    "W5": lambda: retry(1_000),
}
PREFECT_SIZES: dict[str, Callable[[], Dag]] = {
    "W1": lambda: wide(1_000),
    "W2": lambda: chain(1_000),
    "W3": lambda: random_dag(1_000),
    "W4": layers,
    "W5": lambda: retry(1_000),
}


def median_ms(times: list[float]) -> float:
    return statistics.median(times) * 1000


def bench_workload(name: str, runs: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    dag = WORKLOADS[name]()
    for is_async in (False, True):
        wl = name + ("-async" if is_async else "")
        impls: dict[str, tuple[Callable[[], Any], int]] = {"legato": (legato_flow(dag, is_async), len(dag))}
        if is_async:
            impls["asyncio-hand-rolled"] = (asyncio_hand_rolled(dag), len(dag))
        else:
            impls["graphlib+threadpool"] = (graphlib_threadpool(dag), len(dag))
            try:
                impls["dask-threaded"] = (dask_threaded(dag), len(dag))
            except ImportError:
                print("dask not installed: dask-threaded skipped", file=sys.stderr)
        times: dict[str, list[float]] = {k: [] for k in impls}
        for fn, _ in impls.values():  # warm-up
            fn()
        for _ in range(runs):
            for k, (fn, _) in impls.items():
                t0 = time.perf_counter()
                fn()
                times[k].append(time.perf_counter() - t0)
        peer = "asyncio-hand-rolled" if is_async else "graphlib+threadpool"
        peer_ms = median_ms(times[peer])
        for k, (_, n) in impls.items():
            ms = median_ms(times[k])
            row: dict[str, Any] = {
                "door": "python",
                "impl": k,
                "workload": wl,
                "tasks": n,
                "runs": runs,
                "ms": round(ms, 4),
            }
            if name == "W4":
                row["makespan_ratio"] = round(ms / IDEAL_MS, 4)
            else:
                row["per_task_us"] = round(ms * 1000 / n, 4)
            row["vs_" + ("asyncio" if is_async else "graphlib")] = round(ms / peer_ms, 4)
            rows.append(row)
        if name == "W4":
            rows.append(sleep_floor(runs, is_async))
    return rows


def sleep_floor(runs: int, is_async: bool) -> dict[str, Any]:
    """Four 10 ms sleeps in a row, no scheduler: the timer's own floor on this machine."""

    async def four() -> None:
        for _ in range(4):
            await asyncio.sleep(SLEEP)

    times = []
    for _ in range(runs + 1):
        t0 = time.perf_counter()
        if is_async:
            asyncio.run(four())
        else:
            for _ in range(4):
                time.sleep(SLEEP)
        times.append(time.perf_counter() - t0)
    ms = median_ms(times[1:])
    return {
        "door": "python",
        "impl": "4 sleeps",
        "workload": "W4" + ("-async" if is_async else ""),
        "tasks": 0,
        "runs": runs,
        "ms": round(ms, 4),
        "makespan_ratio": round(ms / IDEAL_MS, 4),
        "note": "no scheduler: 4 x sleep(10 ms) in a row, the timer's own floor",
    }


def bench_prefect(name: str, runs: int) -> list[dict[str, Any]]:
    try:
        dag = PREFECT_SIZES[name]()
        fn = prefect_flow(dag)
        fn()  # warm-up (also starts Prefect's local machinery)
        prefect_runs = max(1, min(runs, 3))
        times = []
        for _ in range(prefect_runs):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    except Exception as e:  # Prefect missing or not runnable here: say so
        print(f"prefect could not run {name}: {type(e).__name__}: {e}", file=sys.stderr)
        return [
            {
                "door": "python",
                "impl": "prefect",
                "workload": name,
                "tasks": 0,
                "runs": 0,
                "note": f"could not run: {type(e).__name__}: {str(e)[:120]}",
            }
        ]
    ms = median_ms(times)
    row: dict[str, Any] = {
        "door": "python",
        "impl": "prefect",
        "workload": name,
        "tasks": len(dag),
        "runs": prefect_runs,
        "ms": round(ms, 4),
    }
    if name == "W4":
        row["makespan_ratio"] = round(ms / IDEAL_MS, 4)
    else:
        row["per_task_us"] = round(ms * 1000 / len(dag), 4)
    if len(dag) != len(WORKLOADS[name]()):
        row["note"] = f"run at {len(dag)} tasks (Prefect's per-task cost); per task figures compare"
    return [row]


def merge(path: pathlib.Path, rows: list[dict[str, Any]]) -> None:
    old: list[dict[str, Any]] = json.loads(path.read_text()) if path.exists() else []
    key = lambda r: (r.get("door"), r.get("impl"), r.get("workload"), r.get("phase"))  # noqa: E731
    new_keys = {key(r) for r in rows}
    merged = [r for r in old if key(r) not in new_keys] + rows
    path.write_text("[\n" + ",\n".join("  " + json.dumps(r, ensure_ascii=False) for r in merged) + "\n]\n")


def table(rows: list[dict[str, Any]]) -> str:
    out = [
        f"{'workload':<10} {'impl':<22} {'tasks':>6} {'ms':>10} {'µs/task':>9} {'xideal':>7} {'xpeer':>7}  note"
    ]
    for r in rows:
        vs = r.get("vs_graphlib", r.get("vs_asyncio"))
        out.append(
            f"{r['workload']:<10} {r['impl']:<22} {r.get('tasks', 0):>6} {r.get('ms', float('nan')):>10.2f} "
            f"{r.get('per_task_us', float('nan')):>9.2f} {r.get('makespan_ratio', float('nan')):>7.3f} "
            f"{(vs if vs is not None else float('nan')):>7.3f}  {r.get('note', '')}"
        )
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("workloads", nargs="*", default=[], help="W1 … W6, define (default: all)")
    ap.add_argument("--only", help="a comma-separated list of workloads, as the positional ones")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", type=pathlib.Path, help="merge the rows into this file")
    ap.add_argument("--no-prefect", action="store_true", help="skip the Prefect peer")
    ap.add_argument("--prefect-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    chosen = list(args.workloads) + (args.only.split(",") if args.only else [])
    for w in chosen:
        if w not in WORKLOADS and w not in ("define", "W6"):
            ap.error(f"unknown workload {w!r} (W1 … W6, define)")
    args.workloads = [w for w in chosen if w not in ("define", "W6")] if chosen else list(WORKLOADS)
    define = not chosen or "define" in chosen
    priority = not chosen or "W6" in chosen
    if args.prefect_only:
        # In a process of its own: Prefect leaves background threads (an event loop, services)
        # that would slow down every figure measured after it in the same process.
        for w in args.workloads:
            for r in bench_prefect(w, args.runs):
                print("ROW " + json.dumps(r), flush=True)
        return
    rows: list[dict[str, Any]] = []
    for w in args.workloads:
        rows.extend(bench_workload(w, args.runs))
        print(table([r for r in rows if r["workload"].split("-")[0] == w]), flush=True)
    if define:
        rows.extend(bench_define(args.runs))
        print(table([r for r in rows if r["workload"] == "define"]), flush=True)
    if priority:
        rows.extend(bench_w6(args.runs))
        print(table([r for r in rows if r["workload"].startswith("W6")]), flush=True)
    if not args.no_prefect and args.workloads:
        # PREFECT_API_URL empty: Prefect runs against a temporary in-process server.
        env = {**os.environ, "PREFECT_LOGGING_LEVEL": "CRITICAL", "PREFECT_API_URL": ""}
        proc = subprocess.run(
            [sys.executable, __file__, "--prefect-only", "--runs", str(args.runs), *args.workloads],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        prefect_rows = [json.loads(line[4:]) for line in proc.stdout.splitlines() if line.startswith("ROW ")]
        if not prefect_rows:
            tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
            prefect_rows = [
                {
                    "door": "python",
                    "impl": "prefect",
                    "workload": w,
                    "tasks": 0,
                    "runs": 0,
                    "note": f"could not run: {tail[0][:120]}",
                }
                for w in args.workloads
            ]
        rows.extend(prefect_rows)
        print(table(prefect_rows), flush=True)
    if args.json:
        merge(args.json, rows)
        print(f"merged {len(rows)} rows into {args.json}")


if __name__ == "__main__":
    main()
