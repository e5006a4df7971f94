'use strict'
// The error classes of legato's Node door: DESIGN.md's tree, each with a stable `code`.

class LegatoError extends Error {
  constructor(message, options) {
    super(message, options)
    if (options && options.code) this.code = options.code
  }
}
function define(name, Base, code, jsName = name) {
  const C = {
    [name]: class extends Base {
      constructor(message, options) {
        super(message, options)
        this.code = code
      }
    },
  }[name]
  Object.defineProperty(C.prototype, 'name', { value: jsName, writable: true, configurable: true })
  return C
}
Object.defineProperty(LegatoError.prototype, 'name', { value: 'LegatoError', writable: true, configurable: true })

const GraphError = define('GraphError', LegatoError, 'ERR_LEGATO_GRAPH')
const CycleError = define('CycleError', GraphError, 'ERR_LEGATO_CYCLE')
const MissingDependencyError = define('MissingDependencyError', GraphError, 'ERR_LEGATO_MISSING_DEPENDENCY')
const DuplicateTaskError = define('DuplicateTaskError', GraphError, 'ERR_LEGATO_DUPLICATE_TASK')
const UnknownTaskError = define('UnknownTaskError', GraphError, 'ERR_LEGATO_UNKNOWN_TASK')
const TaskFailedError = define('TaskFailedError', LegatoError, 'ERR_LEGATO_TASK_FAILED')
const TaskTimeoutError = define('TaskTimeoutError', LegatoError, 'ERR_LEGATO_TIMEOUT', 'TimeoutError')
const CancelledError = define('CancelledError', LegatoError, 'ERR_LEGATO_CANCELLED')
const HookError = define('HookError', LegatoError, 'ERR_LEGATO_HOOK_FAILED')

class FlowError extends LegatoError {
  constructor(message, report, options) {
    super(message, options)
    this.code = 'ERR_LEGATO_FLOW_FAILED'
    /** The run's report: every task's status, attempts, result and error. */
    this.report = report
  }
}
Object.defineProperty(FlowError.prototype, 'name', { value: 'FlowError', writable: true, configurable: true })

/**
 * The npm orchestrator package's error for exhausted retries (with its `retry: { attempts }`
 * shape): `attempts` tries were made, `lastError` (also `cause`) is the last one's own error.
 */
class RetryError extends LegatoError {
  constructor(attempts, lastError) {
    const last = lastError instanceof Error ? lastError.message : String(lastError)
    super(`Operation failed after ${attempts} attempts. Last error: ${last}`, { cause: lastError })
    this.code = 'ERR_LEGATO_RETRY'
    this.attempts = attempts
    this.lastError = lastError
  }
}
Object.defineProperty(RetryError.prototype, 'name', { value: 'RetryError', writable: true, configurable: true })

const byCode = {
  ERR_LEGATO_CYCLE: CycleError,
  ERR_LEGATO_MISSING_DEPENDENCY: MissingDependencyError,
  ERR_LEGATO_DUPLICATE_TASK: DuplicateTaskError,
  ERR_LEGATO_UNKNOWN_TASK: UnknownTaskError,
}

/** Turns an error thrown by the native layer into the facade's class for its code. */
function fromNative(e) {
  if (!e || typeof e !== 'object') return e
  const C = byCode[e.code]
  if (C) return new C(e.message)
  if (e.code === 'ERR_OUT_OF_RANGE' || e.code === 'ERR_LEGATO_INVALID_NAME') {
    // The core writes an infinite value as Rust does (`inf`); JS users wrote `Infinity`.
    const r = new RangeError(String(e.message).replace(/, got (-?)inf$/, ', got $1Infinity'))
    r.code = e.code === 'ERR_OUT_OF_RANGE' ? 'ERR_OUT_OF_RANGE' : 'ERR_LEGATO_INVALID_NAME'
    return r
  }
  if (e.code === 'ERR_INVALID_ARG_TYPE') {
    const t = new TypeError(e.message)
    t.code = e.code
    return t
  }
  return e
}

/** Calls a native function, translating its errors. */
function call(fn, ...args) {
  try {
    return fn(...args)
  } catch (e) {
    throw fromNative(e)
  }
}

function typeError(argument, message) {
  const e = new TypeError(`${argument}: ${message}`)
  e.code = 'ERR_INVALID_ARG_TYPE'
  return e
}
function rangeError(argument, message) {
  const e = new RangeError(`${argument}: ${message}`)
  e.code = 'ERR_OUT_OF_RANGE'
  return e
}

module.exports = {
  LegatoError, GraphError, CycleError, MissingDependencyError, DuplicateTaskError, UnknownTaskError,
  TaskFailedError, TaskTimeoutError, CancelledError, FlowError, HookError, RetryError,
  fromNative, call, typeError, rangeError,
}
