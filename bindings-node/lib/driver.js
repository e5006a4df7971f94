'use strict'
// The Node driver: performs the core's commands on the JS thread and feeds it what happened,
// many inputs and commands per crossing (see src/driver.rs for the record layout). It decides
// nothing: readiness, order, slots, retries, timeouts, skips, fail-fast, who a finished call
// wakes (calls, cached calls, groups), when main starts and stops, and the run's error are
// the core's. It calls bodies and hooks, fires AbortSignals, arms one timer, and turns the
// core's outcomes into JS objects (`errorFor`, the one conversion).
//
// Time is read from the JS clock (`performance.now()` and `Date.now()` as they are when called,
// so fake timers work) and timers are the event loop's `setTimeout`.
//
// Batches: inputs are gathered and handed over at a microtask, so a burst of completions
// crosses once; an attempt that ends while no other attempt runs (a chain's every step) is
// handed over at once, as no other completion could join it. A batch that holds an outside
// cancel or a timer's tick is handed over at the end of the event loop's turn
// (`setImmediate`), so that it holds everything that happened by then (the same timers
// phase: the same instant); the core orders the inputs of a batch.
//
// The event loop gets its turn: a run that has kept the JS thread for `SLICE_MS` (a runaway
// recursion, a burst of synchronous bodies) hands its next batch over at `setImmediate`, so
// that timers (the run timeout, a watchdog) and signals still fire.
const native = require('../native.js')
const { call, CancelledError, HookError, TaskFailedError, TaskTimeoutError } = require('./errors.js')
const { RunReport } = require('./report.js')
const { held, settleAfterFinalizers } = require('./finalizers.js')
const { HOOKS } = require('./hooks.js')

const NONE = 0xffffffff
const RESOLVED = Promise.resolve()
/** The hooks of an event that has none (shared by every run). */
const NO_HOOKS = Object.freeze([])
const OUT_RECORDS = 1024
/**
 * The longest delay `setTimeout` takes (2^31 - 1 ms, about 24.8 days): beyond it Node warns
 * (TimeoutOverflowWarning) and fires after 1 ms. A later deadline is armed this far ahead; the
 * timer firing early is a tick like any other (the core finds nothing due and gives the same
 * deadline back), and it is armed again.
 */
const MAX_DELAY = 2147483647
const PREALLOCATE = 1 << 15
/** How long a run keeps the JS thread before it hands control back to the event loop (ms). */
const SLICE_MS = 10
/** The events' names, for a HookError's `event` (codes are the core's `host::code::kind`). */
const KIND_NAMES = ['process_begin', 'task_ready', 'task_begin', 'task_retry', 'task_success',
  'task_failure', 'task_skip', 'task_completion', 'process_completion']
/** Outcome codes (src/driver.rs, `outcome`): what a caller of a task gets. */
const OK = 0
const FAILED = 1
const TIMED_OUT = 2
const CANCELLED = 3
const SKIPPED = 4
const DEPTH = 5

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
 * the commands: `startTask`, `settled`, `joined`, `startMain`, `cancelMain`, `finished`, `payload`.
 */
class Driver {
  constructor(graphId, targets, ro, hooks, nTasks) {
    // The hooks as they are when the run starts, the same list for the core's mask and for
    // the calls: a hook added during a run applies from the next run, whether or not its
    // event already had one.
    let mask = 0
    const taken = new Array(9)
    for (let k = 0; k < 9; k++) {
      const n = hooks[k].length
      if (n > 0) mask |= 1 << k
      taken[k] = n === 0 ? NO_HOOKS : hooks[k].slice()
    }
    this.hooks = taken
    this.startedAt = Date.now()
    if (graphId === SHAPE_ONLY) {
      this.id = 0
    } else {
      this.id = call(native.runNew, graphId, targets, ro, mask, this.startedAt)
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
    // When this run began its current slice of the JS thread (NaN: the event loop has had a
    // turn since), and the callback that marks that turn (see `SLICE_MS`).
    this.sliceAt = NaN
    this.onTurn = this.turn.bind(this)
    this.turnMark = null
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
    // Per task: the reason its latest aborted attempt's signal fired with (a timeout or cancel
    // error), the very object the report, hooks and callers then get for that outcome.
    this.reasons = []
    // What each hook that threw threw, with its event and name, in order: the core picks the
    // run's error among them (`stopError`).
    this.hookErrors = []
    // The run's error once the core stopped it early (see `stopError`), read once.
    this.stopErr = null
    // Set when the run is over (declared here: a property added then would give every run
    // object a second shape, and the per-batch code polymorphic property reads).
    this.finalReport = null
  }

  now() {
    return clock() - this.t0
  }

  /** Frees the native run of a run that will not start (refused while it was made). */
  drop() {
    abandoned.unregister(this)
    native.runDrop(this.id)
    this.done = true
  }

  /** The deadline's timer fired: time advanced (handed over at the end of the turn). */
  tick() {
    this.timer = null
    this.timerAt = NaN
    this.push(5, 0, 0, 0)
    this.late = true
  }

  /** The event loop had a turn: the run's next batch begins a new slice. */
  turn() {
    this.turnMark = null
    this.sliceAt = NaN
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
    let now = this.now()
    if (this.sliceAt !== this.sliceAt) {
      // A new slice: the event loop's next turn ends it.
      this.sliceAt = now
      this.turnMark = setImmediate(this.onTurn)
    } else if (now - this.sliceAt > SLICE_MS) {
      // The run has kept the thread long enough: the batch waits for the next turn.
      if (this.immediate === null) this.immediate = setImmediate(this.flushLate)
      return
    }
    this.flushing = true
    let deadline = -1
    try {
      for (;;) {
        const n = this.nIn
        const msgs = this.msgs
        const inBuf = this.inBuf
        this.nIn = 0
        this.msgs = null
        const out = this.out
        // Error messages only when the batch has some (a trailing argument left out is free).
        deadline = msgs === null
          ? native.runStep(this.id, now, inBuf, n, this.outBuf)
          : native.runStep(this.id, now, inBuf, n, this.outBuf, msgs)
        this.perform(out)
        while (out[0] === OUT_RECORDS && !this.done) {
          deadline = native.runStep(this.id, this.now(), inBuf, 0, this.outBuf)
          this.perform(out)
        }
        if (this.nIn === 0 || this.done) break
        now = this.now()
        if (now - this.sliceAt > SLICE_MS) {
          // Inputs made while performing (new calls) wait for the next turn.
          if (this.immediate === null) this.immediate = setImmediate(this.flushLate)
          break
        }
      }
    } finally {
      this.flushing = false
    }
    if (this.done) return
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
    this.timer = setTimeout(this.onTimer, Math.min(MAX_DELAY, Math.max(0, Math.ceil(deadline - this.now() - 1e-9))))
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
        case 4:
          this.emit(op >> 8, task, b, out[at + 3])
          break
        case 5:
          this.settled(task, b)
          break
        case 6:
          this.finish()
          return
        case 7:
          this.joined(task, b, out[at + 3])
          break
        case 8:
          this.startMain()
          break
        case 9:
          this.cancelMain()
          break
        case 10:
          this.evaluate(task)
          break
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
    this.ended(2, task, attempt, (this.msg(messageOf(e)) << 1) | retryable)
  }

  onAttemptEnd() {}

  /** The core hands join `join`'s waiter the outcome of `task` (an Orchestrator's cached call). */
  joined() {}

  /** The core asks for `task`'s condition: report it with input 18 (a Flow's steps). */
  evaluate(task) {
    this.push(18, task, 1, 0)
  }

  /** The core says: call main now (an Orchestrator's run). */
  startMain() {}

  /** The core says: the run stopped; stop main and do not wait for it. */
  cancelMain() {}

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
    this.reasons[task] = reason
    c.abort(reason)
    this.onAbort(task, attempt, timedOut, reason)
  }

  onAbort() {}

  cancelError(task) {
    const message = native.runCallError(this.id, task)
    return new CancelledError(message ?? 'cancelled')
  }

  /**
   * The one conversion of an outcome of the core (src/driver.rs, `outcome`) into what JS gets:
   * failed, what `task` threw, as thrown (`undefined` included: hence `in`); timed out, the
   * timeout error (`task`'s: the one its AbortSignal fired with, else the run's with the
   * core's text); cancelled, the CancelledError its signal fired with; skipped (and cancelled
   * before it started), a CancelledError with the core's text (which names a skip's reason); too deep, a RangeError
   * with code `ERR_LEGATO_DEPTH`. `message` is read from the core when not given.
   */
  errorFor(code, task, message) {
    switch (code) {
      case FAILED:
        if (task !== NONE && task in this.errors) return this.errors[task]
        return new TaskFailedError(message ?? native.runCallError(this.id, task) ?? 'failed')
      case TIMED_OUT: {
        if (task === NONE) return new TaskTimeoutError(message)
        // The error its signal fired with (same identity), else one with the core's text.
        const r = this.reasons[task]
        return r instanceof TaskTimeoutError ? r : this.timeoutError(task, message)
      }
      case CANCELLED: {
        const r = task !== NONE ? this.reasons[task] : undefined
        if (r instanceof CancelledError) return r
        return new CancelledError(message ?? native.runCallError(this.id, task) ?? 'cancelled')
      }
      case SKIPPED:
        return new CancelledError(message ?? native.runCallError(this.id, task) ?? 'cancelled')
      case DEPTH: {
        const e = new RangeError(message ?? native.runCallError(this.id, task) ?? 'call depth exceeded')
        e.code = 'ERR_LEGATO_DEPTH'
        return e
      }
      default:
        return new TaskFailedError(message ?? 'failed')
    }
  }

  /**
   * What the caller of `task` (its waiter, or the run that it stopped) gets for outcome
   * `code`: `errorFor`'s error (an Orchestrator wraps exhausted npm-shape retries).
   */
  callerError(code, task, message) {
    return this.errorFor(code, task, message)
  }

  /**
   * The run's error when the core stopped it early (its timeout, an outside cancel,
   * fail-fast, a hook that threw), as the core decided it, in JS: the failed task's own
   * error, the HookError (whose cause is what the hook threw), or a timeout or cancel error
   * with the core's text. Null when it did not stop early, or main threw. Read once.
   */
  stopError() {
    if (this.stopErr !== null || this.done) return this.stopErr
    const se = native.runStopError(this.id)
    if (se === null) return null
    const [code, ref, message] = se
    if (ref !== NONE && (ref & 1) === 1) {
      const h = this.hookErrors[ref >>> 1]
      const e = new HookError(message, { cause: h.cause })
      e.event = h.event
      e.hook = h.hook
      this.stopErr = e
    } else {
      this.stopErr = this.callerError(code, ref === NONE ? NONE : ref >>> 1, message)
    }
    return this.stopErr
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
   * Hook `fn` for event `kind` threw `e`: the core stops the run, and its error (the one the
   * core picks: see `stopError`) is a HookError with the core's text whose `cause` is `e`
   * itself, naming the event and the hook (its function's name, else the method it was
   * registered with).
   */
  hookFailed(kind, slot, e, fn) {
    const n = this.hookErrors.push({ cause: e, event: KIND_NAMES[kind], hook: (fn && fn.name) || HOOKS[kind] }) - 1
    this.hooksDone(kind)
    this.push(4, slot, this.msg(messageOf(e)), n)
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
  }

  finish() {
    if (this.timer !== null) {
      clearTimeout(this.timer)
      this.timer = null
    }
    if (this.immediate !== null) {
      clearImmediate(this.immediate)
      this.immediate = null
    }
    if (this.turnMark !== null) {
      clearImmediate(this.turnMark)
      this.turnMark = null
    }
    abandoned.unregister(this)
    // The run's error, read while the native run lives.
    this.stopError()
    this.done = true
    const nat = call(native.runFinish, this.id)
    this.finalReport = new RunReport(nat, this.startedAt, this)
    held(1)
    settleAfterFinalizers(this.finished.bind(this), this.finalReport)
  }
}

module.exports = { Driver, SHAPE_ONLY, NONE, KIND_NAMES, OK, FAILED, messageOf }
