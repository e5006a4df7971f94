'use strict'
// A finished run's report: built lazily from the native report plus the values and errors
// the driver kept in JS (the host's own objects, never stringified); or a report read back
// from its JSON text (`RunReport.fromJSON`), whose results are the JSON values it holds.
const native = require('../native.js')
const { TaskTimeoutError, TaskFailedError, CancelledError, fromNative, typeError } = require('./errors.js')

/** The report format's error kinds (core/src/report/json.rs) as the driver's outcome codes. */
const ERROR_CODES = { failed: 1, panicked: 1, timed_out: 2, cancelled: 3, depth: 5 }

/** One task's entry in a report. */
class TaskReport {
  constructor(j, startedAt, result, error) {
    this.id = j.id
    this.name = j.name
    this.status = j.status
    this.attempts = j.attempts
    this.result = result
    this.error = error
    this.duration = j.duration_ms
    // A report read back from a text that gives no start has no epoch times.
    this.startTime = j.started_ms === null || startedAt === undefined ? undefined : startedAt + j.started_ms
    this.endTime = j.finished_ms === null || startedAt === undefined ? undefined : startedAt + j.finished_ms
    this.skipReason = j.skip_reason === null ? undefined : j.skip_reason
    this.resumed = j.resumed === true
    this.dependencies = j.deps
    this.parent = j.parent === null ? undefined : j.parent
  }
}

/** The most tasks a RunReport's `util.inspect` form names (the rest are counted). */
const INSPECT_TASKS = 10

/**
 * A result as JSON holds it (what `JSON.stringify` makes of it, read back), or null when JSON
 * cannot hold it: `undefined`, a function, a symbol, a BigInt, a cycle, a `toJSON` or a getter
 * that throws. Never throws.
 */
function jsonOf(v) {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return v
    case 'number':
      return Number.isFinite(v) ? v : null
    case 'object':
      if (v === null) return null
      break
    default:
      return null
  }
  let text
  try {
    text = JSON.stringify(v)
  } catch {
    return null
  }
  return text === undefined ? null : JSON.parse(text)
}

/**
 * What a report read back from its JSON (`RunReport.fromJSON`) holds in place of a run's
 * driver: each task's result (the JSON value), by id, and its error rebuilt from the kind and
 * message the text gives (`errorFor`, as the driver's one conversion names the codes).
 */
class ReadBack {
  constructor(tasks) {
    this.values = []
    for (const t of tasks) if (t.status === 'succeeded') this.values[t.id] = t.result
  }

  errorFor(code, task, message) {
    switch (code) {
      case 2:
        return new TaskTimeoutError(message)
      case 3:
        return new CancelledError(message)
      case 5: {
        const e = new RangeError(message)
        e.code = 'ERR_LEGATO_DEPTH'
        return e
      }
      default:
        return new TaskFailedError(message)
    }
  }
}

let failureReasonOf
let nativeOf
let resultOf

class RunReport {
  // Internals are private: a logged report (or a FlowError holding one) shows only what
  // `util.inspect` below gives, and `Object.keys(report)` only the documented fields.
  #native
  #startedAt
  #driver
  #json = null
  #tasks = null
  #list = null

  constructor(nat, startedAt, driver) {
    this.#native = nat
    this.#startedAt = startedAt
    this.#driver = driver
    /**
     * Whether the run was not stopped and every task succeeded or was skipped by a condition
     * or a trigger rule (a branch not taken).
     */
    this.ok = nat.ok
    /** The run's duration, ms. */
    this.totalDuration = nat.totalMs
    /** Why the run stopped early (`fail-fast: task "x" failed`, `run cancelled`, ...). */
    this.stop = nat.stop === null ? undefined : nat.stop
    /** When the run started, epoch ms. */
    this.startTime = startedAt
  }

  static {
    /** The core's wording of why a run failed (for FlowError's message), or null. */
    failureReasonOf = (r) => r.#native.failureReason()
    /** The native report of a RunReport, or null for anything else (a resumed run reads it). */
    nativeOf = (r) => (r !== null && typeof r === 'object' && #native in r ? r.#native : null)
    /** The result the report holds for its task `id` (a resumed run hands it on). */
    resultOf = (r, id) => r.#driver.values[id]
  }

  /**
   * A report read back from its JSON text (`JSON.stringify(report)`, or the CLI's `--report`
   * file): every task's status, attempts, times, error (a `TaskFailedError`, `TimeoutError`
   * or `CancelledError` with the message the text gives) and skip reason as they were, and
   * each result the text holds (its JSON value). `flow.run({ resume })` takes it.
   * A text that is not a report's JSON is a `SyntaxError` with code
   * `ERR_LEGATO_INVALID_REPORT` saying what is wrong; one that is not a string, a TypeError.
   */
  static fromJSON(text) {
    if (typeof text !== 'string') {
      // options.js requires this module: its `describe` is taken when needed.
      const { describe } = require('./options.js')
      throw typeError('text', `must be a string (a report's JSON text), got ${describe(text)}`)
    }
    let nat
    try {
      nat = native.reportFromJson(text)
    } catch (e) {
      if (e && e.code === 'ERR_LEGATO_INVALID_REPORT') {
        const s = new SyntaxError(e.message)
        s.code = e.code
        throw s
      }
      throw fromNative(e)
    }
    const at = nat.startedAtMs
    const report = new RunReport(nat, at === null ? undefined : at, null)
    report.#driver = new ReadBack(report.#data().tasks)
    return report
  }

  #data() {
    if (this.#json === null) this.#json = JSON.parse(this.#native.json(false))
    return this.#json
  }

  /** Every task in run order (dynamic tasks with a repeated name each have their entry). */
  get list() {
    if (this.#list === null) {
      const d = this.#driver
      this.#list = this.#data().tasks.map((j) => {
        const status = j.status
        // The driver's one conversion, from the error kind the report's JSON format names.
        const error = status === 'succeeded' || status === 'skipped' || !j.error ? undefined
          : d.errorFor(ERROR_CODES[j.error.kind] ?? 1, j.id, j.error.message)
        const result = status === 'succeeded' ? d.values[j.id] : undefined
        return new TaskReport(j, this.#startedAt, result, error)
      })
    }
    return this.#list
  }

  /**
   * Tasks by name (for a repeated dynamic name, its last call). A null-prototype object: a
   * task may be named `__proto__`, `constructor` or `hasOwnProperty`.
   */
  get tasks() {
    if (this.#tasks === null) {
      const t = Object.create(null)
      for (const r of this.list) t[r.name] = r
      this.#tasks = t
    }
    return this.#tasks
  }

  /**
   * The report in the JSON shape every door and the CLI share (`JSON.stringify(report)`
   * writes it), each task's `result` as JSON holds it: what `JSON.stringify` makes of it, or
   * null when JSON cannot hold it (`undefined`, a function, a BigInt, a cycle, ...).
   * `RunReport.fromJSON` reads the text back. A new object each call.
   */
  toJSON() {
    const d = this.#data()
    const list = this.list
    // The result key keeps its place among a task's keys.
    return { ...d, tasks: d.tasks.map((t, i) => ({ ...t, result: jsonOf(list[i].result) })) }
  }

  /** The run as a Mermaid Gantt chart. */
  toMermaid() {
    return this.#native.mermaid()
  }

  /** A self-contained HTML page with the run's timeline. */
  toHTML(title = 'legato run') {
    return this.#native.html(String(title))
  }

  /**
   * `util.inspect` (console.log) form: the run's fields and each task's status, the first
   * few tasks by name and the rest counted, not every task's entry.
   */
  [Symbol.for('nodejs.util.inspect.custom')](depth, options, inspect) {
    if (depth < 0) return options.stylize('[RunReport]', 'special')
    const list = this.list
    const tasks = {}
    for (let i = 0; i < list.length && i < INSPECT_TASKS; i++) {
      // Defined, not assigned: a task named `__proto__` is shown too.
      Object.defineProperty(tasks, list[i].name, { value: list[i].status, enumerable: true, configurable: true, writable: true })
    }
    const fields = { ok: this.ok, totalDuration: this.totalDuration, stop: this.stop, startTime: this.startTime, tasks }
    if (list.length > INSPECT_TASKS) fields.more = `${list.length - INSPECT_TASKS} more tasks`
    return `RunReport ${inspect(fields, { ...options, depth: 1 })}`
  }
}

module.exports = {
  RunReport, TaskReport, TaskTimeoutError,
  failureReasonOf: (r) => failureReasonOf(r),
  nativeOf: (r) => nativeOf(r),
  resultOf: (r, id) => resultOf(r, id),
}
