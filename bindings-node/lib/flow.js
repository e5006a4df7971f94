'use strict'
// Flow: a declared DAG of steps (LightFlow's builders), run by the core's scheduler.
const native = require('../native.js')
const { Driver, NONE, KIND_NAMES, STATUS_NAMES } = require('./driver.js')
const { call, typeError, FlowError, TaskTimeoutError, CancelledError } = require('./errors.js')
const { checkKeys, runOptions, taskOptions, TASK_KEYS, describe } = require('./options.js')
const { addHookMethods, newHooks } = require('./hooks.js')

const STEP_KEYS = ['after', 'description', ...TASK_KEYS]
const SPAWN_KEYS = TASK_KEYS

/** Frees the native graph and options of a collected Flow. */
const collected = new FinalizationRegistry(({ graph, options }) => {
  if (graph !== null) native.graphDrop(graph)
  if (options.length > 0) native.optionsDrop(options)
})

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
    const resolved = f._resolveDeps('after', deps.flat())
    for (const i of this._firsts) f._deps[i].push(...resolved)
    f._changed()
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
    if (typeof name !== 'string') throw typeError('name', `must be a string (got ${describe(name)})`)
    if (typeof fn !== 'function') throw typeError('fn', `must be a function (got ${describe(fn)})`)
    const o = checkKeys('options', options, SPAWN_KEYS)
    return this._run.spawnChild(this._task, this.attempt, name, fn, o)
  }
}

class FlowRun extends Driver {
  constructor(flow, graphId, targets, ro, signal) {
    super(graphId, targets, ro, flow._hooks, flow._names.length)
    this.flow = flow
    this.names = flow._names.slice()
    this.fns = flow._fns.slice()
    this.opts = flow._opts.slice()
    this.nStatic = this.names.length
    this.state = flow.state
    this.ok = new Uint8Array(this.nStatic)
    this._results = null
    this.needBegin = flow._hooks[7].length > 0
    this.calls = []
    this.retired = []
    this.beginTimes = []
    this.promise = new Promise((resolve, reject) => {
      this.resolve = resolve
      this.reject = reject
    })
    if (signal) {
      if (signal.aborted) queueMicrotask(() => this.cancel())
      else {
        this.unlisten = () => signal.removeEventListener('abort', onAbort)
        const onAbort = () => this.cancel()
        signal.addEventListener('abort', onAbort, { once: true })
      }
    }
  }

  call(task) {
    return this.calls[task] ?? this.retired[task]
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

  timeoutError(task) {
    const ms = task < this.nStatic ? this.opts[task].timeout : this.call(task).timeout
    const e = new TaskTimeoutError(`Step "${this.nameOf(task)}" timed out after ${ms}ms`)
    return e
  }

  startTask(task, attempt) {
    if (this.needBegin && this.beginTimes[task] === undefined) this.beginTimes[task] = Date.now()
    const ctx = new StepContext(this, task, attempt)
    const fn = task < this.nStatic ? this.fns[task] : this.calls[task].fn
    let r
    try {
      r = fn(ctx)
    } catch (e) {
      this.failed(task, attempt, e)
      return
    }
    if (r !== null && typeof r === 'object' && typeof r.then === 'function') {
      r.then((v) => this.succeeded(task, attempt, v), (e) => this.failed(task, attempt, e))
    } else if (typeof r === 'function' && typeof r.then === 'function') {
      r.then((v) => this.succeeded(task, attempt, v), (e) => this.failed(task, attempt, e))
    } else {
      this.succeeded(task, attempt, r)
    }
  }

  onAttemptEnd(task, v, ok) {
    if (ok && task < this.nStatic) this.ok[task] = 1
  }

  /** `ctx.results`: a live view by name of the steps that succeeded (no per-task insert). */
  makeResults() {
    const run = this
    const index = this.flow._byName
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
    const reg = taskOptions('options', name, o)
    this.flow._options.push(reg.id)
    const task = this.nTasks++
    const p = new Promise((resolve, reject) => {
      this.calls[task] = { name, fn, retryIf: reg.retryIf, timeout: reg.timeout, parent, resolve, reject }
    })
    // The core suspends the caller (it gives its slot back) and says when to deliver.
    this.push(7, parent === NONE ? 0 : parent + 1, reg.id, parent === NONE ? 0 : parentAttempt)
    return p
  }

  /** The core says: hand dynamic task `task`'s outcome to its caller now. */
  settled(task, status) {
    const c = this.calls[task]
    if (c === undefined) return
    this.calls[task] = undefined
    this.retired[task] = c
    if (status === 3) c.resolve(this.values[task])
    else c.reject(this.errorOf(task, status))
  }

  resumeTask() {}

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
          p.error = this.errors[task] ?? this.timeoutError(task)
          if (d.errorKind === 'timed_out') p.error = this.timeoutError(task)
          p.delay = d.delayMs
        } else if (kind === 4) {
          p.result = this.values[task]
        } else if (kind === 5 || kind === 7) {
          // A task that succeeded after a failed attempt has no error (the core's event keeps
          // the earlier attempt's).
          if (d.errorKind && d.status !== 'succeeded') p.error = d.errorKind === 'failed' && this.errors[task] !== undefined ? this.errors[task]
            : d.errorKind === 'timed_out' ? this.timeoutError(task) : new CancelledError(d.errorMessage)
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
    if (this.unlisten) this.unlisten()
    if (report.ok) return this.resolve(report)
    let why
    if (this.hookError) why = this.hookError.message
    else if (report.stop) why = report.stop
    else {
      const bad = report.list.find((t) => t.status === 'failed' || t.status === 'timed_out')
      why = bad ? `step "${bad.name}" ${bad.status === 'timed_out' ? 'timed out' : 'failed'}: ${bad.error && bad.error.message}` : 'not every step succeeded'
    }
    const cause = this.hookError ?? report.list.find((t) => t.status === 'failed' || t.status === 'timed_out')?.error
    this.reject(new FlowError(`Flow failed: ${why}`, report, cause === undefined ? undefined : { cause }))
  }
}

/**
 * A declared DAG of steps. Dependencies by name, by function reference or by sync point;
 * run all, or targets plus their transitive dependencies.
 */
class Flow {
  constructor(options) {
    const o = checkKeys('options', options, ['maxParallel', 'failFast', 'timeout', 'state'])
    this._run = runOptions('options', { maxParallel: o.maxParallel, failFast: o.failFast, timeout: o.timeout })
    /** The shared state every step (`ctx.state`) and hook (`context`) sees. */
    this.state = o.state === undefined ? {} : o.state
    this._names = []
    this._fns = []
    this._deps = []
    this._opts = []
    this._descriptions = []
    this._byName = new Map()
    this._byFn = new Map()
    this._hooks = newHooks()
    this._native = { graph: null, options: [] }
    this._options = this._native.options
    collected.register(this, this._native)
  }

  _changed() {
    if (this._native.graph !== null) {
      native.graphDrop(this._native.graph)
      this._native.graph = null
    }
  }

  /** Resolves dependency references to step indices (or names not defined yet). */
  _resolveDeps(argument, deps) {
    const out = []
    deps.forEach((d, k) => {
      if (typeof d === 'string') {
        const i = this._byName.get(d)
        out.push(i === undefined ? d : i)
      } else if (typeof d === 'function') {
        const i = this._byFn.get(d)
        if (i === undefined) {
          throw typeError(`${argument}[${k}]`, `the function ${d.name ? `"${d.name}"` : '(anonymous)'} is not a step of this flow`)
        }
        out.push(i)
      } else if (d instanceof SyncPoint && d._flow === this) {
        out.push(...d._indices)
      } else {
        throw typeError(`${argument}[${k}]`, `must be a step name, a step function or a sync point of this flow (got ${describe(d)})`)
      }
    })
    return out
  }

  _add(name, fn, o) {
    if (typeof name !== 'string') throw typeError('name', `must be a string (got ${describe(name)})`)
    if (typeof fn !== 'function') throw typeError('fn', `must be a function (got ${describe(fn)})`)
    if (this._byName.has(name)) {
      const { DuplicateTaskError } = require('./errors.js')
      throw new DuplicateTaskError(`Task "${name}" is defined twice`)
    }
    let deps = []
    if (o.after !== undefined) {
      const a = Array.isArray(o.after) ? o.after : [o.after]
      deps = this._resolveDeps('options.after', a)
    }
    if (o.description !== undefined && typeof o.description !== 'string') {
      throw typeError('options.description', `must be a string (got ${describe(o.description)})`)
    }
    const reg = taskOptions('options', null, o)
    if (reg.id !== 0) this._options.push(reg.id)
    const i = this._names.length
    this._names.push(name)
    this._fns.push(fn)
    this._deps.push(deps)
    this._opts.push(reg)
    this._descriptions.push(o.description ?? '')
    this._byName.set(name, i)
    if (!this._byFn.has(fn)) this._byFn.set(fn, i)
    this._changed()
    return i
  }

  /**
   * Adds a step: `step(name, fn, options)` or `step(fn, options)` (named after `fn.name`).
   * Returns `fn`, unchanged.
   */
  step(name, fn, options) {
    if (typeof name === 'function') {
      options = fn
      fn = name
      name = fn.name || 'anonymous'
    } else if (typeof name !== 'string') {
      throw typeError('name', `must be a string or a function (got ${describe(name)})`)
    }
    const o = checkKeys('options', options, STEP_KEYS)
    this._add(name, fn, o)
    return fn
  }

  _item(argument, x, k) {
    if (typeof x === 'string') {
      const i = this._byName.get(x)
      if (i === undefined) throw typeError(`${argument}[${k}]`, `no step is named "${x}"`)
      return i
    }
    if (typeof x === 'function') {
      const i = this._byFn.get(x)
      return i === undefined ? this._add(x.name || 'anonymous', x, {}) : i
    }
    throw typeError(`${argument}[${k}]`, `must be a step name or a function (got ${describe(x)})`)
  }

  /** Chains steps: each runs after the one before; `.after(...)` places the first. */
  follow(...steps) {
    const idx = steps.flat().map((x, k) => this._item('follow', x, k))
    for (let k = 1; k < idx.length; k++) this._deps[idx[k]].push(idx[k - 1])
    this._changed()
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
    const before = this._names.length
    let i
    if (typeof step === 'function' && !this._byFn.has(step)) i = this._add(step.name || 'anonymous', step, checkKeys('options', options, STEP_KEYS))
    else i = this._item('syncAll', step, 0)
    for (let k = 0; k < before; k++) if (k !== i && !this._deps[i].includes(k)) this._deps[i].push(k)
    this._changed()
    return step
  }

  _graph() {
    if (this._native.graph !== null) return this._native.graph
    const n = this._names.length
    const extra = []
    const extraIdx = new Map()
    let len = n
    for (const d of this._deps) len += d.length
    const deps = new Uint32Array(len)
    let at = 0
    for (let i = 0; i < n; i++) {
      const ds = this._deps[i]
      deps[at++] = ds.length
      for (const d of ds) {
        if (typeof d === 'number') deps[at++] = d
        else {
          const j = this._byName.get(d)
          if (j !== undefined) deps[at++] = j
          else {
            let e = extraIdx.get(d)
            if (e === undefined) {
              e = extra.length
              extra.push(d)
              extraIdx.set(d, e)
            }
            deps[at++] = n + e
          }
        }
      }
    }
    const opts = new Uint32Array(n)
    for (let i = 0; i < n; i++) opts[i] = this._opts[i].id
    const hasDescriptions = this._descriptions.some((d) => d !== '')
    this._native.graph = call(native.graphBuild, n, this._names.join('\0'), deps, extra.join('\0'), opts,
      hasDescriptions ? this._descriptions.join('\0') : null)
    return this._native.graph
  }

  _targets(targets) {
    if (targets === undefined || targets === null) return null
    const list = Array.isArray(targets) ? targets : [targets]
    return list.map((t, k) => {
      if (typeof t === 'string') return t
      if (typeof t === 'function' && this._byFn.has(t)) return this._names[this._byFn.get(t)]
      throw typeError(`targets[${k}]`, `must be a step name or a step function (got ${describe(t)})`)
    }).join('\0')
  }

  /**
   * Runs the flow (or `targets` and their dependencies). Resolves to the report when every
   * step succeeded; otherwise rejects with a `FlowError` whose `.report` holds everything.
   */
  run(targets, options) {
    if (targets !== undefined && targets !== null && !Array.isArray(targets) && typeof targets === 'object' && options === undefined) {
      options = targets
      targets = undefined
    }
    let run
    try {
      const o = checkKeys('options', options, ['signal'])
      if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) {
        throw typeError('options.signal', `must be an AbortSignal (got ${describe(o.signal)})`)
      }
      const t = this._targets(targets)
      run = new FlowRun(this, this._graph(), t, this._run, o.signal)
    } catch (e) {
      return Promise.reject(e)
    }
    run.push(12, 0, 0, 0)
    return run.promise
  }

  /** The dry run: the levels that would run, in order; nothing is executed. */
  plan(targets) {
    return call(native.graphPlan, this._graph(), this._targets(targets))
  }

  /** The graph as a Mermaid flowchart. */
  toMermaid(targets) {
    return call(native.graphRender, this._graph(), 'mermaid', this._targets(targets))
  }

  /** The graph as Graphviz DOT. */
  toDot(targets) {
    return call(native.graphRender, this._graph(), 'dot', this._targets(targets))
  }

  /** The graph as an ASCII tree (for terminals). */
  toAscii(targets) {
    return call(native.graphRender, this._graph(), 'ascii', this._targets(targets))
  }

  /** The step names, in declaration order. */
  get steps() {
    return this._names.slice()
  }
}
addHookMethods(Flow)

module.exports = { Flow, FlowRun, SyncPoint, StepContext, KIND_NAMES, STATUS_NAMES }
