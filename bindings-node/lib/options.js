'use strict'
// Option objects: shape checks here (TypeError naming the argument), values in the core's one
// validation (RangeError naming the argument), registered once and referred to by id.
const native = require('../native.js')
const { call, typeError, rangeError } = require('./errors.js')
const { held } = require('./finalizers.js')

function describe(v) {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  if (typeof v === 'function') return 'a function'
  return `${typeof v} ${typeof v === 'string' ? JSON.stringify(v) : String(v)}`
}

/** Refuses keys outside `allowed` (a TypeError naming the option). */
function checkKeys(where, opts, allowed) {
  if (opts === undefined || opts === null) return {}
  if (typeof opts !== 'object' || Array.isArray(opts)) {
    throw typeError(where, `must be an object (got ${describe(opts)})`)
  }
  // for-in (own keys only, in Object.keys' order) makes no array per call: once per step.
  for (const k in opts) {
    if (!allowed.includes(k) && Object.hasOwn(opts, k)) {
      throw typeError(`${where}.${k}`, `unknown option (expected one of: ${allowed.join(', ')})`)
    }
  }
  return opts
}

function number(argument, v) {
  if (typeof v !== 'number') throw typeError(argument, `must be a number (got ${describe(v)})`)
  if (Number.isNaN(v)) throw rangeError(argument, 'must not be NaN')
  return v
}

/** The run options both constructors take. */
const RUN_KEYS = ['maxParallel', 'failFast', 'timeout', 'maxDepth']

/**
 * Run options ({ maxParallel, failFast, timeout, maxDepth }): the shape here (an object, no
 * unknown keys), the values in the core's one validation (`runOptions` in src/driver.rs: a
 * TypeError or RangeError naming the option). Returns them as the core checked them.
 */
function runOptions(where, opts, extra = []) {
  const o = checkKeys(where, opts, [...RUN_KEYS, ...extra])
  return call(native.runOptions, o.maxParallel, o.failFast, o.timeout, o.maxDepth)
}

const TASK_KEYS = ['retries', 'retry', 'backoff', 'retryIf', 'timeout', 'sequences']

/**
 * Validates task options and registers them natively; returns
 * `{ id, retryIf, timeout, retryShape }` (id 0 for the defaults; `retryShape`: the npm
 * `retry: { attempts }` shape was given).
 */
function taskOptions(where, name, o) {
  let retries = 0
  let kind = 0
  let initial = 0
  let factor = 2
  let max = -1
  let jitter = false
  let timeout = -1
  let sequences = null
  let retryIf = null
  if (o.retries !== undefined) retries = number(`${where}.retries`, o.retries)
  if (o.retry !== undefined) {
    // The npm orchestrator package's shape: attempts counts every try.
    const r = checkKeys(`${where}.retry`, o.retry, ['attempts', 'backoff', 'exponential'])
    if (o.retries !== undefined) throw typeError(`${where}.retry`, 'give either retries or retry, not both')
    if (r.attempts !== undefined) {
      const a = number(`${where}.retry.attempts`, r.attempts)
      if (!Number.isInteger(a) || a < 1) throw rangeError(`${where}.retry.attempts`, `must be a whole number >= 1 (got ${a})`)
      retries = a - 1
    }
    if (r.backoff !== undefined) {
      initial = number(`${where}.retry.backoff`, r.backoff)
      kind = r.exponential ? 2 : 1
      if (initial < 0) throw rangeError(`${where}.retry.backoff`, `must be >= 0 (got ${initial})`)
    } else if (r.exponential) {
      throw typeError(`${where}.retry.exponential`, 'needs retry.backoff, the first delay')
    }
    if (r.exponential !== undefined && typeof r.exponential !== 'boolean') {
      throw typeError(`${where}.retry.exponential`, `must be a boolean (got ${describe(r.exponential)})`)
    }
  }
  if (o.backoff !== undefined) {
    const b = o.backoff
    if (typeof b === 'number') {
      initial = number(`${where}.backoff`, b)
      if (initial < 0) throw rangeError(`${where}.backoff`, `must be >= 0 (got ${initial})`)
      kind = 1
    } else if (b && typeof b === 'object' && !Array.isArray(b)) {
      checkKeys(`${where}.backoff`, b, ['initial', 'factor', 'max', 'jitter'])
      kind = 2
      if (b.initial === undefined) throw typeError(`${where}.backoff.initial`, 'is required (the first delay, ms)')
      initial = number(`${where}.backoff.initial`, b.initial)
      if (initial < 0) throw rangeError(`${where}.backoff.initial`, `must be >= 0 (got ${initial})`)
      if (b.factor !== undefined) factor = number(`${where}.backoff.factor`, b.factor)
      if (b.max !== undefined) {
        max = number(`${where}.backoff.max`, b.max)
        if (max < 0) throw rangeError(`${where}.backoff.max`, `must be >= 0 (got ${max})`)
      }
      if (b.jitter !== undefined) {
        if (typeof b.jitter !== 'boolean') throw typeError(`${where}.backoff.jitter`, `must be a boolean (got ${describe(b.jitter)})`)
        jitter = b.jitter
      }
    } else {
      throw typeError(`${where}.backoff`, `must be a number of ms or { initial, factor, max, jitter } (got ${describe(b)})`)
    }
  }
  if (o.retryIf !== undefined) {
    if (typeof o.retryIf !== 'function') throw typeError(`${where}.retryIf`, `must be a function (got ${describe(o.retryIf)})`)
    retryIf = o.retryIf
  }
  if (o.timeout !== undefined) {
    timeout = number(`${where}.timeout`, o.timeout)
    if (!(timeout > 0)) throw rangeError(`${where}.timeout`, `must be a positive, finite number of milliseconds (got ${timeout})`)
  }
  if (o.sequences !== undefined) {
    const s = typeof o.sequences === 'string' ? [o.sequences] : o.sequences
    if (!Array.isArray(s) || !s.every((k) => typeof k === 'string')) {
      throw typeError(`${where}.sequences`, `must be an array of strings (got ${describe(o.sequences)})`)
    }
    sequences = s
  }
  const plain = retries === 0 && kind === 0 && timeout < 0 && (!sequences || sequences.length === 0)
  let id = 0
  if (!plain || name !== null) {
    id = call(native.optionsNew, name === null ? 'anonymous' : name, retries, kind, initial, factor, max, jitter, timeout, sequences)
    held(1)
  }
  return { id, retryIf, timeout: timeout > 0 ? timeout : undefined, retryShape: o.retry !== undefined }
}

module.exports = { checkKeys, runOptions, taskOptions, TASK_KEYS, RUN_KEYS, describe }
