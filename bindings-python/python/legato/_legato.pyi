"""Stubs of the native module ``legato._legato`` (checked by ``python -m mypy.stubtest``)."""

import asyncio
import datetime
from collections.abc import Iterable, Iterator, Mapping, Sequence
from types import ModuleType
from typing import Any, Callable, Optional, final

__all__ = [
    "LegatoError",
    "GraphError",
    "CycleError",
    "MissingDependencyError",
    "DuplicateTaskError",
    "UnknownTaskError",
    "TaskFailedError",
    "TaskTimeoutError",
    "CancelledError",
    "FlowError",
    "Backoff",
    "Options",
    "Rules",
    "FlowCore",
    "Run",
    "Bodies",
    "TaskContext",
    "RunReport",
    "TaskReport",
    "TaskMap",
    "task_options",
    "run_options",
    "run_rules",
    "check_name",
    "_init",
    "_shutdown",
    "_block_worker",
    "_unblock_worker",
    "_worker_awaits_loop",
    "_worker_loop",
    "current",
    "_current_any",
    "_restore_report",
    "_worker_take",
    "_after_fork",
    "_worker_done",
    "__version__",
]

__version__: str

class LegatoError(Exception):
    """The root of every error legato raises."""

class GraphError(LegatoError):
    """The flow's graph is not valid: a cycle, a missing dependency, a duplicate or unknown task."""

class CycleError(GraphError):
    """The dependencies form a cycle: ``Circular dependency detected: a → b → a``."""

class MissingDependencyError(GraphError):
    """A task depends on a task that does not exist."""

class DuplicateTaskError(GraphError):
    """Two tasks have the same name."""

class UnknownTaskError(GraphError):
    """A run target (or a name looked up) does not exist."""

class TaskFailedError(LegatoError):
    """A task failed (when the cause is not the task's own exception)."""

class TaskTimeoutError(LegatoError):
    """An attempt of a task ran longer than its timeout."""

class CancelledError(LegatoError):
    """A task or a run was cancelled (fail-fast, a run timeout, an outside cancel)."""

class FlowError(LegatoError):
    """A flow run did not succeed; ``.report`` holds the whole run report."""

    report: RunReport

@final
class Backoff:
    """How long to wait before each retry."""

    @staticmethod
    def fixed(seconds: float) -> Backoff: ...
    @staticmethod
    def exponential(
        initial: float, factor: float = 2.0, max: Optional[float] = None, jitter: bool = False
    ) -> Backoff: ...
    def delay(self, n: int) -> float: ...
    def __eq__(self, value: object, /) -> bool: ...

@final
class Options:
    """Validated task options (internal)."""

    def with_uses(self, keys: Iterable[str]) -> Options: ...

@final
class Rules:
    """A run's limits, priority and costs, checked (internal)."""

def task_options(
    retries: Optional[int] = None,
    backoff: Optional[Backoff] = None,
    timeout: Optional[float] = None,
    sequences: Optional[Iterable[str]] = None,
    uses: Optional[Iterable[str]] = None,
    trigger: Optional[str] = None,
    cost: Optional[float] = None,
    conditional: bool = False,
) -> Options: ...
def check_name(argument: str, name: object) -> None:
    """Checks a task name by the core's one rule; a ``ValueError`` naming ``argument``."""

def run_options(
    max_parallel: Optional[int] = None, timeout: Optional[float] = None, max_depth: Optional[int] = None
) -> tuple[Optional[int], Optional[float], int]: ...
def run_rules(
    limits: Optional[Mapping[str, int]] = None,
    priority: Optional[str] = None,
    costs: Optional[RunReport] = None,
) -> Optional[Rules]: ...

@final
class FlowCore:
    """The graph part of a flow (internal)."""

    def __new__(cls) -> FlowCore: ...
    def add(
        self,
        name: str,
        deps: Sequence[str],
        options: Optional[Options] = None,
        description: Optional[str] = None,
    ) -> int: ...
    def add_deps(self, index: int, deps: Sequence[str]) -> None: ...
    def names(self) -> list[str]: ...
    def deps(self, index: int) -> list[str]: ...
    def description(self, index: int) -> Optional[str]: ...
    def __len__(self) -> int: ...
    def position(self, name: str) -> int: ...
    def check(self, targets: Sequence[str]) -> None: ...
    def plan(self, targets: Sequence[str]) -> list[list[str]]: ...
    def render(self, format: str) -> str: ...

@final
class TaskContext:
    """What a running task sees of itself: ``legato.current()``, or a step's ``ctx``."""

    @property
    def name(self) -> str: ...
    @property
    def attempt(self) -> int: ...
    @property
    def state(self) -> Any: ...
    @property
    def results(self) -> dict[str, Any]: ...
    @property
    def cancelled(self) -> bool: ...
    def _run(self) -> Run: ...

@final
class Bodies:
    """A flow's bodies, made once per definition (internal)."""

    def __new__(cls, flow: FlowCore, bodies: Any) -> Bodies: ...
    def __len__(self) -> int: ...

@final
class Run:
    """One run (internal)."""

    def __new__(
        cls,
        flow: Optional[FlowCore],
        bodies: Any,
        targets: Sequence[str],
        hooks: dict[str, list[Callable[..., Any]]],
        context: Any,
        done: Optional[asyncio.Future[None]],
        max_parallel: Optional[int] = None,
        fail_fast: bool = False,
        timeout: Optional[float] = None,
        executor: Any = None,
        main: Optional[Callable[[], asyncio.Future[Any]]] = None,
        title: str = ...,
        max_depth: int = ...,
        rules: Optional[Rules] = None,
        resume: Optional[RunReport] = None,
    ) -> Run: ...
    def start(self) -> None: ...
    def _drive_next(self) -> Optional[tuple[Optional[str], Any]]: ...
    def _drive_end(self) -> None: ...
    def _interrupt(self, e: BaseException) -> None: ...
    def _started(
        self, task: int, attempt: int, coro: Any, first: Any, failed: Optional[BaseException]
    ) -> None: ...
    def _evaluated(self, task: int, value: bool, failed: Optional[BaseException]) -> None: ...
    def _pump(self) -> None: ...
    def _hook_result(self, failed: Optional[BaseException], coro: Any) -> None: ...
    def cancel(self) -> None: ...
    @property
    def finished(self) -> bool: ...
    def report(self) -> RunReport: ...
    def stop_reason(self) -> Optional[str]: ...
    def stop_error(self) -> Optional[BaseException]: ...
    def hook_error(self) -> Optional[BaseException]: ...
    def take_interrupt(self) -> Optional[BaseException]: ...
    def main_future(self) -> Optional[asyncio.Future[Any]]: ...
    def main_context(self) -> TaskContext: ...
    def call(
        self,
        func: Callable[..., Any],
        is_async: bool,
        args: tuple[Any, ...],
        kwargs: Optional[dict[str, Any]],
        name: str,
        options: Optional[Options],
        retry_if: Optional[Callable[[BaseException], bool]],
        cache_key: Any,
        future: bool,
        parent: Optional[TaskContext],
    ) -> tuple[int, Any]: ...
    def calls(
        self,
        calls: Sequence[
            tuple[
                Callable[..., Any],
                bool,
                tuple[Any, ...],
                Optional[dict[str, Any]],
                str,
                Optional[Options],
                Optional[Callable[[BaseException], bool]],
                Any,
            ]
        ],
        future: bool,
        parent: Optional[TaskContext],
        fail_fast: bool,
    ) -> tuple[list[tuple[int, Any]], Optional[int]]: ...
    def group(self, tasks: Sequence[int], parent: Optional[TaskContext]) -> int: ...
    def group_failure(self, group: int) -> Optional[int]: ...
    def wait(self, slots: Sequence[int], tasks: Sequence[int], group: Optional[int] = None) -> list[Any]: ...
    def wait_one(self, slot: int, task: int) -> Any: ...
    def _inline_next(
        self, slots: Sequence[int], tasks: Sequence[int], group: Optional[int], one: bool
    ) -> tuple[bool, Any, Any, Any]: ...
    def _inline_cancel(self, slots: Sequence[int], tasks: Sequence[int]) -> None: ...
    @property
    def key(self) -> int: ...
    def is_cached(self, key: Any) -> bool: ...
    def on_loop_thread(self) -> bool: ...
    def owns(self, ctx: TaskContext) -> bool: ...

@final
class RunReport:
    """The report of a run."""

    @property
    def ok(self) -> bool:
        """Whether the run was not stopped and every task succeeded or was skipped by a
        condition or trigger rule (a branch not taken)."""
    @property
    def tasks(self) -> TaskMap:
        """The tasks by name, one entry per name. A name called several times (an action)
        maps to its latest call, as Node's ``report.tasks``; :attr:`all_tasks` has every call."""
    @property
    def all_tasks(self) -> list[TaskReport]:
        """Every task of the run, one entry per call (five calls of an action: five entries):
        a flow's steps in declaration order, then the calls in the order they were made."""
    @property
    def total_duration(self) -> float: ...
    @property
    def started_at(self) -> Optional[datetime.datetime]: ...
    @property
    def stop(self) -> Optional[str]: ...
    @property
    def failure_reason(self) -> Optional[str]: ...
    @property
    def counts(self) -> dict[str, int]: ...
    @property
    def critical_path(self) -> list[str]: ...
    def to_json(self) -> str:
        """The report as JSON (times in milliseconds from the run's start), with each task's
        result JSON can hold (what ``json.dumps`` makes of it; ``null`` for any other)."""
    @staticmethod
    def from_json(text: str) -> RunReport:
        """A report read back from its JSON (:meth:`to_json`, the CLI's ``--report``): statuses,
        attempts, times, errors and skip reasons as they were, each result the JSON value the
        text holds. ``ValueError`` for a text that is not a report's JSON."""
    def to_mermaid(self) -> str: ...
    def to_html(self, title: Optional[str] = None) -> str: ...
    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]: ...

@final
class TaskMap:
    """The tasks of a report by name: a read-only mapping (a repeated name: its latest call)."""

    def __getitem__(self, key: str, /) -> TaskReport: ...
    def __len__(self) -> int: ...
    def __contains__(self, key: object, /) -> bool: ...
    def __iter__(self) -> Iterator[str]: ...
    def keys(self) -> list[str]: ...
    def values(self) -> list[TaskReport]: ...
    def items(self) -> list[tuple[str, TaskReport]]: ...
    def get(self, name: str, default: Any = None) -> Any: ...

@final
class TaskReport:
    """What happened to one task."""

    @property
    def name(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def attempts(self) -> int: ...
    @property
    def duration(self) -> float: ...
    @property
    def result(self) -> Any: ...
    @property
    def error(self) -> Optional[BaseException]: ...
    @property
    def skip_reason(self) -> Optional[str]:
        """Why it was skipped: ``dependency "x" failed``, why the run stopped, or a branch not
        taken: ``condition false``, ``trigger rule all_succeeded not met``."""
    @property
    def resumed(self) -> bool:
        """Whether it succeeded in the run this one resumed (``flow.run(resume=report)``) and
        was not run again (``succeeded``, 0 attempts, its result reused)."""
    @property
    def started_at(self) -> Optional[datetime.datetime]: ...
    @property
    def finished_at(self) -> Optional[datetime.datetime]: ...
    @property
    def start_offset(self) -> Optional[float]: ...
    @property
    def end_offset(self) -> Optional[float]: ...
    @property
    def parent(self) -> Optional[str]: ...

def _init(runtime: ModuleType) -> None: ...
def _shutdown() -> None: ...
def _block_worker() -> bool: ...
def _unblock_worker() -> None: ...
def _worker_awaits_loop(on: bool) -> None: ...
def _worker_loop() -> Optional[asyncio.AbstractEventLoop]: ...
def _after_fork() -> None: ...
def _worker_take() -> Optional[tuple[Callable[..., Any], tuple[Any, ...], Optional[dict[str, Any]]]]: ...
def _worker_done(
    value: Any, failed: bool
) -> Optional[tuple[Callable[..., Any], tuple[Any, ...], Optional[dict[str, Any]]]]: ...
def current() -> Optional[TaskContext]: ...
def _current_any() -> Optional[TaskContext]: ...
def _restore_report(state: Any) -> RunReport: ...
