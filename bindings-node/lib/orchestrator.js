'use strict'
// Orchestrator: wrap functions as actions; each call inside run(main) is a tracked dynamic task
// of the core's scheduler (hooks, retries, timeout, report). A drop-in for the npm package
// `orchestrator`: same API, same bookkeeping in getState(), same hook payloads.
const { AsyncLocalStorage } = require('node:async_hooks')
const native = require('../native.js')
const { randomUUID } = require('node:crypto')
const { FlowRun } = require('./flow.js')
const { NONE, SHAPE_ONLY, FAILED } = require('./driver.js')
const { typeError, LegatoError, CancelledError, RetryError } = require('./errors.js')
const { checkKeys, runOptions, taskOptions, TASK_KEYS, RUN_KEYS, describe } = require('./options.js')
const { addHookMethods, newHooks } = require('./hooks.js')

const ACTION_KEYS = ['name', 'cache', ...TASK_KEYS]

/** Frees the native options of a collected Orchestrator's actions. */
const collected = new FinalizationRegistry((ids) => {
  if (ids.length > 0) native.optionsDrop(ids)
})

// Created on first use, so that programs using only Flow pay nothing for it.
let als = null
function storage() {
  if (als === null) als = new AsyncLocalStorage()
  return als
}

// A cached call's key. A structured encoding with type tags, so that `undefined`, `null`, `NaN`,
// `Infinity`, `1n` and `'1'` are different keys. Arrays (plain ones) and plain objects (prototype
// Object.prototype or null, no symbol keys) are compared by value; anything else (functions,
// symbols, Map, Set, Date, class instances, boxed values…) by identity, through an id the run
// gives it. Structures too deep (cycles) or too large are not cached.
const KEY_DEPTH = 64
const KEY_NODES = 10_000
const TOO_BIG = Symbol('too big')

function keyOf(run, v, depth) {
  if (--run.keyNodes < 0 || depth > KEY_DEPTH) throw TOO_BIG
  switch (typeof v) {
    case 'undefined':
      return 'u'
    case 'boolean':
      return v ? 't' : 'f'
    case 'number':
      return String(v)
    case 'bigint':
      return `${v}n`
    case 'string':
      return JSON.stringify(v)
    case 'object': {
      if (v === null) return 'z'
      const proto = Object.getPrototypeOf(v)
      if (proto === Array.prototype && Array.isArray(v)) {
        let s = '['
        for (let i = 0; i < v.length; i++) s += (i === 0 ? '' : ',') + keyOf(run, v[i], depth + 1)
        return s + ']'
      }
      if ((proto === Object.prototype || proto === null) && Object.getOwnPropertySymbols(v).length === 0) {
        let s = '{'
        const keys = Object.keys(v)
        for (let i = 0; i < keys.length; i++) {
          s += (i === 0 ? '' : ',') + JSON.stringify(keys[i]) + ':' + keyOf(run, v[keys[i]], depth + 1)
        }
        return s + '}'
      }
      return identityKey(run, v)
    }
    default: // function, symbol
      return identityKey(run, v)
  }
}

function identityKey(run, v) {
  if (run.keyIds === null) run.keyIds = new Map()
  let id = run.keyIds.get(v)
  if (id === undefined) run.keyIds.set(v, (id = run.keyIds.size))
  return `#${id}`
}

function cacheKey(run, args) {
  run.keyNodes = KEY_NODES
  try {
    return keyOf(run, args, 0)
  } catch {
    return undefined
  }
}

class OrchRun extends FlowRun {
  /** `shape`: `SHAPE_ONLY` for the run kept for its hidden class (see driver.js). */
  /** `signal`: an outside cancel (run's option). */
  constructor(orch, shape, signal) {
    const pseudoFlow = { _hooks: orch._hooks, _names: [], _fns: [], _opts: [], state: orch._state }
    super(pseudoFlow, shape === SHAPE_ONLY ? SHAPE_ONLY : -1, null, orch._run, signal)
    this.orch = orch
    this.main = null
    // Main's end as it came (`mainDone`), or the core's cancel of it (`mainCancelled`: then
    // what main does next is ignored).
    this.mainDone = false
    this.mainCancelled = false
    this.mainOk = false
    this.mainValue = undefined
    // Main's AbortController (made on first use: `orchestrator.signal()` inside main, or the
    // core cancelling it).
    this.mainCtrl = null
    // Per cached action: the call's key → the task that made it. The core routes the outcome
    // to every later caller (a join); their waiters, by join number.
    this.cache = new Map()
    // Ids of the objects a cache key compares by identity (made on first use), and what is left
    // of the current key's budget (see cacheKey).
    this.keyIds = null
    this.keyNodes = 0
    this.joins = []
    // Fail-fast groups made so far (the core numbers them in this order).
    this.nGroups = 0
  }

  /** Registered options `id` are freed with the orchestrator. */
  ownOptions(id) {
    this.orch._options.push(id)
  }

  /**
   * A tracked call of `action` with `args`, made by `parent` (a task, or NONE for main):
   * `{ task, promise, waiter }`.
   */
  callAction(action, thisArg, args, parent, parentAttempt) {
    let perAction
    let key
    if (action.cache) {
      key = cacheKey(this, args)
      if (key !== undefined) {
        perAction = this.cache.get(action)
        if (perAction === undefined) this.cache.set(action, (perAction = new Map()))
        const hit = perAction.get(key)
        if (hit !== undefined) return this.join(hit, parent, parentAttempt)
      }
    }
    // An action's `uses` function gives this call's keys (as Pynenc limits per arguments):
    // what it throws, or a result that is not an array of strings, rejects the call, and no
    // task is made. A call that joins a cached call's task is not asked: that task runs under
    // the keys its first call gave.
    let keys = null
    if (action.usesFn !== null) {
      try {
        keys = action.usesFn.apply(thisArg, args)
        if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string')) {
          throw typeError(`options.uses of action "${action.name}"`, `must return an array of strings, got ${describe(keys)}`)
        }
      } catch (e) {
        return { task: NONE, promise: Promise.reject(e), waiter: { group: undefined, index: 0 } }
      }
    }
    const record = { name: action.name, startTime: Date.now(), endTime: undefined, args, duration: undefined }
    // One record per call in state.operations, when it is an array (a state whose own
    // `operations` is something else keeps it).
    const ops = this.state.operations
    if (Array.isArray(ops)) ops.push(record)
    const task = this.nTasks++
    const entry = { task, promise: null, waiter: null }
    entry.promise = new Promise((resolve, reject) => {
      entry.waiter = this.calls[task] = {
        name: action.name, fn: action.fn, thisArg, args, retryIf: action.retryIf, timeout: action.timeout,
        parent, resolve, reject, record, group: undefined, index: 0,
        retryShape: action.retryShape, attempts: 0, retryError: undefined,
      }
    })
    if (keys === null || keys.length === 0) {
      this.push(7, parent === NONE ? 0 : parent + 1, action.id, parent === NONE ? 0 : parentAttempt)
    } else {
      // The keys cross as messages: [19, …] then [first, count] (see src/driver.rs).
      const first = this.msgs === null ? 0 : this.msgs.length
      for (const k of keys) this.msg(k)
      this.push(19, parent === NONE ? 0 : parent + 1, action.id, parent === NONE ? 0 : parentAttempt)
      this.push(first, keys.length, 0, 0)
    }
    if (perAction !== undefined) perAction.set(key, task)
    return entry
  }

  /**
   * A call that finds its cached call `task` (in flight or done): the core routes its outcome
   * to this caller ([7, join, task, outcome]); a calling action gives its slot back meanwhile.
   */
  join(task, parent, parentAttempt) {
    const waiter = { resolve: null, reject: null, group: undefined, index: 0 }
    const promise = new Promise((resolve, reject) => {
      waiter.resolve = resolve
      waiter.reject = reject
    })
    this.joins.push(waiter)
    this.push(16, parent === NONE ? 0 : parent + 1, parent === NONE ? 0 : parentAttempt, task)
    return { task, promise, waiter }
  }

  joined(join, task, code) {
    const w = this.joins[join]
    if (w === undefined) return
    this.joins[join] = undefined
    this.deliver(w, task, code)
  }

  /**
   * Makes `entries` (calls made by `parent`) a fail-fast group: the core cancels the others
   * when one fails; resolves to the results in order, or rejects with the failure.
   */
  group(entries, parent, parentAttempt) {
    // A call whose `uses` function threw made no task: the group rejects with that error.
    const refused = entries.find((e) => e.task === NONE)
    if (refused !== undefined) return refused.promise
    const n = entries.length
    const g = { id: this.nGroups++, left: n, over: false, results: new Array(n), resolve: null, reject: null }
    const promise = new Promise((resolve, reject) => {
      g.resolve = resolve
      g.reject = reject
    })
    if (n === 0) {
      g.over = true
      g.resolve(g.results)
    }
    for (let i = 0; i < n; i++) {
      entries[i].waiter.group = g
      entries[i].waiter.index = i
    }
    this.push(17, parent === NONE ? 0 : parent + 1, parent === NONE ? 0 : parentAttempt, n)
    for (let i = 0; i < n; i += 4) {
      const m = (k) => (i + k < n ? entries[i + k].task : NONE)
      this.push(m(0), m(1), m(2), m(3))
    }
    return promise
  }

  /** Counts the attempts of a call whose action has the npm retry shape (for its RetryError). */
  failed(task, attempt, e) {
    const c = this.calls[task]
    if (c !== undefined && c.retryShape && this.cur[task] === attempt) c.attempts = attempt
    super.failed(task, attempt, e)
  }

  /**
   * As in the npm orchestrator package, a call of an action given `retry: { attempts }` whose
   * last attempt failed rejects with a RetryError (`attempts`, `lastError`: the body's own
   * error, also its `cause`); one per call, whoever gets it. Hooks and the report keep the
   * body's own error; a timeout stays the timeout error.
   */
  callerError(code, task, message) {
    const e = this.errorFor(code, task, message)
    if (code !== FAILED || task === NONE || !(task in this.errors)) return e
    const c = this.call(task)
    if (c === undefined || !c.retryShape) return e
    if (c.retryError === undefined) c.retryError = new RetryError(c.attempts, e)
    return c.retryError
  }

  startTask(task, attempt) {
    const c = this.calls[task]
    storage().run({ run: this, task, attempt, signal: undefined }, () => this.callBody(task, attempt, c.fn, c.thisArg, c.args))
  }

  onAttemptEnd(task) {
    const r = this.call(task).record
    r.endTime = Date.now()
    r.duration = r.endTime - r.startTime
  }

  onAbort(task) {
    this.onAttemptEnd(task)
  }

  payload(kind, task, attempt, slot) {
    const state = this.state
    if (kind === 0) return { time: state.startTime, context: state }
    if (kind === 8) {
      const time = Date.now()
      state.endTime = time
      return this.withReport({ time, totalDuration: time - state.startTime, context: state })
    }
    const p = super.payload(kind, task, attempt, slot)
    const r = this.call(task).record
    if (kind === 2 || kind === 7) {
      if (kind === 7 && r.endTime === undefined) this.onAttemptEnd(task)
      p.startTime = r.startTime
      p.endTime = r.endTime
      p.args = r.args
      p.duration = r.duration
    }
    return p
  }

  /** The core says: every process_begin hook is done, call main. */
  startMain() {
    const main = this.main
    if (main === null) return
    this.main = null
    let r
    try {
      r = storage().run({ run: this, task: NONE, attempt: 0, signal: undefined }, main)
      // A thenable's `then` is called inside the try (see the Driver's `callBody`).
      if (r !== null && (typeof r === 'object' || typeof r === 'function')) {
        const then = r.then
        if (typeof then === 'function') {
          then.call(r, (v) => this.endMain(true, v), (e) => this.endMain(false, e))
          return
        }
      }
    } catch (e) {
      this.endMain(false, e)
      return
    }
    this.endMain(true, r)
  }

  /** `orchestrator.signal()` inside main: fires when the core cancels main (rule 11). */
  mainSignal() {
    if (this.mainCtrl === null) this.mainCtrl = new AbortController()
    return this.mainCtrl.signal
  }

  /**
   * Rule 11: the core stopped the run (its timeout, a cancel, fail-fast, a hook's error) while
   * main runs: main's signal fires with the run's error and main is no longer awaited (what
   * it returns or throws later is dropped); the run ends by itself.
   */
  cancelMain() {
    this.main = null
    this.mainCancelled = true
    if (this.mainCtrl === null) this.mainCtrl = new AbortController()
    this.mainCtrl.abort(this.stopError())
  }

  endMain(ok, v) {
    if (this.mainDone || this.mainCancelled || this.done) return
    this.mainDone = true
    this.mainOk = ok
    this.mainValue = v
    this.push(15, ok ? 1 : 0, 0, 0)
  }

  /**
   * The run is over: it rejects with the run's error when the core stopped it early (see
   * `stopError`: then main was cancelled, or never started), else main's value or main's own
   * error.
   */
  finished(report) {
    if (this.abortSignal !== null) this.abortSignal.removeEventListener('abort', this.abortListener)
    if (this.state.endTime === undefined) this.state.endTime = Date.now()
    this.orch._report = report
    if (this.stopErr !== null) return this.reject(this.stopErr)
    if (!this.mainDone) return this.reject(new CancelledError('the run ended before main finished'))
    if (this.mainOk) this.resolve(this.mainValue)
    else this.reject(this.mainValue)
  }
}

/**
 * Wraps functions as actions: each call inside `run(main)` is a tracked task (hooks, retries,
 * timeout, report); outside a run an action simply calls its function.
 */
class Orchestrator {
  constructor(options) {
    const o = checkKeys('options', options, [...RUN_KEYS, 'state'])
    this._run = runOptions('options', {
      maxParallel: o.maxParallel, failFast: o.failFast, timeout: o.timeout, maxDepth: o.maxDepth,
      limits: o.limits, priority: o.priority, costs: o.costs,
    })
    this._hooks = newHooks()
    const state = o.state === undefined ? {} : o.state
    if (state === null || (typeof state !== 'object' && typeof state !== 'function')) {
      throw typeError('options.state', `must be an object, got ${describe(state)}`)
    }
    // The state object itself, kept live as Flow keeps it; the bookkeeping fields it lacks are
    // added to it (its own `id`, `operations`… are left alone).
    if (state.id === undefined) state.id = randomUUID()
    if (!('startTime' in state)) state.startTime = undefined
    if (!('endTime' in state)) state.endTime = undefined
    if (!('operations' in state)) state.operations = []
    this._state = state
    this._actions = new WeakMap()
    this._plain = new WeakMap()
    this._report = undefined
    this._options = []
    // A token only this orchestrator holds is watched, not the orchestrator (see Flow's).
    this._token = {}
    collected.register(this._token, this._options)
    storage()
  }

  _current() {
    const store = als.getStore()
    if (store === undefined || store.run.orch !== this || store.run.done) return null
    return store
  }

  /**
   * Wraps `fn` as an action. The wrapper has fn's name and parameters and returns a Promise.
   */
  action(fn, options) {
    if (typeof fn !== 'function') throw typeError('fn', `must be a function, got ${describe(fn)}`)
    const o = checkKeys('options', options, ACTION_KEYS)
    if (o.name !== undefined && typeof o.name !== 'string') throw typeError('options.name', `must be a string, got ${describe(o.name)}`)
    if (o.cache !== undefined && typeof o.cache !== 'boolean') throw typeError('options.cache', `must be a boolean, got ${describe(o.cache)}`)
    const name = o.name ?? (fn.name || 'anonymous')
    const reg = taskOptions('options', name, o, o.name !== undefined ? 'options.name' : 'fn.name', true)
    if (reg.id !== 0) this._options.push(reg.id)
    const action = {
      name, fn, id: reg.id, retryIf: reg.retryIf, timeout: reg.timeout, cache: o.cache === true, retryShape: reg.retryShape,
      usesFn: reg.usesFn,
    }
    const orch = this
    const wrapper = {
      [name](...args) {
        const store = orch._current()
        if (store === null) {
          try {
            return Promise.resolve(fn.apply(this, args))
          } catch (e) {
            return Promise.reject(e)
          }
        }
        return store.run.callAction(action, this, args, store.task, store.attempt).promise
      },
    }[name]
    Object.defineProperty(wrapper, 'length', { value: fn.length })
    this._actions.set(wrapper, action)
    return wrapper
  }

  /**
   * Returns a function that calls action i with argument i, all at once, and resolves to the
   * results in order. Without `failFast` each failure's error takes its place in the results;
   * with it, the first error cancels the other calls and rejects.
   */
  parallel(actions, options) {
    if (!Array.isArray(actions)) throw typeError('actions', `must be an array of functions, got ${describe(actions)}`)
    const o = checkKeys('options', options, ['failFast'])
    if (o.failFast !== undefined && typeof o.failFast !== 'boolean') throw typeError('options.failFast', `must be a boolean, got ${describe(o.failFast)}`)
    const failFast = o.failFast === true
    const list = actions.map((f, k) => {
      if (typeof f !== 'function') throw typeError(`actions[${k}]`, `must be a function, got ${describe(f)}`)
      let a = this._actions.get(f)
      if (a === undefined) {
        a = this._plain.get(f)
        if (a === undefined) {
          a = this._actions.get(this.action(f))
          this._plain.set(f, a)
        }
      }
      return a
    })
    const orch = this
    return function parallel(...args) {
      const store = orch._current()
      if (store === null) {
        const ps = list.map((a, i) => {
          try {
            return Promise.resolve(i < args.length ? a.fn(args[i]) : a.fn())
          } catch (e) {
            return Promise.reject(e)
          }
        })
        return failFast ? Promise.all(ps) : Promise.all(ps.map((p) => p.then((v) => v, (e) => e)))
      }
      const run = store.run
      const entries = list.map((a, i) => run.callAction(a, undefined, i < args.length ? [args[i]] : [], store.task, store.attempt))
      if (!failFast) return Promise.all(entries.map((e) => e.promise.then((v) => v, (err) => err)))
      // A core group: the core cancels the other members when one fails.
      return run.group(entries, store.task, store.attempt)
    }
  }

  /**
   * Runs `main`; each action call inside it is tracked. Resolves to main's value, rejects with
   * main's own error (or a HookError when a hook threw). Hooks see process begin and completion.
   * The run's timeout, `options.signal` aborting, or fail-fast stop main: run() rejects with
   * the run's error at once, without waiting for main.
   */
  run(main, options) {
    if (typeof main !== 'function') return Promise.reject(typeError('main', `must be a function, got ${describe(main)}`))
    let r
    try {
      const o = checkKeys('options', options, ['signal'])
      if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) {
        throw typeError('options.signal', `must be an AbortSignal, got ${describe(o.signal)}`)
      }
      r = new OrchRun(this, undefined, o.signal)
    } catch (e) {
      return Promise.reject(e)
    }
    this._state.startTime = r.startedAt
    this._state.endTime = undefined
    r.main = main
    // The core starts main once every process_begin hook is done ([8]).
    r.push(14, 0, 0, 0)
    return r.promise
  }

  /** The report of the latest finished run (every action call as a task), if any. */
  get report() {
    return this._report
  }

  /** Sets `state[key] = value`; returns this orchestrator. */
  setState(key, value) {
    this._state[key] = value
    return this
  }

  /** The live state object (with `id`, `startTime`, `endTime` and `operations`). */
  getState() {
    return this._state
  }

  /**
   * Inside an action: the AbortSignal of the current call (fires on timeout, fail-fast, cancel).
   * Inside main: main's, which fires when the run stops it (run timeout, cancel, fail-fast).
   */
  signal() {
    const store = als.getStore()
    if (store === undefined || store.run.orch !== this) {
      throw new LegatoError('orchestrator.signal() is only available inside a run of this orchestrator (in main or an action it calls)', { code: 'ERR_LEGATO_OUTSIDE_RUN' })
    }
    if (store.signal === undefined) store.signal = store.task === NONE ? store.run.mainSignal() : store.run.signalOf(store.task)
    return store.signal
  }
}
addHookMethods(Orchestrator)

/**
 * An orchestrator run kept for the life of the module, for its hidden class (see SHAPE_ONLY in
 * driver.js); exported, so that the module's exports keep it reachable.
 */
const keptShape = new OrchRun({ _hooks: newHooks(), _state: { operations: [] }, _run: runOptions('options', {}) }, SHAPE_ONLY)

module.exports = { Orchestrator, keptShape }
