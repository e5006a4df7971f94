"""legato: task orchestration with one Rust core.

Decorate functions — sync or ``async def`` — into a :class:`Flow` (a declared DAG with
retries, timeouts, sequences and hooks), or wrap them as actions of an :class:`Orchestrator`
and call them from a ``main``. The Rust scheduler makes every decision; sync callables run on a
worker pool, coroutines on your asyncio loop.

    >>> import legato
    >>> flow = legato.Flow("hello")
    >>> @flow.step
    ... def greet():
    ...     return "hello"
    >>> flow.run().tasks["greet"].result
    'hello'
"""

from __future__ import annotations

import atexit
import os
from typing import Optional

from . import _legato, _runtime
from ._flow import Flow, Group, RunHandle, SyncPoint
from ._legato import (
    Backoff,
    CancelledError,
    CycleError,
    DuplicateTaskError,
    FlowError,
    GraphError,
    LegatoError,
    MissingDependencyError,
    RunReport,
    TaskContext,
    TaskFailedError,
    TaskReport,
    TaskTimeoutError,
    UnknownTaskError,
)
from ._orchestrator import Orchestrator
from .events import (
    ProcessBegin,
    ProcessCompletion,
    TaskBegin,
    TaskCompletion,
    TaskFailure,
    TaskReady,
    TaskRetry,
    TaskSkip,
    TaskSuccess,
)

__version__: str = _legato.__version__

_legato._init(_runtime)
atexit.register(_legato._shutdown)
if hasattr(os, "register_at_fork"):
    # fork() policy: a child starts with an empty worker pool (the parent's threads are not there).
    os.register_at_fork(after_in_child=_legato._after_fork)


def current() -> Optional[TaskContext]:
    """The context of the task running now (its name, attempt, state, results, cancelled),
    from anywhere inside it; ``None`` outside a task."""
    return _legato.current()


__all__ = [
    "Backoff",
    "CancelledError",
    "CycleError",
    "DuplicateTaskError",
    "Flow",
    "FlowError",
    "GraphError",
    "Group",
    "LegatoError",
    "MissingDependencyError",
    "Orchestrator",
    "ProcessBegin",
    "ProcessCompletion",
    "RunHandle",
    "RunReport",
    "SyncPoint",
    "TaskBegin",
    "TaskCompletion",
    "TaskContext",
    "TaskFailedError",
    "TaskFailure",
    "TaskReady",
    "TaskReport",
    "TaskRetry",
    "TaskSkip",
    "TaskSuccess",
    "TaskTimeoutError",
    "UnknownTaskError",
    "__version__",
    "current",
]
