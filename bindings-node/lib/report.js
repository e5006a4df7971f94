'use strict'
// A finished run's report: built lazily from the native report plus the values and errors
// the driver kept in JS (the host's own objects, never stringified).
const { TaskTimeoutError } = require('./errors.js')

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
    this.startTime = j.started_ms === null ? undefined : startedAt + j.started_ms
    this.endTime = j.finished_ms === null ? undefined : startedAt + j.finished_ms
    this.skipReason = j.skip_reason === null ? undefined : j.skip_reason
    this.dependencies = j.deps
    this.parent = j.parent === null ? undefined : j.parent
  }
}

class RunReport {
  constructor(nat, startedAt, driver) {
    this._native = nat
    this._startedAt = startedAt
    this._driver = driver
    this._json = null
    this._tasks = null
    this._list = null
    /** Whether every task succeeded and the run was not stopped. */
    this.ok = nat.ok
    /** The run's duration, ms. */
    this.totalDuration = nat.totalMs
    /** Why the run stopped early (`fail-fast: task "x" failed`, `run cancelled`, ...). */
    this.stop = nat.stop === null ? undefined : nat.stop
    /** When the run started, epoch ms. */
    this.startTime = startedAt
  }

  _data() {
    if (this._json === null) this._json = JSON.parse(this._native.json(false))
    return this._json
  }

  /** Every task in run order (dynamic tasks with a repeated name each have their entry). */
  get list() {
    if (this._list === null) {
      const d = this._driver
      this._list = this._data().tasks.map((j) => {
        const status = j.status
        // The driver's one conversion, from the error kind the report's JSON format names.
        const error = status === 'succeeded' || status === 'skipped' || !j.error ? undefined
          : d.errorFor(ERROR_CODES[j.error.kind] ?? 1, j.id, j.error.message)
        const result = status === 'succeeded' ? d.values[j.id] : undefined
        return new TaskReport(j, this._startedAt, result, error)
      })
    }
    return this._list
  }

  /** Tasks by name (for a repeated dynamic name, its last call). */
  get tasks() {
    if (this._tasks === null) {
      const t = {}
      for (const r of this.list) t[r.name] = r
      this._tasks = t
    }
    return this._tasks
  }

  /** The report in the JSON shape every door and the CLI share (results left out). */
  toJSON() {
    return this._data()
  }

  /** The run as a Mermaid Gantt chart. */
  toMermaid() {
    return this._native.mermaid()
  }

  /** A self-contained HTML page with the run's timeline. */
  toHTML(title = 'legato run') {
    return this._native.html(String(title))
  }
}

module.exports = { RunReport, TaskReport, TaskTimeoutError }
