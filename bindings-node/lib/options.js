'use strict'
// Option objects: shape checks here (TypeError naming the argument), values in the core's one
// validation (RangeError naming the argument), registered once and referred to by id.
const native = require('../native.js')
const { call, fromNative, typeError, rangeError } = require('./errors.js')
const { held } = require('./finalizers.js')
const { checkName, named } = require('./names.js')
const { RunReport } = require('./report.js')

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
const RUN_KEYS = ['maxParallel', 'failFast', 'timeout', 'maxDepth', 'limits', 'priority', 'costs']

/** Whether `v` is a plain object (prototype Object.prototype or null). */
function isPlain(v) {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false
  const proto = Object.getPrototypeOf(v)
  return proto === null || proto === Object.prototype
}

/** An argument's name for key `k` of `base`: `base.db`, or `base["user:1"]`. */
function keyArgument(base, k) {
  return /^[A-Za-z_$][\w$]*$/.test(k) ? `${base}.${k}` : `${base}[${JSON.stringify(k)}]`
}

/**
 * Run options ({ maxParallel, failFast, timeout, maxDepth, limits, priority, costs }): the
 * shape here (an object, no unknown keys), the values in the core's one validation
 * (`runOptions` in src/driver.rs: a TypeError or RangeError naming the option). Returns them
 * as the core checked them.
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
  let limitKeys = null
  let limitValues = null
  if (o.limits !== undefined) {
    if (!isPlain(o.limits)) throw typeError(`${where}.limits`, `must be an object of key capacities ({ db: 2 }), got ${describe(o.limits)}`)
    limitKeys = Object.keys(o.limits)
    limitValues = limitKeys.map((k) => number(keyArgument(`${where}.limits`, k), o.limits[k]))
  }
  if (o.priority !== undefined && typeof o.priority !== 'string') {
    throw typeError(`${where}.priority`, `must be "fifo" or "critical_path", got ${describe(o.priority)}`)
  }
  let costNames = null
  let costMs = null
  if (o.costs !== undefined) {
    // A previous run's report: each task that started costs its duration.
    const list = o.costs !== null && typeof o.costs === 'object' ? costsList(o.costs) : null
    if (list === null) throw typeError(`${where}.costs`, `must be a RunReport (a previous run's report), got ${describe(o.costs)}`)
    costNames = []
    costMs = []
    for (const t of list) {
      if (t.startTime === undefined) continue
      costNames.push(t.name)
      costMs.push(t.duration)
    }
  }
  return call(native.runOptions, o.maxParallel, o.failFast, o.timeout, o.maxDepth, limitKeys, limitValues, o.priority,
    costNames, costMs)
}

/** A report's task list, or null when `r` is not a RunReport. */
function costsList(r) {
  return r instanceof RunReport ? r.list : null
}

const TASK_KEYS = ['retries', 'retry', 'backoff', 'retryIf', 'timeout', 'sequences', 'uses']
/** Options only a Flow's step takes (a dynamic task has no dependencies and no rank). */
const STEP_ONLY_KEYS = ['when', 'trigger', 'cost']

/**
 * Validates task options and registers them natively; returns
 * `{ id, retryIf, timeout, retryShape, when, usesFn }` (id 0 for the defaults; `retryShape`:
 * the npm `retry: { attempts }` shape was given; `usesFn`: an action's `uses` given as a
 * function of the call's arguments). `name`: a dynamic task's (null for a step's options),
 * given as argument `nameArg`; `action`: they are an Orchestrator action's.
 */
function taskOptions(where, name, o, nameArg = 'name', action = false) {
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
    // Barista's name, kept as an alias of `uses`, and refused as `uses` is (and as every door
    // refuses it) when given as a bare string.
    const s = o.sequences
    if (!Array.isArray(s) || !s.every((k) => typeof k === 'string')) {
      const hint = typeof s === 'string' ? ` (a list of keys: sequences: [${JSON.stringify(s)}])` : ''
      throw typeError(`${where}.sequences`, `must be an array of strings, got ${describe(s)}${hint}`)
    }
    sequences = s
  }
  // An action's `uses` may be a function of the call's arguments (`usesFn`): called per call.
  let usesFn = null
  if (o.uses !== undefined) {
    if (typeof o.uses === 'function' && action) {
      usesFn = o.uses
    } else {
      const u = o.uses
      if (!Array.isArray(u) || !u.every((k) => typeof k === 'string')) {
        const hint = typeof u === 'string' ? ` (a list of keys: uses: [${JSON.stringify(u)}])` : ''
        const what = action ? 'an array of strings or a function of the call\'s arguments' : 'an array of strings'
        throw typeError(`${where}.uses`, `must be ${what}, got ${describe(u)}${hint}`)
      }
      sequences = sequences === null ? u : [...sequences, ...u]
    }
  }
  let when = null
  if (o.when !== undefined) {
    if (typeof o.when !== 'function') throw typeError(`${where}.when`, `must be a function (ctx) => boolean, got ${describe(o.when)}`)
    // Conditions are synchronous: an async function is refused here, when it can be told (a
    // plain function returning a Promise fails its step when the condition is evaluated).
    const tag = Object.prototype.toString.call(o.when)
    if (tag === '[object AsyncFunction]' || tag === '[object AsyncGeneratorFunction]') {
      throw typeError(`${where}.when`, 'conditions are synchronous, got an async function (compute the value in a step before it and read it from ctx.results)')
    }
    when = o.when
  }
  let trigger
  if (o.trigger !== undefined) {
    if (typeof o.trigger !== 'string') {
      throw typeError(`${where}.trigger`, `must be one of "all_succeeded", "all_done", "any_succeeded", "none_failed", got ${describe(o.trigger)}`)
    }
    trigger = o.trigger
  }
  let cost
  if (o.cost !== undefined) cost = number(`${where}.cost`, o.cost)
  const plain = retries === 0 && kind === 0 && timeout < 0 && (!sequences || sequences.length === 0) &&
    when === null && trigger === undefined && cost === undefined
  let id = 0
  if (!plain || name !== null) {
    try {
      id = native.optionsNew(name === null ? 'anonymous' : name, retries, kind, initial, factor, max, jitter, timeout, sequences,
        trigger, cost, when !== null)
    } catch (e) {
      throw nativeOptionError(where, o, e, nameArg)
    }
    held(1)
  }
  return { id, retryIf, timeout: timeout > 0 ? timeout : undefined, retryShape: o.retry !== undefined, when, usesFn }
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

module.exports = { checkKeys, runOptions, taskOptions, TASK_KEYS, STEP_ONLY_KEYS, RUN_KEYS, describe }
