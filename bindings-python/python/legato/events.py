"""Hook payloads: one class per event, with the fields DESIGN.md lists.

Times are seconds (float) and UTC datetimes; ``context`` is the flow's or orchestrator's shared
state itself (a live dict), so a hook can change it.
"""

from __future__ import annotations

import datetime
from typing import Any, Optional


class _Event:
    __slots__: Any = ()
    kind = ""

    def __init__(self, **fields: Any) -> None:
        for k, v in fields.items():
            object.__setattr__(self, k, v)

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{k}={getattr(self, k)!r}" for k in self.__slots__ if k not in ("context", "report")
        )
        return f"{type(self).__name__}({shown})"


class ProcessBegin(_Event):
    """The run starts."""

    __slots__ = {
        "context": "The shared state itself (a live dict): a hook may change it.",
        "time": "When the run started (UTC datetime).",
    }
    kind = "process_begin"
    time: datetime.datetime
    context: Any


class TaskReady(_Event):
    """A task is ready: its dependencies ended as its trigger rule asks (by default, all
    succeeded). Its condition (``when``), if any, is called next."""

    __slots__ = {"name": "The task's name."}
    kind = "task_ready"
    name: str


class TaskBegin(_Event):
    """An attempt of a task starts."""

    __slots__ = {
        "attempt": "The attempt number, from 1.",
        "context": "The shared state itself (a live dict): a hook may change it.",
        "name": "The task's name.",
        "start_time": "When this attempt starts (UTC datetime).",
    }
    kind = "task_begin"
    name: str
    start_time: datetime.datetime
    attempt: int
    context: Any


class TaskRetry(_Event):
    """An attempt failed; another follows after ``delay`` seconds."""

    __slots__ = {
        "attempt": "The attempt number, from 1.",
        "delay": "Seconds before the next attempt.",
        "error": "The exception object (the body's own; TaskTimeoutError / CancelledError for a timeout / cancel).",
        "name": "The task's name.",
    }
    kind = "task_retry"
    name: str
    attempt: int
    error: Optional[BaseException]
    delay: float


class TaskSuccess(_Event):
    """A task succeeded."""

    __slots__ = {
        "context": "The shared state itself (a live dict): a hook may change it.",
        "duration": "Seconds from the first attempt's start to the end.",
        "name": "The task's name.",
        "result": "The value the task returned.",
    }
    kind = "task_success"
    name: str
    duration: float
    result: Any
    context: Any


class TaskFailure(_Event):
    """A task failed, timed out or was cancelled (after its last attempt)."""

    __slots__ = {
        "context": "The shared state itself (a live dict): a hook may change it.",
        "duration": "Seconds from the first attempt's start to the end.",
        "error": "The exception object (the body's own; TaskTimeoutError / CancelledError for a timeout / cancel).",
        "name": "The task's name.",
    }
    kind = "task_failure"
    name: str
    duration: float
    error: Optional[BaseException]
    context: Any


class TaskSkip(_Event):
    """A task will not run; ``reason`` says why (``dependency "x" failed``)."""

    __slots__ = {
        "name": "The task's name.",
        "reason": 'Why it is skipped (``dependency "x" failed``, ``run cancelled``, ...).',
    }
    kind = "task_skip"
    name: str
    reason: str


class TaskCompletion(_Event):
    """A task is finished, whatever its outcome."""

    __slots__ = {
        "context": "The shared state itself (a live dict): a hook may change it.",
        "duration": "Seconds from the first attempt's start to the end.",
        "error": "The exception object (the body's own; TaskTimeoutError / CancelledError for a timeout / cancel).",
        "name": "The task's name.",
        "status": "The final status: succeeded, failed, timed_out, skipped or cancelled.",
    }
    kind = "task_completion"
    name: str
    duration: float
    status: str
    error: Optional[BaseException]
    context: Any


class ProcessCompletion(_Event):
    """The run is finished (also after a failure or a cancellation)."""

    __slots__ = {
        "context": "The shared state itself (a live dict): a hook may change it.",
        "report": "The run's RunReport.",
        "total_duration": "Seconds from the run's start to its end.",
    }
    kind = "process_completion"
    total_duration: float
    report: Any
    context: Any


EVENTS: dict[str, type[_Event]] = {
    c.kind: c
    for c in (
        ProcessBegin,
        TaskReady,
        TaskBegin,
        TaskRetry,
        TaskSuccess,
        TaskFailure,
        TaskSkip,
        TaskCompletion,
        ProcessCompletion,
    )
}

__all__ = [
    "EVENTS",
    "ProcessBegin",
    "ProcessCompletion",
    "TaskBegin",
    "TaskCompletion",
    "TaskFailure",
    "TaskReady",
    "TaskRetry",
    "TaskSkip",
    "TaskSuccess",
]
