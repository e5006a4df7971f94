'use strict'
// The conformance suite (tests/scenarios/*.json) through the Node door: on a virtual clock
// (@sinonjs/fake-timers: setTimeout, Date and performance.now faked) with every expected time
// checked exactly, and on the real clock with times unchecked.
const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const FakeTimers = require('@sinonjs/fake-timers')
const { Flow, Orchestrator, RunReport } = require('..')

const DIR = path.join(__dirname, '..', '..', 'tests', 'scenarios')
const scenarios = fs.readdirSync(DIR).filter((f) => f.endsWith('.json')).sort()
  .map((f) => prepare(JSON.parse(fs.readFileSync(path.join(DIR, f), 'utf8'))))

/** Expands `chain: N` (tests/README.md): NAME1 … NAMEN, NAME1 with the task's `after`, each next after the one before. */
function prepare(sc) {
  if (!sc.tasks) return sc
  const tasks = []
  for (const t of sc.tasks) {
    if (t.chain === undefined) {
      tasks.push(t)
      continue
    }
    for (let i = 1; i <= t.chain; i++) {
      const link = { ...t, name: `${t.name}${i}` }
      delete link.chain
      if (i > 1) link.after = [`${t.name}${i - 1}`]
      tasks.push(link)
    }
  }
  return { ...sc, tasks }
}

// Outcomes that rest on two things at one instant: only a virtual clock orders them
// (the same list as the Rust real-clock runner's SAME_INSTANT).
const SAME_INSTANT = new Set(['rules-cancel-after-finish', 'rules-cancel-same-instant',
  'rules-timeout-is-retried', 'rules-ready-order-same-instant'])

// Why a Flow step's `calls` are `ctx.spawn`s: the Node door's Flow has no actions, so no cached
// calls (the core's joins) and no fail-fast `parallel` groups inside a step; an Orchestrator's
// action called in a step is a plain, untracked call. A step's fail-fast calls are therefore
// `Promise.all` of its spawns: the first failure fails the step at once, and the core cancels
// the children still in flight as their parent ends. A cached call in a step cannot be written.
const FLOW_CALLS = 'a cached call inside a Flow step: the Node door has no cached ctx.spawn (actions are tracked only in their orchestrator\'s run)'

/** The keys an attempt of `def` holds while it runs. */
function keysOf(def) {
  return [...(def.sequences || []), ...(def.uses || [])]
}

const TRACE = ['process_begin', 'task_ready', 'task_begin', 'task_retry', 'task_success',
  'task_failure', 'task_skip', 'task_completion', 'process_completion']
const HOOK_METHODS = ['onProcessBegin', 'onTaskReady', 'onTaskBegin', 'onTaskRetry', 'onTaskSuccess',
  'onTaskFailure', 'onTaskSkip', 'onTaskCompletion', 'onProcessCompletion']

/**
 * A task's options; `as`: 'step' (a Flow's step: `when`, `trigger`, `cost` too), 'action' (an
 * Orchestrator's action: `uses` as a function of the call's arguments) or 'spawn'.
 */
function taskOptions(def, as = 'spawn') {
  const o = {}
  if (def.retries !== undefined) o.retries = def.retries
  if (def.timeout_ms !== undefined) o.timeout = def.timeout_ms
  if (def.sequences !== undefined) o.sequences = def.sequences
  if (def.uses !== undefined) {
    const keys = def.uses
    o.uses = as === 'action' ? () => keys : keys
  }
  if (as === 'step') {
    if (def.trigger !== undefined) o.trigger = def.trigger
    if (def.cost_ms !== undefined) o.cost = def.cost_ms
    if (def.when !== undefined) {
      const value = def.when
      o.when = value === 'raise' ? () => { throw new Error('condition raised') } : () => value
    }
  }
  if (def.backoff) {
    o.backoff = def.backoff.fixed_ms !== undefined ? def.backoff.fixed_ms
      : { initial: def.backoff.initial_ms, factor: def.backoff.factor, max: def.backoff.max_ms }
  }
  if ((def.attempts || []).some((a) => a.retryable === false)) {
    o.retryIf = (e) => !(e && e.notRetryable)
  }
  return o
}

/** What a thrown value says: an Error's message, anything else as a string. */
function messageOf(e) {
  return e instanceof Error ? e.message : String(e)
}

function sleep(ms) {
  return ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve()
}

/**
 * The report `run.resume` stands for (tests/README.md): a run in which those tasks succeeded
 * with those results, read back from its JSON text as a user reads a saved report
 * (`RunReport.fromJSON`). Tasks in the flow's declaration order, then names it lacks.
 */
function resumeReport(sc, resume) {
  const names = Object.keys(resume)
  const declared = (sc.tasks || []).map((t) => t.name).filter((n) => names.includes(n))
  const order = [...declared, ...names.filter((n) => !declared.includes(n))]
  const tasks = order.map((name, id) => ({
    id, name, status: 'succeeded', attempts: 1, started_ms: 0, finished_ms: 0, duration_ms: 0,
    error: null, skip_reason: null, resumed: false, result: resume[name], deps: [], parent: null, attempt_log: [],
  }))
  return RunReport.fromJSON(JSON.stringify({ ok: true, total_ms: 0, started_at: null, stop: null, tasks }))
}

/** Runs one scenario; returns what was observed. */
async function observe(sc, at = (ms, fn) => setTimeout(fn, ms)) {
  const obs = { trace: [], startedOrder: [], maxRunning: 0, maxHolding: {}, mainError: null, completionErrors: {} }
  let running = 0
  const holding = {}
  const run = sc.run || {}
  const failures = run.hook_failures || {}
  const hookMs = run.hook_ms || {}
  const ro = {}
  if (run.max_parallel !== undefined) ro.maxParallel = run.max_parallel
  if (run.fail_fast !== undefined) ro.failFast = run.fail_fast
  if (run.timeout_ms !== undefined) ro.timeout = run.timeout_ms
  if (run.limits !== undefined) ro.limits = run.limits
  if (run.priority !== undefined) ro.priority = run.priority
  const isMain = Array.isArray(sc.main)
  if (isMain && run.resume !== undefined) throw new Error(`${sc.name}: run.resume with main: an Orchestrator's run is not resumed`)
  const host = isMain ? new Orchestrator(ro) : new Flow(ro)
  // Every event has a hook: it records the trace line (and task_completion's error), raises
  // when `hook_failures` lists the line, and is async, taking N ms, when `hook_ms` lists it.
  HOOK_METHODS.forEach((m, k) => host[m]((e) => {
    let line = TRACE[k]
    if (e.name !== undefined) line += ` ${e.name}`
    if (k === 2 || k === 3) line += ` ${e.attempt}`
    if (k === 7) {
      line += ` ${e.status}`
      obs.completionErrors[e.name] = e.error === undefined || e.error === null ? null : messageOf(e.error)
    }
    obs.trace.push(line)
    if (failures[line] !== undefined) throw new Error(failures[line])
    if (hookMs[line] !== undefined) return sleep(hookMs[line])
  }))

  // Orchestrator programs: one action per call definition; a cached one per name (an action's
  // memo is its own), always called with the same argument (one task per run), every other
  // call with a fresh one. Actions get no context: a body counts its attempts per call.
  const actions = new Map()
  const cachedActions = new Map()
  let calls = 0
  const attemptsOf = new Map()
  function action(def) {
    if (def.cached) {
      if (!cachedActions.has(def.name)) {
        cachedActions.set(def.name, host.action(body(def), { name: def.name, cache: true, ...taskOptions(def, 'action') }))
      }
      return cachedActions.get(def.name)
    }
    if (!actions.has(def)) actions.set(def, host.action(body(def), { name: def.name, ...taskOptions(def, 'action') }))
    return actions.get(def)
  }
  const argOf = (def) => (def.cached ? 'cached' : ++calls)
  // Calls `defs` at once, as `orchestrator.parallel` does: resolves to the results (each
  // failure's error in its place), or with `failFast` rejects with the first failure.
  function group(defs, failFast) {
    return host.parallel(defs.map(action), { failFast })(...defs.map(argOf))
  }

  // A task's body following its script: a step's (`arg` is its context) or an action's (`arg`
  // is the call's argument).
  function body(def) {
    return async (arg) => {
      let attempt, signal, children
      if (isMain) {
        const key = `${def.name}\0${arg}`
        attempt = (attemptsOf.get(key) || 0) + 1
        attemptsOf.set(key, attempt)
        signal = host.signal()
        // Children are actions; `fail_fast` makes them one fail-fast `parallel`.
        children = (cs, failFast) => (failFast ? group(cs, true) : Promise.allSettled(cs.map((c) => action(c)(argOf(c)))))
      } else {
        attempt = arg.attempt
        signal = arg.signal
        // A step's children are `ctx.spawn`s (a Flow has no actions of its own: see FLOW_CALLS).
        children = (cs, failFast) => {
          const spawned = cs.map((c) => {
            if (c.cached) throw new Error(`${sc.name}: ${FLOW_CALLS}`)
            return arg.spawn(c.name, body(c), taskOptions(c))
          })
          return failFast ? Promise.all(spawned) : Promise.allSettled(spawned)
        }
      }
      const script = def.attempts && def.attempts.length ? def.attempts[Math.min(attempt, def.attempts.length) - 1] : {}
      // Rule 10: `value_of` reads a result as the attempt starts.
      let read
      if (script.value_of !== undefined) {
        const src = script.value_of
        read = src in arg.results ? { value: arg.results[src] } : { error: new Error(`no result for ${JSON.stringify(src)}`) }
      }
      if (attempt === 1) obs.startedOrder.push(def.name)
      // The slot and the keys are held from the start, and again after the children.
      const keys = keysOf(def)
      let held = false
      const take = () => {
        held = true
        running++
        obs.maxRunning = Math.max(obs.maxRunning, running)
        for (const k of keys) {
          holding[k] = (holding[k] || 0) + 1
          obs.maxHolding[k] = Math.max(obs.maxHolding[k] || 0, holding[k])
        }
      }
      const release = () => {
        if (held) {
          held = false
          running--
          for (const k of keys) holding[k]--
        }
      }
      take()
      signal.addEventListener('abort', release, { once: true })
      if (script.calls && script.calls.length > 0) {
        // The core takes the slot back while the children run.
        release()
        // A fail-fast group's rejection fails the attempt at once with the child's error.
        await children(script.calls, script.fail_fast === true)
        if (signal.aborted) return new Promise(() => {})
        take()
      }
      if (script.result === 'hang') {
        return new Promise(() => {})
      }
      await sleep(script.ms || 0)
      release()
      if (read !== undefined) {
        if (read.error) throw read.error
        return read.value
      }
      if (script.result === 'fail') {
        const e = new Error(script.error || 'failed')
        if (script.retryable === false) e.notRetryable = true
        throw e
      }
      return script.value === undefined ? null : script.value
    }
  }

  const ac = new AbortController()
  if (run.cancel_at_ms !== undefined) at(run.cancel_at_ms, () => ac.abort())
  let report
  if (isMain) {
    // Main calls every entry at once (an entry with `after` once those entries succeeded, as
    // `await a(); b()`), catching each call's error; a fail-fast group's error ends main.
    // Each entry gives whether it succeeded; then main sleeps `main_ms` outside any action.
    const entries = sc.main
    const main = async () => {
      const byName = new Map()
      const all = []
      for (const e of entries) {
        const call = () => (e.parallel
          ? group(e.parallel, e.fail_fast === true).then((rs) => rs.every((r) => !(r instanceof Error)))
          : action(e)(argOf(e)).then(() => true, () => false))
        const deps = (e.after || []).map((n) => byName.get(n))
        const p = deps.length === 0 ? call() : Promise.all(deps).then((oks) => (oks.every(Boolean) ? call() : false))
        byName.set(e.name, p)
        all.push(p)
      }
      await Promise.all(all)
      await sleep(sc.main_ms || 0)
    }
    try {
      await host.run(main, { signal: ac.signal })
    } catch (e) {
      obs.mainError = messageOf(e)
    }
    report = host.report
  } else {
    try {
      for (const def of sc.tasks || []) host.step(def.name, body(def), { after: def.after || [], ...taskOptions(def, 'step') })
    } catch (e) {
      obs.error = e.message
      return obs
    }
    if (sc.expect.plan) obs.plan = host.plan(run.targets)
    const options = { signal: ac.signal }
    if (run.resume !== undefined) options.resume = resumeReport(sc, run.resume)
    try {
      report = await host.run(run.targets, options)
    } catch (e) {
      if (e.report) report = e.report
      else {
        obs.error = e.message
        return obs
      }
    }
  }
  const j = report.toJSON()
  obs.ok = report.ok
  obs.total = Math.floor(j.total_ms)
  obs.stop = j.stop
  obs.status = {}
  obs.counts = {}
  obs.attempts = {}
  obs.skip = {}
  obs.errors = {}
  obs.values = {}
  obs.starts = {}
  obs.ends = {}
  obs.resumed = []
  const results = new Map(report.list.map((t) => [t.id, t.result]))
  for (const t of j.tasks) {
    obs.status[t.name] = t.status
    obs.counts[t.status] = (obs.counts[t.status] || 0) + 1
    obs.attempts[t.name] = t.attempts
    if (t.skip_reason !== null) obs.skip[t.name] = t.skip_reason
    if (t.error) obs.errors[t.name] = t.error.message
    if (t.status === 'succeeded') obs.values[t.name] = results.get(t.id)
    if (t.resumed) obs.resumed.push(t.name)
    if (t.started_ms !== null) obs.starts[t.name] = Math.floor(t.started_ms + 1e-6)
    if (t.finished_ms !== null) obs.ends[t.name] = Math.floor(t.finished_ms + 1e-6)
  }
  return obs
}

/** The mismatches between a scenario's expectations and what was observed. */
function check(sc, obs, exact) {
  const e = sc.expect
  const bad = []
  const eq = (what, want, got) => {
    const w = JSON.stringify(want)
    const g = JSON.stringify(got)
    if (w !== g) bad.push(`${what}: expected ${w}, got ${g}`)
  }
  if (e.error !== undefined) {
    eq('error', e.error, obs.error)
    return bad
  }
  if (obs.error !== undefined) return [`unexpected error: ${obs.error}`]
  if (e.plan) eq('plan', e.plan, obs.plan)
  if (e.ok !== undefined) eq('ok', e.ok, obs.ok)
  for (const [k, v] of Object.entries(e.status || {})) eq(`status of ${k}`, v, obs.status[k] ?? '')
  for (const [k, v] of Object.entries(e.counts || {})) eq(`count of ${k}`, v, obs.counts[k] ?? 0)
  for (const [k, v] of Object.entries(e.attempts || {})) eq(`attempts of ${k}`, v, obs.attempts[k] ?? 0)
  for (const [k, v] of Object.entries(e.skip_reason || {})) eq(`skip reason of ${k}`, v, obs.skip[k] ?? '')
  for (const [k, v] of Object.entries(e.errors || {})) eq(`error of ${k}`, v, obs.errors[k] ?? '')
  for (const [k, v] of Object.entries(e.values || {})) eq(`value of ${k}`, v, obs.values[k] ?? null)
  for (const [a, b] of e.before || []) {
    const ea = obs.ends[a]
    const sb = obs.starts[b]
    if (!(ea !== undefined && sb !== undefined && ea <= sb)) bad.push(`${a} ends before ${b} starts: got ${ea}, ${sb}`)
  }
  if (e.started_order) eq('started order', e.started_order, obs.startedOrder)
  if (e.max_running !== undefined) eq('max running', e.max_running, obs.maxRunning)
  for (const [k, v] of Object.entries(e.max_holding || {})) eq(`max holding ${k}`, v, obs.maxHolding[k] ?? 0)
  if (e.trace) eq('trace', e.trace, obs.trace)
  // In any order.
  if (e.resumed) eq('resumed', [...e.resumed].sort(), [...obs.resumed].sort())
  if (e.stop !== undefined) eq('stop', e.stop, obs.stop ?? '')
  // Absent in a scenario with `main`: main returned and run() resolved.
  if (sc.main !== undefined || e.main_error !== undefined) eq('main error', e.main_error ?? null, obs.mainError ?? null)
  for (const [k, v] of Object.entries(e.completion_errors || {})) {
    eq(`completion error of ${k}`, v, k in obs.completionErrors ? obs.completionErrors[k] : 'no task_completion')
  }
  if (exact) {
    for (const [k, v] of Object.entries(e.starts_ms || {})) eq(`start of ${k}`, v, obs.starts[k] ?? '-')
    for (const [k, v] of Object.entries(e.ends_ms || {})) eq(`end of ${k}`, v, obs.ends[k] ?? '-')
    if (e.total_ms !== undefined) eq('total', e.total_ms, obs.total)
  }
  return bad
}

/** Lets the (real) event loop run until the JS side has nothing left to do at this instant. */
async function settle() {
  for (let i = 0; i < 4; i++) await new Promise((r) => setImmediate(r))
}

async function onVirtualClock(sc) {
  const clock = FakeTimers.install({
    now: 1_700_000_000_000,
    toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'],
  })
  try {
    let done = false
    // The outside cancel (run_cancel_at_ms) is an AbortController's abort from a timer, through
    // `flow.run({ signal })`, like any user's. The clock moves as Node's timers phase does:
    // every timer due at the next instant fires in one turn, then the event loop runs until
    // nothing is left at that instant. Nothing here orders a cancel against completions.
    const p = observe(sc).finally(() => { done = true })
    await settle()
    for (let steps = 0; !done && steps < 10_000; steps++) {
      if (clock.countTimers() === 0) break
      clock.next() // the first timer due: the clock moves to its instant
      clock.tick(0) // every other timer due at that instant, in the same turn
      await settle()
    }
    return await Promise.race([p, Promise.resolve().then(() => { if (!done) throw new Error('the run did not finish') })])
  } finally {
    clock.uninstall()
  }
}

module.exports = { observe, check, scenarios }

if (require.main === module || process.env.NODE_TEST_CONTEXT) {
  test('the conformance suite has scenarios', () => {
    assert.ok(scenarios.length >= 40, `only ${scenarios.length} scenarios found in ${DIR}`)
  })

  for (const sc of scenarios) {
    test(`virtual clock: ${sc.name}`, { timeout: 10_000 }, async () => {
      const obs = await onVirtualClock(sc)
      assert.deepEqual(check(sc, obs, true), [], sc.description)
    })
  }

  for (const sc of scenarios) {
    const skip = SAME_INSTANT.has(sc.name) ? 'two events at one instant: only a virtual clock orders them' : false
    test(`real clock: ${sc.name}`, { timeout: 20_000, skip }, async () => {
      let bad = []
      // A starved machine can reorder real timers: retry a mismatch before reporting it.
      for (let tries = 0; tries < 3; tries++) {
        bad = check(sc, await observe(sc), false)
        if (bad.length === 0) break
      }
      assert.deepEqual(bad, [], sc.description)
    })
  }

  test('the checker is not vacuous: an altered expectation is reported', { timeout: 10_000 }, async () => {
    const sc = scenarios.find((s) => s.name === 'retry-then-succeed')
    const obs = await onVirtualClock(sc)
    assert.deepEqual(check(sc, obs, true), [])
    const altered = JSON.parse(JSON.stringify(sc))
    altered.expect.attempts.flaky = 2
    altered.expect.ends_ms.flaky += 1
    assert.equal(check(altered, obs, true).length, 2)
  })

  test('the checker is not vacuous for main_error and completion_errors', { timeout: 10_000 }, async () => {
    const sc = scenarios.find((s) => s.name === 'orch-completion-error-after-retry')
    const obs = await onVirtualClock(sc)
    assert.deepEqual(check(sc, obs, true), [])
    const altered = JSON.parse(JSON.stringify(sc))
    altered.expect.completion_errors.flaky = 'boom'
    altered.expect.completion_errors.doomed = 'e1'
    altered.expect.completion_errors.nobody = null
    altered.expect.main_error = 'doomed'
    assert.equal(check(altered, obs, true).length, 4)
    const stopped = scenarios.find((s) => s.name === 'orch-run-timeout-stops-main')
    const alteredStop = JSON.parse(JSON.stringify(stopped))
    delete alteredStop.expect.main_error
    assert.deepEqual(check(alteredStop, await onVirtualClock(stopped), true),
      ['main error: expected null, got "run timed out after 100ms"'])
  })

  test('the checker is not vacuous for max_holding: an altered peak is reported, and limits reach the run', { timeout: 10_000 }, async () => {
    const sc = scenarios.find((s) => s.name === 'limits-never-more-than-capacity')
    const obs = await onVirtualClock(sc)
    assert.deepEqual(check(sc, obs, true), [])
    const altered = JSON.parse(JSON.stringify(sc))
    altered.expect.max_holding.db = 3
    assert.deepEqual(check(altered, obs, true), ['max holding db: expected 3, got 2'])
    // Without `limits` the key has capacity 1.
    const unlimited = JSON.parse(JSON.stringify(sc))
    delete unlimited.run.limits
    assert.equal((await onVirtualClock(unlimited)).maxHolding.db, 1)
  })

  test('the checker is not vacuous for resumed: run.resume reaches the run, an altered expectation is reported', { timeout: 10_000 }, async () => {
    const sc = {
      name: 'resume-inline',
      tasks: [
        { name: 'fetch', attempts: [{ ms: 50, value: 'fresh' }] },
        { name: 'build', after: ['fetch'], attempts: [{ ms: 10, value_of: 'fetch' }] },
      ],
      run: { resume: { fetch: 'v1' } },
      expect: { ok: true, resumed: ['fetch'], attempts: { fetch: 0, build: 1 }, values: { build: 'v1' }, started_order: ['build'] },
    }
    const obs = await onVirtualClock(sc)
    assert.deepEqual(check(sc, obs, true), [])
    const altered = { ...sc, expect: { ...sc.expect, resumed: ['build', 'fetch'] } }
    assert.deepEqual(check(altered, obs, true), ['resumed: expected ["build","fetch"], got ["fetch"]'])
    const unknown = { ...sc, run: { resume: { fetsh: 1 } }, expect: { error: 'Task "fetsh" not found (did you mean "fetch"?)' } }
    assert.deepEqual(check(unknown, await onVirtualClock(unknown), true), [])
  })
}
