'use strict'
// The conformance suite (tests/scenarios/*.json) through the Node door: on a virtual clock
// (@sinonjs/fake-timers: setTimeout, Date and performance.now faked) with every expected time
// checked exactly, and on the real clock with times unchecked.
const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const FakeTimers = require('@sinonjs/fake-timers')
const { Flow, Orchestrator } = require('..')

const DIR = path.join(__dirname, '..', '..', 'tests', 'scenarios')
const scenarios = fs.readdirSync(DIR).filter((f) => f.endsWith('.json')).sort()
  .map((f) => JSON.parse(fs.readFileSync(path.join(DIR, f), 'utf8')))

// Outcomes that rest on two things at one instant: only a virtual clock orders them
// (the same list as the Rust real-clock runner's SAME_INSTANT).
const SAME_INSTANT = new Set(['rules-cancel-after-finish', 'rules-cancel-same-instant',
  'rules-timeout-is-retried', 'rules-ready-order-same-instant'])

const TRACE = ['process_begin', 'task_ready', 'task_begin', 'task_retry', 'task_success',
  'task_failure', 'task_skip', 'task_completion', 'process_completion']
const HOOK_METHODS = ['onProcessBegin', 'onTaskReady', 'onTaskBegin', 'onTaskRetry', 'onTaskSuccess',
  'onTaskFailure', 'onTaskSkip', 'onTaskCompletion', 'onProcessCompletion']

function taskOptions(def) {
  const o = {}
  if (def.retries !== undefined) o.retries = def.retries
  if (def.timeout_ms !== undefined) o.timeout = def.timeout_ms
  if (def.sequences !== undefined) o.sequences = def.sequences
  if (def.backoff) {
    o.backoff = def.backoff.fixed_ms !== undefined ? def.backoff.fixed_ms
      : { initial: def.backoff.initial_ms, factor: def.backoff.factor, max: def.backoff.max_ms }
  }
  if ((def.attempts || []).some((a) => a.retryable === false)) {
    o.retryIf = (e) => !(e && e.notRetryable)
  }
  return o
}

function sleep(ms) {
  return ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve()
}

/** Runs one scenario; returns what was observed. */
async function observe(sc, at = (ms, fn) => setTimeout(fn, ms)) {
  const obs = { trace: [], startedOrder: [], maxRunning: 0 }
  let running = 0
  const run = sc.run || {}
  const failures = run.hook_failures || {}
  const ro = {}
  if (run.max_parallel !== undefined) ro.maxParallel = run.max_parallel
  if (run.fail_fast !== undefined) ro.failFast = run.fail_fast
  if (run.timeout_ms !== undefined) ro.timeout = run.timeout_ms
  const isMain = Array.isArray(sc.main)
  const host = isMain ? new Orchestrator(ro) : new Flow(ro)
  HOOK_METHODS.forEach((m, k) => host[m]((e) => {
    let line = TRACE[k]
    if (e.name !== undefined) line += ` ${e.name}`
    if (k === 2 || k === 3) line += ` ${e.attempt}`
    if (k === 7) line += ` ${e.status}`
    obs.trace.push(line)
    if (failures[line] !== undefined) throw new Error(failures[line])
  }))

  const actions = new Map()
  let calls = 0
  const attemptsOf = new Map()
  function action(def) {
    if (!actions.has(def.name)) {
      actions.set(def.name, host.action(body(def, null), { name: def.name, ...taskOptions(def) }))
    }
    return actions.get(def.name)
  }
  // A task's body following its script; `ctx` is a step's context, or null for an action.
  function body(def, _) {
    return async (arg) => {
      let attempt, signal, spawn
      if (isMain) {
        const n = (attemptsOf.get(arg) || 0) + 1
        attemptsOf.set(arg, n)
        attempt = n
        signal = host.signal()
        spawn = (c) => action(c)(++calls)
      } else {
        attempt = arg.attempt
        signal = arg.signal
        spawn = (c) => arg.spawn(c.name, body(c), taskOptions(c))
      }
      const script = def.attempts && def.attempts.length ? def.attempts[Math.min(attempt, def.attempts.length) - 1] : {}
      if (attempt === 1) obs.startedOrder.push(def.name)
      let holding = true
      running++
      obs.maxRunning = Math.max(obs.maxRunning, running)
      const release = () => {
        if (holding) {
          holding = false
          running--
        }
      }
      signal.addEventListener('abort', release, { once: true })
      if (script.calls) {
        release()
        await Promise.allSettled(script.calls.map(spawn))
        if (signal.aborted) return new Promise(() => {})
        holding = true
        running++
        obs.maxRunning = Math.max(obs.maxRunning, running)
      }
      if (script.result === 'hang') {
        return new Promise(() => {})
      }
      await sleep(script.ms || 0)
      release()
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
    const entries = sc.main
    try {
      await host.run(async () => {
        const promises = {}
        for (const e of entries) {
          const deps = (e.after || []).map((n) => promises[n])
          promises[e.name] = deps.length === 0 ? action(e)(++calls)
            : Promise.all(deps).then(() => action(e)(++calls))
        }
        await Promise.allSettled(Object.values(promises))
      })
    } catch (e) {
      obs.runError = e
    }
    report = host.report
  } else {
    try {
      for (const def of sc.tasks || []) host.step(def.name, body(def), { after: def.after || [], ...taskOptions(def) })
    } catch (e) {
      obs.error = e.message
      return obs
    }
    if (sc.expect.plan) obs.plan = host.plan(run.targets)
    try {
      report = await host.run(run.targets, { signal: ac.signal })
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
  const results = new Map(report.list.map((t) => [t.id, t.result]))
  for (const t of j.tasks) {
    obs.status[t.name] = t.status
    obs.counts[t.status] = (obs.counts[t.status] || 0) + 1
    obs.attempts[t.name] = t.attempts
    if (t.skip_reason !== null) obs.skip[t.name] = t.skip_reason
    if (t.error) obs.errors[t.name] = t.error.message
    if (t.status === 'succeeded') obs.values[t.name] = results.get(t.id)
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
  if (e.trace) eq('trace', e.trace, obs.trace)
  if (e.stop !== undefined) eq('stop', e.stop, obs.stop ?? '')
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
}
