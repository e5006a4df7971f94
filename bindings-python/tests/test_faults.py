"""Ctrl-C, interpreter exit with a run in flight, executors (process pool, Dask)."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap

import pytest
from exits import exits_cleanly_twenty_times

import legato

PY = sys.executable


def spawn(code: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [PY, "-c", textwrap.dedent(code)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_ctrl_c_cancels_the_run_hooks_see_completion_then_keyboard_interrupt(kind: str) -> None:
    # The body says it started: the run is then waiting on it (hooks done), so the signal
    # reaches the wait, with no sleep to make that likely.
    body = (
        "def forever():\n    print('started', flush=True)\n    while True: time.sleep(0.01)"
        if kind == "sync"
        else "async def forever():\n    print('started', flush=True)\n    await asyncio.sleep(3600)"
    )
    p = spawn(
        """
        import asyncio, sys, time, legato
        flow = legato.Flow("ctrl-c")
        exec(BODY)
        flow.add(forever)
        flow.on_process_completion(lambda e: print("completion", e.report.tasks["forever"].status, flush=True))
        try:
            flow.run()
        except KeyboardInterrupt:
            print("KeyboardInterrupt", flush=True)
            sys.exit(3)
        """.replace("BODY", repr(body))
    )
    assert p.stdout is not None
    assert p.stdout.readline().strip() == "started"
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=20)
    assert p.returncode == 3, err
    assert out.split("\n")[:2] == ["completion cancelled", "KeyboardInterrupt"]


def test_interpreter_exit_with_a_run_in_flight_does_not_hang() -> None:
    p = spawn(
        """
        import asyncio, threading, time, legato
        flow = legato.Flow("exit")
        started = threading.Event()
        @flow.step
        def stuck():
            started.set()
            time.sleep(3600)
        threading.Thread(target=flow.run, daemon=True).start()
        started.wait(10)
        print("leaving", flush=True)
        """
    )
    out, err = p.communicate(timeout=30)
    assert "leaving" in out and p.returncode == 0, err


@pytest.mark.parametrize(
    ("steps", "hook"),
    [
        ("sync", "sleep"),
        ("sync", "logging"),
        ("async", "sleep"),
        ("orchestrator", "sleep"),
        ("async", "logging"),
        ("orchestrator", "logging"),
        ("retry_if", "sleep"),
        ("executor", "logging"),
    ],
)
def test_exit_while_a_daemon_thread_runs_hooks_that_release_the_gil_does_not_abort(
    hook: str, steps: str
) -> None:
    """Issue 19 #1: a hook that releases the GIL (a 2 ms sleep, logging) on a daemon thread
    inside run() when the main thread exits: CPython ends that thread when it takes the GIL
    back, which aborted the process ("FATAL: exception not rethrown") while the hook ran under
    the driver's Rust frames. On an asyncio run the driver also calls the loop's own Python
    methods (call_soon, create_task) under its frames: interpreter exit waits until no thread
    is inside the driver, and a thread that comes in then parks (before: 2 of 20 exits aborted
    with a logging hook); so does a ``retry_if`` predicate, called under them on a worker.
    Twenty exits each, all clean."""
    code = f"""
        import asyncio, logging, sys, threading, time, legato
        logging.basicConfig(stream=sys.stdout, level=logging.INFO)
        log = logging.getLogger("hooks")
        started = threading.Event()
        def hook(e):
            started.set()
            if {hook!r} == "sleep":
                time.sleep(0.002)
            else:
                log.info("task %s begins", e.name)
        if {steps!r} == "orchestrator":
            orch = legato.Orchestrator()
            orch.on_task_begin(hook)
            @orch.action
            async def act(i):
                return i
            async def main():
                for i in range(100):
                    await act(i)
            go = lambda: orch.run(main)
        elif {steps!r} == "retry_if":
            # The predicate (here the one releasing the GIL) runs under the driver's frames.
            flow = legato.Flow("exit")
            def bad():
                raise ValueError("no")
            def pred(e):
                hook(e)
                return True
            for i in range(100):
                flow.add(bad, name=f"s{{i}}", retries=1, retry_if=pred)
            go = flow.run
        elif {steps!r} == "executor":
            # The executor's submit (it starts threads) runs under the driver's frames.
            import concurrent.futures
            pool = concurrent.futures.ThreadPoolExecutor(4)
            flow = legato.Flow("exit", executor=pool)
            flow.on_task_begin(hook)
            for i in range(100):
                flow.add(lambda: None, name=f"s{{i}}")
            go = flow.run
        else:
            flow = legato.Flow("exit")
            flow.on_task_begin(hook)
            async def a():
                return None
            for i in range(100):
                flow.add(a if {steps!r} == "async" else (lambda: None), name=f"s{{i}}")
            go = flow.run
        def forever():
            while True:
                try:
                    go()
                except (legato.FlowError, RuntimeError):  # RuntimeError: the executor shut down
                    pass
        threading.Thread(target=forever, daemon=True).start()
        started.wait()
    """
    exits_cleanly_twenty_times(code)


def test_a_sync_main_left_running_by_the_run_timeout_does_not_hold_up_interpreter_exit() -> None:
    p = spawn(
        """
        import time, legato
        orch = legato.Orchestrator(timeout=0.1)
        t0 = time.monotonic()
        try:
            orch.run(lambda: time.sleep(60))
        except legato.TaskTimeoutError as e:
            print(e, time.monotonic() - t0 < 5, flush=True)
        """
    )
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    assert out.strip() == "run timed out after 100ms True"


def test_a_chain_of_100000_steps_whose_head_fails_finishes_all_others_skipped() -> None:
    # Rule 14. In a child process: a stack overflow kills the process, not the suite.
    p = spawn(
        """
        import legato
        N = 100_000
        flow = legato.Flow("chain")
        def head():
            raise RuntimeError("head fails")
        flow.add(head, name="t0")
        for i in range(1, N):
            flow.add(lambda: None, name=f"t{i}", after=[f"t{i - 1}"])
        try:
            flow.run()
        except legato.FlowError as e:
            r = e.report
            print(r.counts["failed"], r.counts["skipped"], r.tasks[f"t{N - 1}"].skip_reason, flush=True)
        """
    )
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, f"exit {p.returncode}: {err[-2000:]}"
    assert out.strip() == '1 99999 dependency "t0" failed'


def square(x: int) -> int:
    return x * x


def pid() -> int:
    return os.getpid()


def negate(where: int) -> int:
    return -where


def test_process_pool_executor_runs_sync_steps_in_other_processes() -> None:
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=ctx) as ex:
        flow = legato.Flow("procs", executor=ex)
        flow.add(pid, name="where")
        flow.add(lambda: 7, name="seven")
        flow.add(negate, after=["where"])
        # seven's lambda cannot be pickled: its error is the task's, the rest goes on
        try:
            report = flow.run()
        except legato.FlowError as e:
            report = e.report  # type: ignore[attr-defined]
        assert report.tasks["where"].status == "succeeded"
        assert report.tasks["where"].result != os.getpid()
        assert report.tasks["negate"].result == -report.tasks["where"].result
        assert report.tasks["seven"].status == "failed"


def test_dask_local_cluster_through_its_executor() -> None:
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        flow = legato.Flow("dask", executor=client.get_executor())

        @flow.step
        def two() -> int:
            distributed.get_worker()  # raises ValueError outside a Dask worker
            return 2

        @flow.step
        def four(two: int) -> int:
            return square(two)

        assert flow.run().tasks["four"].result == 4


def test_a_forked_child_runs_sync_steps_with_a_pool_of_its_own() -> None:
    flow = legato.Flow("fork")
    flow.add(lambda: os.getpid(), name="where")
    assert flow.run().tasks["where"].result == os.getpid()  # the parent's pool has workers now
    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            code = 0 if flow.run().tasks["where"].result == os.getpid() else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
