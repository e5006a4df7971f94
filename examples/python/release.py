"""A release, in Python: a Flow of sync and async steps, a runbook with a database limit and a
cleanup step, then an Orchestrator with recursion.

Run it with `make demo-python` (or `python examples/python/release.py` once the package is
installed). It prints the plan, a drawing, a live trace from the hooks and the report, and
asserts what it shows.
"""

from __future__ import annotations

import asyncio
import threading
import time

import legato

# ----- a Flow -------------------------------------------------------------------------------

flow = legato.Flow("release", max_parallel=4, state={"deployed": []})
attempts = {"build": 0}


@flow.step(description="Install dependencies")
def install() -> str:
    time.sleep(0.01)  # sync steps run on the worker pool
    return "node_modules"


@flow.step(retries=2, backoff=legato.Backoff.exponential(0.01, max=0.1), timeout=5.0)
def build(install: str) -> str:  # a parameter named after a step receives its result
    attempts["build"] += 1
    if attempts["build"] == 1:
        raise ConnectionError("registry timed out")  # the first attempt fails, the retry succeeds
    return f"dist/app.tar (with {install})"


@flow.step(after=[install])
async def lint() -> int:
    await asyncio.sleep(0.01)  # async steps run on the asyncio loop
    return 0


@flow.step(after=[build, lint], sequences=["db"])
async def migrate(ctx: legato.TaskContext, build: str) -> str:
    await asyncio.sleep(0.005)
    return f"{ctx.name}: schema v42 for {build}"


point = flow.parallel(
    flow.add(lambda: "eu-west ok", name="deploy-eu"),
    flow.add(lambda: "us-east ok", name="deploy-us"),
).after(migrate)


@flow.step(after=[point])
def notify(ctx: legato.TaskContext) -> str:
    # ctx.results holds every step that succeeded so far (rule 10), the deploys among them.
    regions = sorted(n for n in ctx.results if n.startswith("deploy-"))
    ctx.state["deployed"].extend(regions)
    return f"released to {len(regions)} regions"


trace: list[str] = []
flow.on_task_begin(lambda e: trace.append(f"begin {e.name} #{e.attempt}"))
flow.on_task_retry(lambda e: trace.append(f"retry {e.name} after {e.error!r}"))
flow.on_task_completion(lambda e: trace.append(f"done  {e.name} {e.status} ({e.duration * 1000:.1f} ms)"))

print("plan:", flow.plan())
print(flow.to_ascii())
report = flow.run()
for line in trace:
    print("  ", line)
print(report)
print("critical path:", " → ".join(report.critical_path))

assert report.ok
assert report.tasks["build"].attempts == 2
assert report.tasks["migrate"].result == "migrate: schema v42 for dist/app.tar (with node_modules)"
assert report.tasks["notify"].result == "released to 2 regions"
assert flow.state["deployed"] == ["deploy-eu", "deploy-us"]
assert flow.plan("migrate") == [["install"], ["build", "lint"], ["migrate"]]
assert trace.index("begin build #2") > trace.index("retry build after ConnectionError('registry timed out')")

# ----- limits, conditions, cleanup, critical path first -------------------------------------

runbook = legato.Flow(
    "maintenance", max_parallel=3, limits={"db": 2}, priority="critical_path", state={"env": "staging"}
)
holding = {"now": 0, "peak": 0}
lock = threading.Lock()


def on_db(ms: int) -> None:
    with lock:
        holding["now"] += 1
        holding["peak"] = max(holding["peak"], holding["now"])
    time.sleep(ms / 1000)
    with lock:
        holding["now"] -= 1


for table, ms in [("users", 30), ("orders", 20), ("items", 10), ("events", 5)]:
    runbook.add(lambda ms=ms: on_db(ms), name=f"vacuum-{table}", uses=["db"], cost=ms / 1000)
runbook.add(
    lambda: "announced", name="announce", after=["vacuum-users"], when=lambda ctx: ctx.state["env"] == "prod"
)
runbook.add(
    lambda: (_ for _ in ()).throw(RuntimeError("index corrupt")), name="reindex", after=["vacuum-items"]
)
runbook.add(lambda: "unlocked", name="unlock", after=["reindex", "announce"], trigger="all_done")
print(runbook.to_ascii())
try:
    runbook.run()
    raise AssertionError("reindex fails, so the run does")
except legato.FlowError as e:
    print(e)
    done = e.report
assert holding["peak"] <= 2  # never more than limits["db"] on the database
assert done.tasks["announce"].skip_reason == "condition false"  # not on staging: the branch not taken
assert done.tasks["unlock"].result == "unlocked"  # the cleanup ran after the failure

# ----- an Orchestrator ---------------------------------------------------------------------------

orch = legato.Orchestrator(max_parallel=1, state={"calls": 0})
orch.on_task_begin(lambda e: e.context.__setitem__("calls", e.context["calls"] + 1))


@orch.action(cache=True)
def fibonacci(n: int) -> int:
    # recursion under max_parallel=1: a caller waiting for its children holds no slot
    return n if n <= 1 else fibonacci(n - 1) + fibonacci(n - 2)


@orch.action
async def check_inventory(sku: str) -> dict[str, object]:
    await asyncio.sleep(0)
    return {"sku": sku, "in_stock": False}


@orch.action
async def notify_team(sku: str) -> bool:
    return True


async def main() -> tuple[int, bool]:
    stock = await check_inventory("ABC123")
    notified = await notify_team("ABC123") if not stock["in_stock"] else False
    fib = await fibonacci(20)  # a sync action from async code: an awaitable, run on the pool
    return fib, notified


fib, notified = orch.run(main)
print(f"fibonacci(20) = {fib}, team notified: {notified}, tracked calls: {orch.get_state()['calls']}")
assert fib == 6765 and notified
assert orch.get_state()["calls"] == 2 + 21  # two actions + one task per distinct fibonacci(n) (cache=True)
print("ok")
