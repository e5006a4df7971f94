'use strict'
// The Node driver: performs the core's commands on the JS thread and feeds it what happened,
// many inputs and commands per crossing (see src/driver.rs for the record layout). It decides
// nothing: readiness, order, slots, retries, timeouts, skips and fail-fast are the core's.
//
// Time is read from the JS clock (`performance.now()` and `Date.now()` as they are when called,
// so fake timers work) and timers are the event loop's `setTimeout`.
//
// Batches: inputs are gathered and handed over at a microtask, so a burst of completions
// crosses once; an attempt that ends while no other attempt runs (a chain's every step) is
// handed over at once, as no other completion could join it. A batch that holds an outside
// cancel or a timer's tick waits instead for the end of the event loop's turn
// (`setImmediate`): every attempt that finished in the same turn (the same timers phase: the
// same instant) joins it, and the core orders them — finished attempts before the cancel,
// before the deadline. The driver orders nothing itself.
const native = require('../native.js')
const { call, CancelledError, HookError } = require('./errors.js')
const { RunReport } = require('./report.js')
const { held, settleAfterFinalizers } = require('./finalizers.js')
const { HOOKS } = require('./hooks.js')

const NONE = 0xffffffff
const RESOLVED = Promise.resolve()
const OUT_RECORDS = 1024
const PREALLOCATE = 1 << 15
const KIND_NAMES = ['process_begin', 'task_ready', 'task_begin', 'task_retry', 'task_success',
  'task_failure', 'task_skip', 'task_completion', 'process_completion']
const STATUS_NAMES = ['pending', 'ready', 'running', 'succeeded', 'failed', 'timed_out', 'skipped', 'cancelled']

function clock() {
  // The global `performance` as it is now (fake timers replace it), read as a global
  // variable: cheaper than a property of `globalThis` (a load V8 does not inline).
  return performance.now()
}

function messageOf(e) {
  if (e instanceof Error) return e.message || e.name || 'Error'
  try {
    return String(e)
  } catch {
    return 'failed'
  }
}

/**
 * Given as the graph, makes a run object with the shape of a real one and no native run, never
 * started: one is kept for the life of the process (`keptShapes` in flow.js, `keptShape` in
 * orchestrator.js), so that V8's hidden classes of runs survive the collections that happen
 * while no run is alive. Without one, a major collection between two
 * runs clears the classes (transitions are weak), deoptimizes every function compiled against
 * them ("weak objects"), and the next runs go unoptimized until V8 compiles them again: a
 * 2,000-step chain took 3.3 ms instead of 1.0 ms right after one (2026-12-02).
 */
const SHAPE_ONLY = Symbol('shape only')

// Abandoned runs (their driver collected before they finished) free their native state.
const abandoned = new FinalizationRegistry((id) => native.runDrop(id))

/**
 * One run of the core's scheduler. Subclasses (a Flow's run, an Orchestrator's run) perform
 * the commands: `startTask`, `cancelTask`, `resumeTask`, `settled`, `finished`, `payload`.
 */
class Driver {
  constructor(graphId, targets, ro, hooks, nTasks) {
    this.hooks = hooks
    let mask = 0
    for (let k = 0; k < 9; k++) if (hooks[k].length > 0) mask |= 1 << k
    this.startedAt = Date.now()
    if (graphId === SHAPE_ONLY) {
      this.id = 0
    } else {
      this.id = call(native.runNew, graphId, targets, ro.maxParallel, ro.failFast, ro.timeout, mask, this.startedAt)
      abandoned.register(this, this.id, this)
    }
    this.t0 = clock()
    // The gathered inputs, 4 words each: room for a completion per task of the flow (a
    // burst of them crosses in one batch), up to 65536, made once rather than grown by
    // doubling. One buffer: the core has read a batch when `runStep` returns, so inputs
    // gathered while its commands are performed are written over it.
    this.input = new Uint32Array(4 * Math.min(Math.max(nTasks + 8, 256), 1 << 16))
    // The ArrayBuffer behind `input`, kept beside it: a typed array's `.buffer` is a getter
    // implemented in C++ (a slow call per batch).
    this.inBuf = this.input.buffer
    this.nIn = 0
    this.msgs = null
    this.out = new Uint32Array(OUT_RECORDS * 4 + 1)
    // runStep is handed the ArrayBuffers behind the arrays (whole-buffer views): they cost
    // less to read natively than typed arrays.
    this.outBuf = this.out.buffer
    this.scheduled = false
    this.flushing = false
    this.done = false
    this.timer = null
    // NaN when no timer is armed: a number field that holds a double from the start, so that
    // the first fractional deadline does not change the run's hidden class (see `SHAPE_ONLY`).
    this.timerAt = NaN
    // The callbacks handed to the event loop and to promises, bound once per run. Bound
    // methods, not arrow functions made here: V8 (11.3) keeps an object alive through
    // scavenges when its constructor stored a closure made there on it, so a finished run
    // (its arrays, values, contexts) would be copied and promoted instead of dying young.
    this.onTimer = this.tick.bind(this)
    // Set when the gathered batch holds a cancel or a tick: it is flushed at setImmediate.
    this.late = false
    this.immediate = null
    this.flushBound = this.flushSoon.bind(this)
    this.flushLate = this.flushNow.bind(this)
    this.nTasks = nTasks
    // Per task: the current attempt (0 when none runs), its value, its own error, its signal.
    // Made with room for the flow's tasks (not grown store by store), up to a size V8 still
    // keeps as a plain array.
    this.cur = nTasks <= PREALLOCATE ? new Array(nTasks) : []
    // Attempts started and not yet ended (finished, cancelled or timed out).
    this.live = 0
    this.values = nTasks <= PREALLOCATE ? new Array(nTasks) : []
    this.errors = []
    this.ctrls = []
    this.hookError = null
    // Set by what may stop the run (a failure, a hook's error, a tick, a cancel): `stopped` is
    // called after the batch that holds it.
    this.mayStop = false
    // Set when the run is over (declared here: a property added then would give every run
    // object a second shape, and the per-batch code polymorphic property reads).
    this.finalReport = null
  }

  now() {
    return clock() - this.t0
  }

  /** The deadline's timer fired: time advanced (handed over at the end of the turn). */
  tick() {
    this.timer = null
    this.timerAt = NaN
    this.push(5, 0, 0, 0)
    this.late = true
    this.mayStop = true
  }

  /** The microtask after inputs were gathered. */
  flushSoon() {
    if (this.late) {
      if (this.immediate === null) this.immediate = setImmediate(this.flushLate)
      return
    }
    this.scheduled = false
    this.flush()
  }

  /** The end of the turn, for a batch that holds a cancel or a tick. */
  flushNow() {
    this.immediate = null
    this.late = false
    this.scheduled = false
    this.flush()
  }

  /** Gathers an input for the next batch (handed over at a microtask: see the top). */
  push(op, a, b, c) {
    this.record(op, a, b, c)
    if (!this.scheduled && !this.flushing) {
      this.scheduled = true
      // A settled promise's reaction, not queueMicrotask (which makes an AsyncResource a call).
      RESOLVED.then(this.flushBound)
    }
  }

  /**
   * An attempt's end. When no other attempt is running, none can join its batch: it is
   * handed over at once, without waiting for a microtask (a chain's every step).
   */
  ended(op, task, attempt, c) {
    if (--this.live === 0 && !this.scheduled && !this.flushing && !this.late) {
      this.record(op, task, attempt, c)
      this.flush()
    } else {
      this.push(op, task, attempt, c)
    }
  }

  record(op, a, b, c) {
    let n = this.nIn * 4
    if (n + 4 > this.input.length) {
      const bigger = new Uint32Array(this.input.length * 2)
      bigger.set(this.input)
      this.input = bigger
      this.inBuf = bigger.buffer
    }
    const inp = this.input
    inp[n] = op
    inp[n + 1] = a
    inp[n + 2] = b
    inp[n + 3] = c
    this.nIn++
  }

  msg(s) {
    if (this.msgs === null) this.msgs = []
    this.msgs.push(s)
    return this.msgs.length - 1
  }

  /** Hands every gathered input to the core and performs the commands it gives back. */
  flush() {
    if (this.flushing || this.done) return
    if (this.late) {
      // A batch with a cancel or a tick waits for the end of the turn (see the top).
      if (this.immediate === null) this.immediate = setImmediate(this.flushLate)
      return
    }
    this.flushing = true
    let deadline = -1
    try {
      do {
        const n = this.nIn
        this.late = false
        const msgs = this.msgs
        const inBuf = this.inBuf
        this.nIn = 0
        this.msgs = null
        const out = this.out
        // Error messages only when the batch has some (a trailing argument left out is free).
        deadline = msgs === null
          ? native.runStep(this.id, this.now(), inBuf, n, this.outBuf)
          : native.runStep(this.id, this.now(), inBuf, n, this.outBuf, msgs)
        this.perform(out)
        while (out[0] === OUT_RECORDS && !this.done) {
          deadline = native.runStep(this.id, this.now(), inBuf, 0, this.outBuf)
          this.perform(out)
        }
      } while (this.nIn > 0 && !this.done)
    } finally {
      this.flushing = false
    }
    if (this.done) return
    if (this.mayStop) {
      this.mayStop = false
      this.stopped()
    }
    this.arm(deadline)
  }

  arm(deadline) {
    if (deadline < 0) {
      if (this.timer !== null) {
        clearTimeout(this.timer)
        this.timer = null
        this.timerAt = NaN
      }
      return
    }
    if (this.timer !== null) {
      if (this.timerAt === deadline) return
      clearTimeout(this.timer)
    }
    this.timerAt = deadline
    this.timer = setTimeout(this.onTimer, Math.max(0, Math.ceil(deadline - this.now() - 1e-9)))
  }

  perform(out) {
    const count = out[0]
    for (let i = 0; i < count; i++) {
      const at = 1 + i * 4
      const op = out[at]
      const task = out[at + 1]
      const b = out[at + 2]
      switch (op & 0xff) {
        case 1:
          if (!(this.cur[task] > 0)) this.live++
          this.cur[task] = b
          // Each attempt gets its own AbortController, made on first use.
          if (b > 1) this.ctrls[task] = undefined
          this.startTask(task, b)
          break
        case 2:
          if (this.cur[task] > 0) this.live--
          this.cur[task] = 0
          this.abort(task, b, out[at + 3] === 1)
          break
        case 3:
          this.resumeTask(task)
          break
        case 4:
          this.emit(op >> 8, task, b, out[at + 3])
          break
        case 5:
          this.settled(task, b)
          break
        case 6:
          this.finish()
          return
      }
    }
  }

  // ----- attempts --------------------------------------------------------------------------

  /**
   * Calls `fn` as attempt `attempt` of `task` and reports how it ends. A thenable is awaited:
   * its `then` is read and called inside the try, as the spec's PromiseResolveThenableJob does,
   * so that one that throws fails the attempt (a callback already made wins).
   */
  callBody(task, attempt, fn, thisArg, args) {
    let r
    try {
      r = fn.apply(thisArg, args)
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

  succeeded(task, attempt, v) {
    if (this.cur[task] !== attempt || this.done) return
    this.cur[task] = 0
    this.values[task] = v
    this.onAttemptEnd(task, v, true)
    this.ended(1, task, attempt, 0)
  }

  failed(task, attempt, e) {
    if (this.cur[task] !== attempt || this.done) return
    this.cur[task] = 0
    this.errors[task] = e
    let retryable = 1
    const pred = this.retryIf(task)
    if (pred) {
      try {
        retryable = pred(e, attempt) ? 1 : 0
      } catch {
        retryable = 0
      }
    }
    this.onAttemptEnd(task, e, false)
    this.mayStop = true
    this.ended(2, task, attempt, (this.msg(messageOf(e)) << 1) | retryable)
  }

  onAttemptEnd() {}

  /** After a batch that may have stopped the run (see `mayStop`). */
  stopped() {}

  /** The AbortSignal of `task`'s current attempt (made on first use). */
  signalOf(task) {
    let c = this.ctrls[task]
    if (c === undefined) {
      c = new AbortController()
      this.ctrls[task] = c
    }
    return c.signal
  }

  abort(task, attempt, timedOut) {
    const reason = timedOut ? this.timeoutError(task) : this.cancelError(task)
    // Made here when the body never asked for it, so that a late `signal` read sees the abort.
    let c = this.ctrls[task]
    if (c === undefined) {
      c = new AbortController()
      this.ctrls[task] = c
    }
    c.abort(reason)
    this.onAbort(task, attempt, timedOut, reason)
  }

  onAbort() {}

  cancelError(task) {
    const info = native.runTaskError(this.id, task)
    return new CancelledError(info ? info[1] : 'cancelled')
  }

  /**
   * The error a task that did not succeed ends with: its own, or the one the core made. Its own
   * is whatever it threw, `undefined` included (hence `in`, not a check of the value).
   */
  errorOf(task, status) {
    if (status === 4 && task in this.errors) return this.errors[task]
    if (status === 5) return this.timeoutError(task)
    return this.cancelError(task)
  }

  // ----- hooks -----------------------------------------------------------------------------

  emit(kind, task, attempt, slot) {
    const list = this.hooks[kind]
    const payload = this.payload(kind, task, attempt, slot)
    this.runHooks(kind, list, 0, payload, slot)
  }

  runHooks(kind, list, from, payload, slot) {
    for (let i = from; i < list.length; i++) {
      let r
      let then
      try {
        r = list[i](payload)
        if (r !== null && (typeof r === 'object' || typeof r === 'function')) then = r.then
      } catch (e) {
        this.hookFailed(kind, slot, e, list[i])
        return
      }
      if (typeof then === 'function') {
        this.awaitHook(kind, list, i, payload, slot, r, then)
        return
      }
    }
    this.hooksDone(kind)
    this.push(3, slot, 0, 0)
  }

  /**
   * Awaits hook `i`'s thenable `r`, then runs the hooks after it. `then` is called inside a
   * try, as the spec's PromiseResolveThenableJob does: one that throws fails the hook (once
   * it has called back, what it does next is ignored, as a promise's resolving functions do).
   */
  awaitHook(kind, list, i, payload, slot, r, then) {
    let called = false
    try {
      then.call(r, () => {
        if (called) return
        called = true
        this.runHooks(kind, list, i + 1, payload, slot)
      }, (e) => {
        if (called) return
        called = true
        this.hookFailed(kind, slot, e, list[i])
      })
    } catch (e) {
      if (called) return
      called = true
      this.hookFailed(kind, slot, e, list[i])
    }
  }

  hooksDone() {}

  /**
   * Hook `fn` for event `kind` threw `e`: the run fails with a HookError (the first one) whose
   * `cause` is `e` itself, naming the event and the hook (its function's name, else the method
   * it was registered with). Its message is the core's stop reason.
   */
  hookFailed(kind, slot, e, fn) {
    const event = KIND_NAMES[kind]
    if (this.hookError === null) {
      this.hookError = new HookError(`hook for event "${event}" failed: ${messageOf(e)}`, { cause: e })
      this.hookError.event = event
      this.hookError.hook = (fn && fn.name) || HOOKS[kind]
    }
    this.hooksDone(kind)
    this.mayStop = true
    this.push(4, slot, this.msg(messageOf(e)), 0)
  }

  /**
   * Adds `report` to a process_completion payload: the run's report as it stands when the
   * hooks are called (made when first read; once the run is over, its final report).
   */
  withReport(p) {
    const run = this
    let report
    Object.defineProperty(p, 'report', {
      enumerable: true,
      configurable: true,
      get() {
        if (report === undefined) {
          report = run.done ? run.finalReport : new RunReport(call(native.runReport, run.id), run.startedAt, run)
        }
        return report
      },
    })
    return p
  }

  detail(slot) {
    return native.runEvent(this.id, slot)
  }

  // ----- the end -----------------------------------------------------------------------------

  /** An outside cancel: handed to the core with everything else of this turn. */
  cancel() {
    if (this.done) return
    this.push(6, 0, 0, 0)
    this.late = true
    this.mayStop = true
  }

  finish() {
    this.done = true
    if (this.timer !== null) {
      clearTimeout(this.timer)
      this.timer = null
    }
    if (this.immediate !== null) {
      clearImmediate(this.immediate)
      this.immediate = null
    }
    abandoned.unregister(this)
    const nat = call(native.runFinish, this.id)
    this.finalReport = new RunReport(nat, this.startedAt, this)
    held(1)
    settleAfterFinalizers(this.finished.bind(this), this.finalReport)
  }
}

module.exports = { Driver, SHAPE_ONLY, NONE, KIND_NAMES, STATUS_NAMES, messageOf }
