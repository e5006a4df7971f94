'use strict'
// legato for Node: Flow (a declared DAG of steps) and Orchestrator (tracked async actions),
// on the Rust core's scheduler. See index.d.ts for the documented API.
const { Flow, SyncPoint } = require('./lib/flow.js')
const { Orchestrator } = require('./lib/orchestrator.js')
const { RunReport, TaskReport } = require('./lib/report.js')
const { UniqueIdGenerator } = require('./lib/ids.js')
const errors = require('./lib/errors.js')

module.exports = {
  Flow,
  Orchestrator,
  SyncPoint,
  RunReport,
  TaskReport,
  LegatoError: errors.LegatoError,
  GraphError: errors.GraphError,
  CycleError: errors.CycleError,
  MissingDependencyError: errors.MissingDependencyError,
  DuplicateTaskError: errors.DuplicateTaskError,
  UnknownTaskError: errors.UnknownTaskError,
  TaskFailedError: errors.TaskFailedError,
  TaskTimeoutError: errors.TaskTimeoutError,
  CancelledError: errors.CancelledError,
  FlowError: errors.FlowError,
  HookError: errors.HookError,
  // What the npm orchestrator package exports, under its names: the timeout error's class
  // (its `name` is `TimeoutError`), the exhausted-retries error, the id generator, and
  // Orchestrator as the default export.
  TimeoutError: errors.TaskTimeoutError,
  RetryError: errors.RetryError,
  UniqueIdGenerator,
  default: Orchestrator,
}
