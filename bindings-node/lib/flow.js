'use strict'
// Flow: a declared DAG of steps (LightFlow's builders), run by the core's scheduler.
const native = require('../native.js')
const { Driver, SHAPE_ONLY, NONE, KIND_NAMES, OK, messageOf } = require('./driver.js')
const { call, fromNative, typeError, FlowError, TaskTimeoutError, CancelledError, LegatoError } = require('./errors.js')
const { checkKeys, runOptions, taskOptions, TASK_KEYS, STEP_ONLY_KEYS, RUN_KEYS, describe } = require('./options.js')
const { addHookMethods, newHooks } = require('./hooks.js')
const { held } = require('./finalizers.js')
const { checkName, named } = require('./names.js')
const { failureReasonOf, nativeOf, resultOf } = require('./report.js')

const STEP_KEYS = ['after', 'description', ...TASK_KEYS, ...STEP_ONLY_KEYS]
const SPAWN_KEYS = TASK_KEYS

/**
 * Frees the native options of a collected Flow (its definition is freed with its NativeFlow
 * handle, which V8's minor collections already take).
 */
const collected = new FinalizationRegistry((options) => {
  if (options.length > 0) native.optionsDrop(options)
})

/** The options of a step that has none (shared: no per-step object). */
const NO_OPTIONS = Object.freeze({ id: 0, retryIf: null, timeout: undefined })
/** A dependency given by name, in the pending records of `flow_deps`. */
const BY_NAME = 0x80000000

function allStrings(list) {
  for (let k = 0; k < list.length; k++) if (typeof list[k] !== 'string') return false
  return true
}

/** A set of steps to depend on at once (LightFlow's sync point). */
class SyncPoint {
  constructor(flow, indices) {
    this._flow = flow
    this._indices = indices
  }

  /** The names of the point's steps. */
  get names() {
    return this._indices.map((i) => this._flow._names[i])
  }

  /** Makes the point's first step (follow) or every step (parallel) run after `deps`. */
  after(...deps) {
    const f = this._flow
    const list = deps.flat()
    for (const i of this._firsts) f._addDeps(i, 'after', list)
    return this
  }
}

/** The context a step's function gets. */
class StepContext {
  constructor(run, task, attempt) {
    this._run = run
    this._task = task
    /** The attempt number, from 1. */
    this.attempt = attempt
    this._signal = undefined
  }

  /** The step's name. */
  get name() {
    return this._run.nameOf(this._task)
  }

  /** The results of the steps that succeeded so far, by name. */
  get results() {
    return this._run.results
  }

  /** The flow's shared state. */
  get state() {
    return this._run.state
  }

  /** Fires when this attempt is cancelled: timeout, fail-fast, run cancel or run timeout. */
  get signal() {
    if (this._signal === undefined) this._signal = this._run.signalOf(this._task)
    return this._signal
  }

  /**
   * Runs `fn` as a dynamic child task of this step (tracked, with hooks, retries and timeout)
   * and resolves to its result. While the step awaits it, the step gives its slot back.
   */
  spawn(name, fn, options) {
    if (this.attempt === 0) {
      // A condition's context: the step has no attempt to be the children's parent.
      throw new LegatoError('ctx.spawn() is not available in a condition (when): it runs before the step has an attempt', { code: 'ERR_LEGATO_OUTSIDE_RUN' })
    }
    if (typeof name !== 'string') throw typeError('name', `must be a string, got ${describe(name)}`)
    if (typeof fn !== 'function') throw typeError('fn', `must be a function, got ${describe(fn)}`)
    const o = checkKeys('options', options, SPAWN_KEYS)
    return this._run.spawnChild(this._task, this.attempt, name, fn, o)
  }
}

class FlowRun extends Driver {
  constructor(flow, graphId, targets, ro, signal, resume) {
    super(graphId, targets, ro, flow._hooks, flow._names.length)
    this.flow = flow
    this.names = flow._names.slice()
    this.fns = flow._fns.slice()
    this.opts = flow._opts.slice()
    this.nStatic = this.names.length
    this.state = flow.state
    this.ok = new Uint8Array(this.nStatic)
    this._results = null
    this.needBegin = this.hooks[7].length > 0
    this.calls = []
    this.retired = []
    this.beginTimes = []
    this.promise = new Promise((resolve, reject) => {
      this.resolve = resolve
      this.reject = reject
    })
    // A bound method, not a closure stored from here (see the Driver's constructor).
    this.abortSignal = null
    this.abortListener = null
    if (resume !== undefined) this.restore(resume)
    if (signal) {
      if (signal.aborted) queueMicrotask(() => this.cancel())
      else {
        this.abortSignal = signal
        this.abortListener = this.cancel.bind(this)
        signal.addEventListener('abort', this.abortListener, { once: true })
      }
    }
  }

  call(task) {
    return this.calls[task] ?? this.retired[task]
  }

  /**
   * Resumes the run `report` tells of, before this one starts: the core restores each step
   * that succeeded there (it will not run again: `succeeded`, 0 attempts, `resumed`, hooks see
   * `task_skip` with reason `resumed`), and the result the report holds for it (the JS value
   * of a report in memory, the JSON value of one read back) is this run's, so that the steps
   * after it read it in `ctx.results`. A step the report names and the flow lacks is an
   * UnknownTaskError: the native run is freed and nothing has run.
   */
  restore(report) {
    let pairs
    try {
      pairs = native.runRestore(this.id, nativeOf(report))
    } catch (e) {
      this.drop()
      throw fromNative(e)
    }
    for (let k = 0; k < pairs.length; k += 2) {
      const task = pairs[k]
      this.values[task] = resultOf(report, pairs[k + 1])
      this.ok[task] = 1
    }
  }

  get results() {
    if (this._results === null) this._results = this.makeResults()
    return this._results
  }

  nameOf(task) {
    return task < this.nStatic ? this.names[task] : this.call(task).name
  }

  retryIf(task) {
    return task < this.nStatic ? this.opts[task].retryIf : this.call(task).retryIf
  }

  /**
   * The timeout error of `task`'s attempt, with the core's text (`task "x" timed out after
   * 20ms`): `message` when the caller has it (a finished run's report), else read from the run.
   */
  timeoutError(task, message) {
    return new TaskTimeoutError(message ?? native.runCallError(this.id, task) ?? `task "${this.nameOf(task)}" timed out`)
  }

  startTask(task, attempt) {
    if (this.needBegin && this.beginTimes[task] === undefined) this.beginTimes[task] = Date.now()
    const ctx = new StepContext(this, task, attempt)
    const fn = task < this.nStatic ? this.fns[task] : this.calls[task].fn
    // As the Driver's `callBody` (a thenable's `then` read and called inside the try), with
    // the one argument passed directly.
    let r
    try {
      r = fn(ctx)
      if (r !== null && (typeof r === 'object' || typeof r === 'function')) {
        const then = r.then
        if (typeof then === 'function') {
          then.call(r, (v) => this.succeeded(task, attempt, v), (e) => this.failed(task, attempt, e))
          return
        }
      }
    } catch (e) {
      this.failed(task, attempt, e)
      return
    }
    this.succeeded(task, attempt, r)
  }

  onAttemptEnd(task, v, ok) {
    if (ok && task < this.nStatic) this.ok[task] = 1
  }

  /**
   * The core asks for `task`'s condition (its `when`), once, when it is ready: called with
   * the step's context (attempt 0: no attempt has started). A truthy value runs the step, a
   * falsy one skips it (`condition false`); a throw fails it with what was thrown. Conditions
   * are synchronous: a thenable is not awaited but fails the step with a TypeError saying so.
   */
  evaluate(task) {
    const when = task < this.nStatic ? this.opts[task].when : null
    let b = 1
    let msg = 0
    if (typeof when === 'function') {
      let r
      try {
        r = when(new StepContext(this, task, 0))
        if (r !== null && (typeof r === 'object' || typeof r === 'function') && typeof r.then === 'function') {
          // A rejection of it would be unhandled: it is caught and dropped (the step fails now).
          if (typeof r.catch === 'function') r.catch(() => {})
          throw new TypeError(`the when condition of step "${this.nameOf(task)}" returned a Promise: conditions are synchronous (compute the value in a step before it and read it from ctx.results)`)
        }
        b = r ? 1 : 0
      } catch (e) {
        this.errors[task] = e
        b = 2
        msg = this.msg(messageOf(e))
      }
    }
    this.push(18, task, b, msg)
  }

  /** `ctx.results`: a live view by name of the steps that succeeded (no per-task insert). */
  makeResults() {
    const run = this
    const index = this.flow._nameIndex()
    const has = (k) => {
      const i = typeof k === 'string' ? index.get(k) : undefined
      return i !== undefined && i < run.nStatic && run.ok[i] === 1
    }
    return new Proxy(Object.create(null), {
      get: (_, k) => (has(k) ? run.values[index.get(k)] : undefined),
      has: (_, k) => has(k),
      ownKeys: () => run.names.filter((n, i) => run.ok[i] === 1),
      getOwnPropertyDescriptor: (_, k) => (has(k) ? { value: run.values[index.get(k)], enumerable: true, configurable: true, writable: false } : undefined),
      set: () => false,
      defineProperty: () => false,
      deleteProperty: () => false,
    })
  }

  spawnChild(parent, parentAttempt, name, fn, o) {
    if (this.done) return Promise.reject(new CancelledError('the run is over'))
    const reg = taskOptions('options', name, o, 'name')
    if (reg.id !== 0) this.ownOptions(reg.id)
    const task = this.nTasks++
    const p = new Promise((resolve, reject) => {
      this.calls[task] = { name, fn, retryIf: reg.retryIf, timeout: reg.timeout, parent, resolve, reject, group: undefined, index: 0 }
    })
    // The core suspends the caller (it gives its slot back) and says when to deliver.
    this.push(7, parent === NONE ? 0 : parent + 1, reg.id, parent === NONE ? 0 : parentAttempt)
    return p
  }

  /** Registered options `id` are freed with this run's flow. */
  ownOptions(id) {
    this.flow._own(id)
  }

  /** The core says: hand dynamic task `task`'s outcome (`code`, see `errorFor`) to its caller now. */
  settled(task, code) {
    const c = this.calls[task]
    if (c === undefined) return
    this.calls[task] = undefined
    this.retired[task] = c
    this.deliver(c, task, code)
  }

  /**
   * Gives waiter `w` (a call's, a join's) the outcome `code` of `task`. A member of a
   * fail-fast group (`w.group`) adds its value to the group's results; the first member that
   * did not succeed rejects the group with the outcome of the member the core says failed
   * first (the core has cancelled the others).
   */
  deliver(w, task, code) {
    const g = w.group
    if (g === undefined) {
      if (code === OK) w.resolve(this.values[task])
      else w.reject(this.callerError(code, task))
      return
    }
    if (g.over) return
    if (code === OK) {
      g.results[w.index] = this.values[task]
      if (--g.left === 0) {
        g.over = true
        g.resolve(g.results)
      }
      return
    }
    g.over = true
    const first = native.runGroupFailure(this.id, g.id)
    g.reject(first === null ? this.callerError(code, task) : this.callerError(first[1], first[0]))
  }

  payload(kind, task, attempt, slot) {
    const context = this.state
    if (kind === 0) return { time: this.startedAt, context }
    if (kind === 8) {
      const d = this.detail(slot)
      const time = Date.now()
      return this.withReport({ time, totalDuration: Math.round(d.durationMs), context })
    }
    const name = this.nameOf(task)
    switch (kind) {
      case 1:
        return { name, context }
      case 2:
        return { name, attempt, startTime: Date.now(), context }
      default: {
        const d = this.detail(slot)
        const p = { name, context }
        if (d.durationMs !== undefined && d.durationMs !== null) p.duration = Math.round(d.durationMs)
        if (kind === 3) {
          p.attempt = attempt
          p.error = this.errorFor(d.errorCode, task, d.errorMessage)
          p.delay = d.delayMs
        } else if (kind === 4) {
          p.result = this.values[task]
        } else if (kind === 5 || kind === 7) {
          // The core's payload: task_completion's error is the last attempt's (none after a
          // success or a skip).
          if (d.errorCode !== undefined && d.errorCode !== null) p.error = this.errorFor(d.errorCode, task, d.errorMessage)
          if (kind === 7) {
            p.status = d.status
            if (d.status === 'succeeded') p.result = this.values[task]
            p.startTime = this.beginTimes[task]
            p.endTime = Date.now()
          }
        } else if (kind === 6) {
          p.reason = d.reason
        }
        return p
      }
    }
  }

  finished(report) {
    if (this.abortSignal !== null) this.abortSignal.removeEventListener('abort', this.abortListener)
    if (report.ok) return this.resolve(report)
    // The run's error when the core stopped it (a HookError, the fail-fast failure's own
    // error, the run timeout's); else the first step that failed.
    const se = this.stopErr
    const bad = report.list.find((t) => t.status === 'failed' || t.status === 'timed_out')
    // The core's wording, the same in every door: `flow failed: task "x" failed: <message>`
    // (a readable form of what was thrown, whatever it is), or the reason the run stopped.
    const why = failureReasonOf(report) ?? 'not every task succeeded'
    const cause = se ?? bad?.error
    this.reject(new FlowError(`flow failed: ${why}`, report, cause === undefined ? undefined : { cause }))
  }
}

/**
 * A declared DAG of steps. Dependencies by name, by function reference or by sync point;
 * run all, or targets plus their transitive dependencies.
 *
 * The definition lives in the core (`FlowDef`): each step crosses once when added, so that a
 * duplicate or invalid name is refused there and then; dependencies cross in batches. JS keeps
 * the bodies, by position.
 */
class Flow {
  constructor(options) {
    const o = checkKeys('options', options, [...RUN_KEYS, 'state'])
    this._run = runOptions('options', {
      maxParallel: o.maxParallel, failFast: o.failFast, timeout: o.timeout, maxDepth: o.maxDepth,
      limits: o.limits, priority: o.priority, costs: o.costs,
    })
    /** The shared state every step (`ctx.state`) and hook (`context`) sees. */
    this.state = o.state === undefined ? {} : o.state
    this._names = []
    this._fns = []
    this._opts = []
    // Name → position and function → position, built when first needed and extended as steps
    // are added (names are append-only): the per-step path keeps no index of its own.
    this._byName = new Map()
    this._byFn = new Map()
    this._fnSeen = 0
    // Dependencies not yet handed to the core: records [step, count, dep...] (see flow_deps).
    this._pend = new Uint32Array(64)
    this._pendLen = 0
    this._pendNames = []
    this._hooks = newHooks()
    // The native definition lives as long as this handle (see NativeFlow in src/flow.rs).
    this._native = native.flowNew()
    this._def = this._native.id
    // Options registered for this flow's steps and children, freed when it is collected: the
    // registry watches a token only this flow holds (made with the first), not the flow: V8's
    // scavenges keep a registered object alive (its steps' functions with it).
    this._options = []
    this._token = null
  }

  /** Frees registered options `id` with this flow. */
  _own(id) {
    if (this._token === null) {
      this._token = {}
      collected.register(this._token, this._options)
    }
    this._options.push(id)
  }

  /** Name → position (first definition wins, as the core's index does). */
  _nameIndex() {
    const m = this._byName
    for (let i = m.size; i < this._names.length; i++) m.set(this._names[i], i)
    return m
  }

  _fnIndex() {
    const m = this._byFn
    const fns = this._fns
    // `_fnSeen` counts positions already looked at (a function given twice keeps its first).
    for (let i = this._fnSeen; i < fns.length; i++) if (!m.has(fns[i])) m.set(fns[i], i)
    this._fnSeen = fns.length
    return m
  }

  _push(v) {
    if (this._pendLen === this._pend.length) {
      const bigger = new Uint32Array(this._pend.length * 2)
      bigger.set(this._pend)
      this._pend = bigger
    }
    this._pend[this._pendLen++] = v
  }

  /** Queues `step` after each of `deps` (names, step functions, sync points). */
  _addDeps(step, argument, deps) {
    const at = this._pendLen
    const atNames = this._pendNames.length
    this._push(step)
    this._push(0)
    let count = 0
    for (let k = 0; k < deps.length; k++) {
      const d = deps[k]
      if (typeof d === 'string') {
        try {
          checkName(`${argument}[${k}]`, d)
        } catch (e) {
          this._pendLen = at
          this._pendNames.length = atNames
          throw e
        }
        this._push(BY_NAME | (this._pendNames.push(d) - 1))
        count++
      } else if (typeof d === 'function') {
        const i = this._fnIndex().get(d)
        if (i === undefined) {
          this._pendLen = at
          this._pendNames.length = atNames
          throw typeError(`${argument}[${k}]`, `the function ${d.name ? `"${d.name}"` : '(anonymous)'} is not a step of this flow`)
        }
        this._push(i)
        count++
      } else if (d instanceof SyncPoint && d._flow === this) {
        for (const i of d._indices) this._push(i)
        count += d._indices.length
      } else {
        this._pendLen = at
        this._pendNames.length = atNames
        throw typeError(`${argument}[${k}]`, `must be a step name, a step function or a sync point of this flow, got ${describe(d)}`)
      }
    }
    this._pend[at + 1] = count
  }

  /** Hands the queued dependencies to the core. */
  _flush() {
    if (this._pendLen === 0) return
    const names = this._pendNames.length > 0 ? this._pendNames.join('\0') : null
    const buf = this._pend.subarray(0, this._pendLen)
    this._pendLen = 0
    this._pendNames = []
    call(native.flowDeps, this._def, buf, names)
  }

  /** Adds step `name` (given as `nameArg`: `name`, or `fn.name` when taken from `fn`). */
  _add(name, fn, o, nameArg = 'name') {
    if (typeof name !== 'string') throw typeError('name', `must be a string, got ${describe(name)}`)
    if (typeof fn !== 'function') throw typeError('fn', `must be a function, got ${describe(fn)}`)
    checkName(nameArg, name)
    let reg = NO_OPTIONS
    let description = null
    let after
    if (o !== undefined) {
      after = o.after
      if (after !== undefined && !Array.isArray(after)) after = [after]
      if (o.description !== undefined) {
        if (typeof o.description !== 'string') throw typeError('options.description', `must be a string, got ${describe(o.description)}`)
        description = o.description
      }
      if (o.retries !== undefined || o.retry !== undefined || o.backoff !== undefined || o.retryIf !== undefined ||
        o.timeout !== undefined || o.sequences !== undefined || o.uses !== undefined || o.when !== undefined ||
        o.trigger !== undefined || o.cost !== undefined) {
        reg = taskOptions('options', null, o)
        if (reg.id !== 0) this._own(reg.id)
      }
    }
    // Positions are given out in order: the dependencies are checked (and queued) first, so
    // that a refused step leaves nothing behind.
    const i = this._names.length
    const at = this._pendLen
    const atNames = this._pendNames.length
    // Dependencies that are all names (the usual case) cross with the step, NUL-joined;
    // functions and sync points are queued by position (`_addDeps`).
    let names = null
    if (after !== undefined && after.length > 0) {
      if (allStrings(after)) {
        for (let k = 0; k < after.length; k++) checkName(`options.after[${k}]`, after[k])
        names = after.length === 1 ? after[0] : after.join('\0')
      }
      else this._addDeps(i, 'options.after', after)
    }
    try {
      // Trailing arguments left out cost nothing natively (most steps have no options).
      if (reg.id !== 0 || description !== null) native.flowAdd(this._def, name, names, reg.id, description)
      else if (names !== null) native.flowAdd(this._def, name, names)
      else native.flowAdd(this._def, name)
    } catch (e) {
      this._pendLen = at
      this._pendNames.length = atNames
      // The core checks the step's name here (its dependencies' when the graph is built).
      throw named(nameArg, fromNative(e))
    }
    this._names.push(name)
    this._fns.push(fn)
    this._opts.push(reg)
    held(1)
    return i
  }

  /**
   * Adds a step: `step(name, fn, options)` or `step(fn, options)` (named after `fn.name`).
   * Returns `fn`, unchanged.
   */
  step(name, fn, options) {
    let nameArg = 'name'
    if (typeof name === 'function') {
      options = fn
      fn = name
      name = fn.name || 'anonymous'
      nameArg = 'fn.name'
    } else if (typeof name !== 'string') {
      throw typeError('name', `must be a string or a function, got ${describe(name)}`)
    }
    if (options !== undefined) checkKeys('options', options, STEP_KEYS)
    this._add(name, fn, options === null ? undefined : options, nameArg)
    return fn
  }

  _item(argument, x, k) {
    if (typeof x === 'string') {
      const i = this._nameIndex().get(x)
      if (i === undefined) throw typeError(`${argument}[${k}]`, `no step is named "${x}"`)
      return i
    }
    if (typeof x === 'function') {
      const i = this._fnIndex().get(x)
      return i === undefined ? this._add(x.name || 'anonymous', x, undefined, `${argument}[${k}].name`) : i
    }
    throw typeError(`${argument}[${k}]`, `must be a step name or a function, got ${describe(x)}`)
  }

  /** Chains steps: each runs after the one before; `.after(...)` places the first. */
  follow(...steps) {
    const idx = steps.flat().map((x, k) => this._item('follow', x, k))
    this._flush()
    call(native.flowFollow, this._def, Uint32Array.from(idx))
    const p = new SyncPoint(this, idx.slice(-1))
    p._firsts = idx.slice(0, 1)
    return p
  }

  /** Groups steps that run side by side; `.after(...)` places them all; usable in `after`. */
  parallel(...steps) {
    const idx = steps.flat().map((x, k) => this._item('parallel', x, k))
    const p = new SyncPoint(this, idx)
    p._firsts = idx
    return p
  }

  /** Adds (or places) a step after every step added so far. */
  syncAll(step, options) {
    let i
    if (typeof step === 'function' && !this._fnIndex().has(step)) {
      if (options !== undefined) checkKeys('options', options, STEP_KEYS)
      i = this._add(step.name || 'anonymous', step, options === null ? undefined : options, 'step.name')
    } else {
      i = this._item('syncAll', step, 0)
    }
    this._flush()
    call(native.flowSyncAll, this._def, i)
    return step
  }

  _targets(targets) {
    if (targets === undefined || targets === null) return null
    const list = Array.isArray(targets) ? targets : [targets]
    // No targets: every step. An empty name is a target like any other (the core refuses it:
    // UnknownTaskError), not "everything".
    if (list.length === 0) return null
    return list.map((t, k) => {
      if (typeof t === 'string') {
        checkName(Array.isArray(targets) ? `targets[${k}]` : 'targets', t)
        return t
      }
      if (typeof t === 'function') {
        const i = this._fnIndex().get(t)
        if (i !== undefined) return this._names[i]
      }
      throw typeError(`targets[${k}]`, `must be a step name or a step function, got ${describe(t)}`)
    }).join('\0')
  }

  /**
   * Runs the flow (or `targets` and their dependencies). Resolves to the report when every
   * step succeeded or was skipped by a condition or a trigger rule (`report.ok`); otherwise rejects with a `FlowError` whose `.report` holds everything.
   * `options.signal` cancels the run; `options.resume`, a previous run's report, resumes it
   * (DESIGN "Resume": see `restore`).
   */
  run(targets, options) {
    if (targets !== undefined && targets !== null && !Array.isArray(targets) && typeof targets === 'object' && options === undefined) {
      options = targets
      targets = undefined
    }
    let run
    try {
      const o = checkKeys('options', options, ['signal', 'resume'])
      if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) {
        throw typeError('options.signal', `must be an AbortSignal, got ${describe(o.signal)}`)
      }
      if (o.resume !== undefined && nativeOf(o.resume) === null) {
        throw typeError('options.resume', `must be a RunReport (a previous run's report or RunReport.fromJSON(text)), got ${describe(o.resume)}`)
      }
      const t = this._targets(targets)
      this._flush()
      run = new FlowRun(this, this._def, t, this._run, o.signal, o.resume)
    } catch (e) {
      return Promise.reject(e)
    }
    run.push(12, 0, 0, 0)
    return run.promise
  }

  /** The dry run: the levels that would run, in order; nothing is executed. */
  plan(targets) {
    const t = this._targets(targets)
    this._flush()
    return call(native.flowPlan, this._def, t)
  }

  _render(format, targets) {
    const t = this._targets(targets)
    this._flush()
    return call(native.flowRender, this._def, format, t)
  }

  /** The graph as a Mermaid flowchart. */
  toMermaid(targets) {
    return this._render('mermaid', targets)
  }

  /** The graph as Graphviz DOT. */
  toDot(targets) {
    return this._render('dot', targets)
  }

  /** The graph as an ASCII tree (for terminals). */
  toAscii(targets) {
    return this._render('ascii', targets)
  }

  /** The step names, in declaration order. */
  get steps() {
    return this._names.slice()
  }
}
addHookMethods(Flow)

/**
 * One object of each class a run makes many of, alive as long as the module: their hidden
 * classes then outlive every run (see `SHAPE_ONLY` in driver.js). The flow is empty; the run
 * has no native run and is never started; the context is never handed to a step. Exported, so
 * that the module's exports keep them reachable.
 */
const keptShapes = (() => {
  const flow = new Flow()
  const run = new FlowRun(flow, SHAPE_ONLY, null, flow._run, undefined)
  return [flow, run, new StepContext(run, 0, 1)]
})()

module.exports = { Flow, FlowRun, SyncPoint, StepContext, KIND_NAMES, keptShapes }
