'use strict'
// Option objects: shape checks here (TypeError naming the argument), values in the core's one
// validation (RangeError naming the argument), registered once and referred to by id.
const native = require('../native.js')
const { call, fromNative, typeError, rangeError } = require('./errors.js')
const { held } = require('./finalizers.js')
const { checkName, named } = require('./names.js')

/**
 * A bad value as every validation message shows it, after `, got `: `undefined`, `null`,
 * `42`, `NaN`, `true`, `5n`, `"text"` (quoted; a long one cut), `Symbol(x)`, `a function`,
 * `an array`, `an object`, `an instance of Map`.
 */
function describe(v) {
  switch (typeof v) {
    case 'undefined':
      return 'undefined'
    case 'number':
    case 'boolean':
      return String(v)
    case 'bigint':
      return `${v}n`
    case 'string':
      return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)
    case 'symbol':
      return v.toString()
    case 'function':
      return 'a function'
    default: {
      if (v === null) return 'null'
      if (Array.isArray(v)) return 'an array'
      let proto
      try {
        proto = Object.getPrototypeOf(v)
      } catch {
        return 'an object'
      }
      if (proto === null || proto === Object.prototype) return 'an object'
      const c = proto.constructor
      return typeof c === 'function' && c.name ? `an instance of ${c.name}` : 'an object'
    }
  }
}

/** Refuses keys outside `allowed` (a TypeError naming the option). */
function checkKeys(where, opts, allowed) {
  if (opts === undefined || opts === null) return {}
  if (typeof opts !== 'object' || Array.isArray(opts)) {
    throw typeError(where, `must be an object, got ${describe(opts)}`)
  }
  // for-in (own keys only, in Object.keys' order) makes no array per call: once per step.
  for (const k in opts) {
    if (!allowed.includes(k) && Object.hasOwn(opts, k)) {
      throw typeError(`${where}.${k}`, `unknown option (expected one of: ${allowed.join(', ')})`)
    }
  }
  return opts
}

/** A number's type check; its value is checked by the core (NaN included). */
function number(argument, v) {
  if (typeof v !== 'number') throw typeError(argument, `must be a number, got ${describe(v)}`)
  return v
}

/** The most attempts `retry.attempts` takes (the core's MAX_RETRIES + 1). */
const MAX_ATTEMPTS = 2 ** 32 - 1

/** The run options both constructors take. */
const RUN_KEYS = ['maxParallel', 'failFast', 'timeout', 'maxDepth']

/**
 * Run options ({ maxParallel, failFast, timeout, maxDepth }): the shape here (an object, no
 * unknown keys), the values in the core's one validation (`runOptions` in src/driver.rs: a
 * TypeError or RangeError naming the option). Returns them as the core checked them.
 */
function runOptions(where, opts, extra = []) {
  const o = checkKeys(where, opts, [...RUN_KEYS, ...extra])
  // Types here, with the value shown as every message shows it (see `describe`).
  for (const k of ['maxParallel', 'timeout', 'maxDepth']) {
    if (o[k] !== undefined) number(`${where}.${k}`, o[k])
  }
  if (o.failFast !== undefined && typeof o.failFast !== 'boolean') {
    throw typeError(`${where}.failFast`, `must be a boolean, got ${describe(o.failFast)}`)
  }
  return call(native.runOptions, o.maxParallel, o.failFast, o.timeout, o.maxDepth)
}

const TASK_KEYS = ['retries', 'retry', 'backoff', 'retryIf', 'timeout', 'sequences']

/**
 * Validates task options and registers them natively; returns
 * `{ id, retryIf, timeout, retryShape }` (id 0 for the defaults; `retryShape`: the npm
 * `retry: { attempts }` shape was given). `name`: a dynamic task's (null for a step's options),
 * given as argument `nameArg`.
 */
function taskOptions(where, name, o, nameArg = 'name') {
  // A dynamic task's name (an action's, a spawned child's): checked as a step's name is
  // (NUL and lone surrogates here, the core's rule in optionsNew).
  if (name !== null) checkName(nameArg, name)
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
      if (!Number.isInteger(a) || a < 1 || a > MAX_ATTEMPTS) {
        throw rangeError(`${where}.retry.attempts`, `must be a whole number from 1 to ${MAX_ATTEMPTS}, got ${a}`)
      }
      retries = a - 1
    }
    if (r.backoff !== undefined) {
      initial = number(`${where}.retry.backoff`, r.backoff)
      kind = r.exponential ? 2 : 1
    } else if (r.exponential) {
      throw typeError(`${where}.retry.exponential`, 'needs retry.backoff, the first delay')
    }
    if (r.exponential !== undefined && typeof r.exponential !== 'boolean') {
      throw typeError(`${where}.retry.exponential`, `must be a boolean, got ${describe(r.exponential)}`)
    }
  }
  if (o.backoff !== undefined) {
    const b = o.backoff
    if (typeof b === 'number') {
      initial = number(`${where}.backoff`, b)
      kind = 1
    } else if (b && typeof b === 'object' && !Array.isArray(b)) {
      checkKeys(`${where}.backoff`, b, ['initial', 'factor', 'max', 'jitter'])
      kind = 2
      if (b.initial === undefined) throw typeError(`${where}.backoff.initial`, 'is required (the first delay, ms)')
      initial = number(`${where}.backoff.initial`, b.initial)
      if (b.factor !== undefined) factor = number(`${where}.backoff.factor`, b.factor)
      if (b.max !== undefined) {
        max = number(`${where}.backoff.max`, b.max)
        // A negative max crosses as "none": refused here, in the core's words.
        if (max < 0) throw rangeError(`${where}.backoff.max`, `must be a finite number of milliseconds >= 0, got ${max}`)
      }
      if (b.jitter !== undefined) {
        if (typeof b.jitter !== 'boolean') throw typeError(`${where}.backoff.jitter`, `must be a boolean, got ${describe(b.jitter)}`)
        jitter = b.jitter
      }
    } else {
      throw typeError(`${where}.backoff`, `must be a number of ms or { initial, factor, max, jitter }, got ${describe(b)}`)
    }
  }
  if (o.retryIf !== undefined) {
    if (typeof o.retryIf !== 'function') throw typeError(`${where}.retryIf`, `must be a function, got ${describe(o.retryIf)}`)
    retryIf = o.retryIf
  }
  if (o.timeout !== undefined) {
    timeout = number(`${where}.timeout`, o.timeout)
    // A timeout that is not > 0 crosses as "none": refused here, in the core's words (the
    // run option's text). `Infinity` (and any timeout too long to count) means no limit, as
    // in the run option and every door.
    if (!(timeout > 0)) throw rangeError(`${where}.timeout`, `must be a number of milliseconds greater than zero, got ${timeout}`)
  }
  if (o.sequences !== undefined) {
    const s = typeof o.sequences === 'string' ? [o.sequences] : o.sequences
    if (!Array.isArray(s) || !s.every((k) => typeof k === 'string')) {
      throw typeError(`${where}.sequences`, `must be an array of strings, got ${describe(o.sequences)}`)
    }
    sequences = s
  }
  const plain = retries === 0 && kind === 0 && timeout < 0 && (!sequences || sequences.length === 0)
  let id = 0
  if (!plain || name !== null) {
    try {
      id = native.optionsNew(name === null ? 'anonymous' : name, retries, kind, initial, factor, max, jitter, timeout, sequences)
    } catch (e) {
      throw nativeOptionError(where, o, e, nameArg)
    }
    held(1)
  }
  return { id, retryIf, timeout: timeout > 0 ? timeout : undefined, retryShape: o.retry !== undefined }
}

/**
 * An option refused by the core (`retries: must be ...`, `backoff.initial: ...`), named as the
 * caller wrote it: `options.retries`, `options.retry.backoff` for the npm retry shape's delay.
 */
function nativeOptionError(where, o, e, nameArg) {
  const err = fromNative(e)
  if (err && err.code === 'ERR_LEGATO_INVALID_NAME') return named(nameArg, err)
  if (err instanceof Error && typeof err.message === 'string') {
    let m = err.message
    if (o.retry !== undefined && m.startsWith('backoff')) m = `retry.${m}`
    err.message = `${where}.${m}`
  }
  return err
}

module.exports = { checkKeys, runOptions, taskOptions, TASK_KEYS, RUN_KEYS, describe }
