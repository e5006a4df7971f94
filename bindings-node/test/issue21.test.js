'use strict'
// Issue 21 in the Node door: per-key limits (`limits`, `uses`, an action's `uses` per call),
// conditions (`when`), trigger rules (`trigger`) and priority (`priority`, `cost`, `costs`).
// The rules themselves are the conformance scenarios' (tests/scenarios, limits-*,
// conditions-*, triggers-*, priority-*); here: what only the Node door does — its option
// names and checks, how it calls a condition, what a run resolves or rejects with.
const { test } = require('node:test')
const assert = require('node:assert/strict')
const { thrown } = require('./helpers/thrown')
const FakeTimers = require('@sinonjs/fake-timers')
const { Flow, Orchestrator, FlowError } = require('..')

const T = { timeout: 10_000 }


const step = (options) => () => new Flow().step('a', () => 1, options)
const action = (options) => () => new Orchestrator().action(() => 1, options)

// [what, call, error name, code, exact message]
const BAD = [
  ['a zero capacity', () => new Flow({ limits: { db: 0 } }), 'RangeError', 'ERR_OUT_OF_RANGE', 'options.limits.db: must be a whole number >= 1, got 0'],
  ['a negative capacity', () => new Orchestrator({ limits: { db: -2 } }), 'RangeError', 'ERR_OUT_OF_RANGE', 'options.limits.db: must be a whole number >= 1, got -2'],
  ['a fractional capacity', () => new Flow({ limits: { api: 1.5 } }), 'RangeError', 'ERR_OUT_OF_RANGE', 'options.limits.api: must be a whole number >= 1, got 1.5'],
  ['a key that is no identifier', () => new Flow({ limits: { 'user:1': 0 } }), 'RangeError', 'ERR_OUT_OF_RANGE', 'options.limits["user:1"]: must be a whole number >= 1, got 0'],
  ['a capacity that is a string', () => new Flow({ limits: { db: '2' } }), 'TypeError', 'ERR_INVALID_ARG_TYPE', 'options.limits.db: must be a number, got "2"'],
  ['limits that are not an object', () => new Flow({ limits: ['db'] }), 'TypeError', 'ERR_INVALID_ARG_TYPE', 'options.limits: must be an object of key capacities ({ db: 2 }), got an array'],
  ['a misspelt priority', () => new Flow({ priority: 'critical_pth' }), 'RangeError', 'ERR_OUT_OF_RANGE', 'options.priority: must be one of fifo, critical_path, got "critical_pth" (did you mean "critical_path"?)'],
  ['a priority that is not a string', () => new Orchestrator({ priority: 2 }), 'TypeError', 'ERR_INVALID_ARG_TYPE', 'options.priority: must be "fifo" or "critical_path", got 2'],
  ['costs that are not a report', () => new Flow({ costs: { a: 5 } }), 'TypeError', 'ERR_INVALID_ARG_TYPE', 'options.costs: must be a RunReport (a previous run\'s report), got an object'],
  ['uses as a bare string', step({ uses: 'db' }), 'TypeError', 'ERR_INVALID_ARG_TYPE', 'options.uses: must be an array of strings, got "db" (a list of keys: uses: ["db"])'],
  ['uses holding a number', step({ uses: ['db', 1] }), 'TypeError', 'ERR_INVALID_ARG_TYPE', 'options.uses: must be an array of strings, got an array'],
  ['an action\'s uses as a bare string', action({ uses: 'db' }), 'TypeError', 'ERR_INVALID_ARG_TYPE', 'options.uses: must be an array of strings or a function of the call\'s arguments, got "db" (a list of keys: uses: ["db"])'],
  ['a spawn\'s uses as a function', () => thrown(() => { throw new Error('see below') }), undefined, undefined, undefined],
  ['an async when', step({ when: async () => true }), 'TypeError', 'ERR_INVALID_ARG_TYPE', 'options.when: conditions are synchronous, got an async function (compute the value in a step before it and read it from ctx.results)'],
  ['a when that is not a function', step({ when: true }), 'TypeError', 'ERR_INVALID_ARG_TYPE', 'options.when: must be a function (ctx) => boolean, got true'],
  ['a misspelt trigger', step({ trigger: 'alldone' }), 'RangeError', 'ERR_OUT_OF_RANGE', 'options.trigger: must be one of all_succeeded, all_done, any_succeeded, none_failed, got "alldone" (did you mean "all_done"?)'],
  ['a trigger that is not a string', step({ trigger: null }), 'TypeError', 'ERR_INVALID_ARG_TYPE', 'options.trigger: must be one of "all_succeeded", "all_done", "any_succeeded", "none_failed", got null'],
  ['a negative cost', step({ cost: -1 }), 'RangeError', 'ERR_OUT_OF_RANGE', 'options.cost: must be a finite number of milliseconds >= 0, got -1'],
  ['a cost that is a string', step({ cost: '2s' }), 'TypeError', 'ERR_INVALID_ARG_TYPE', 'options.cost: must be a number, got "2s"'],
  ['when on an action', action({ when: () => true }), 'TypeError', 'ERR_INVALID_ARG_TYPE', 'options.when: unknown option (expected one of: name, cache, retries, retry, backoff, retryIf, timeout, sequences, uses)'],
]

test('bad limits, priority, costs, uses, when, trigger and cost are refused at definition time, naming the argument', () => {
  for (const [what, call, name, code, message] of BAD) {
    if (name === undefined) continue
    const e = thrown(call)
    assert.ok(e instanceof Error, `${what}: nothing thrown`)
    assert.equal(e.name, name, what)
    assert.equal(e.code, code, what)
    assert.equal(e.message, message, what)
  }
})

test('good values are taken: capacities, both priorities, every trigger, a cost of 0, sequences beside uses', () => {
  new Flow({ limits: { db: 2, 'user:1': 1 }, priority: 'critical_path' })
  new Orchestrator({ limits: {}, priority: 'fifo' })
  const f = new Flow()
  for (const t of ['all_succeeded', 'all_done', 'any_succeeded', 'none_failed']) f.step(t, () => 1, { trigger: t, cost: 0 })
  f.step('s', () => 1, { sequences: ['db'], uses: ['api'] })
  // As uses, and as every door: a bare string is refused, with the list to write instead.
  assert.throws(() => f.step('t', () => 1, { sequences: 'db' }), {
    name: 'TypeError',
    message: 'options.sequences: must be an array of strings, got "db" (a list of keys: sequences: ["db"])'
  })
  new Orchestrator().action(() => 1, { uses: (id) => [`user:${id}`] })
})

test('ctx.spawn takes uses as a list, not as a function (a child has no arguments)', T, async () => {
  const f = new Flow()
  let err
  f.step('s', (ctx) => {
    err = thrown(() => ctx.spawn('c', () => 1, { uses: () => ['db'] }))
    return ctx.spawn('ok', () => 2, { uses: ['db'] })
  })
  const r = await f.run()
  assert.equal(err.name, 'TypeError')
  assert.equal(err.message, 'options.uses: must be an array of strings, got a function')
  assert.equal(r.tasks.s.result, 2)
})

test('when: called once, after task_ready and before task_begin, with the step context (results so far, state)', T, async () => {
  const f = new Flow({ state: { env: 'prod' } })
  const seen = []
  const trace = []
  f.onTaskReady((e) => trace.push(`ready ${e.name}`))
  f.onTaskBegin((e) => trace.push(`begin ${e.name}`))
  f.onTaskSkip((e) => trace.push(`skip ${e.name} ${e.reason}`))
  f.step('build', () => 'artifact')
  f.step('deploy', () => 'deployed', {
    after: ['build'],
    when: (ctx) => {
      seen.push({ name: ctx.name, attempt: ctx.attempt, build: ctx.results.build, env: ctx.state.env })
      trace.push('when deploy')
      return ctx.state.env === 'prod'
    },
  })
  f.step('canary', () => 'no', { when: (ctx) => { trace.push('when canary'); return ctx.state.env === 'staging' } })
  const r = await f.run()
  assert.deepEqual(seen, [{ name: 'deploy', attempt: 0, build: 'artifact', env: 'prod' }])
  assert.deepEqual(trace, ['ready build', 'ready canary', 'when canary', 'begin build', 'skip canary condition false',
    'ready deploy', 'when deploy', 'begin deploy'])
  assert.equal(r.tasks.deploy.result, 'deployed')
  assert.equal(r.tasks.canary.status, 'skipped')
  assert.equal(r.tasks.canary.attempts, 0)
})

test('a branch not taken leaves the run ok: run() resolves with the report, report.ok is true', T, async () => {
  const f = new Flow()
  f.step('check', () => false)
  f.step('migrate', () => 'migrated', { after: ['check'], when: (ctx) => ctx.results.check })
  f.step('verify', () => 'verified', { after: ['migrate'] })
  f.step('done', () => 'done', { after: ['check', 'migrate'], trigger: 'none_failed' })
  const r = await f.run()
  assert.equal(r.ok, true)
  assert.deepEqual(r.list.map((t) => [t.name, t.status, t.skipReason]), [
    ['check', 'succeeded', undefined],
    ['migrate', 'skipped', 'condition false'],
    ['verify', 'skipped', 'trigger rule all_succeeded not met'],
    ['done', 'succeeded', undefined],
  ])
  assert.equal(r.toJSON().tasks.every((t) => t.status === 'succeeded' || t.status === 'skipped'), true)
})

test('a condition that throws fails its step with what it threw (not a copy); dependents are skipped; a cleanup runs', T, async () => {
  const f = new Flow()
  const boom = new Error('no inventory')
  f.step('gate', () => 1, { when: () => { throw boom } })
  f.step('next', () => 2, { after: ['gate'] })
  f.step('cleanup', () => 'cleaned', { after: ['gate', 'next'], trigger: 'all_done' })
  const failures = []
  f.onTaskFailure((e) => failures.push([e.name, e.error]))
  const e = await f.run().then(() => assert.fail('resolved'), (x) => x)
  assert.ok(e instanceof FlowError)
  assert.equal(e.message, 'flow failed: task "gate" failed: no inventory')
  assert.equal(e.cause, boom)
  assert.equal(e.report.tasks.gate.error, boom)
  assert.equal(e.report.tasks.gate.attempts, 0)
  assert.deepEqual(failures, [['gate', boom]])
  assert.equal(e.report.tasks.next.skipReason, 'dependency "gate" failed')
  assert.equal(e.report.tasks.cleanup.result, 'cleaned')
  assert.equal(e.report.ok, false)
})

test('a (plain) condition that returns a Promise is not awaited: the step fails with a TypeError saying conditions are synchronous, and a rejection of it is not unhandled', T, async () => {
  const unhandled = []
  const onUnhandled = (r) => unhandled.push(r)
  process.on('unhandledRejection', onUnhandled)
  try {
    const f = new Flow()
    f.step('a', () => 1, { when: () => Promise.resolve(true) })
    f.step('b', () => 1, { when: () => Promise.reject(new Error('later')) })
    const e = await f.run().then(() => assert.fail('resolved'), (x) => x)
    for (const name of ['a', 'b']) {
      const err = e.report.tasks[name].error
      assert.ok(err instanceof TypeError, name)
      assert.equal(err.message, `the when condition of step "${name}" returned a Promise: conditions are synchronous (compute the value in a step before it and read it from ctx.results)`)
    }
    await new Promise((r) => setImmediate(r))
    assert.deepEqual(unhandled, [])
  } finally {
    process.off('unhandledRejection', onUnhandled)
  }
})

test('a condition\'s value is taken by truthiness (0, "" and null skip; an object runs)', T, async () => {
  const f = new Flow()
  const values = { zero: 0, empty: '', nil: null, obj: {}, one: 1 }
  for (const [k, v] of Object.entries(values)) f.step(k, () => k, { when: () => v })
  const r = await f.run()
  assert.deepEqual(r.list.map((t) => [t.name, t.status]), [
    ['zero', 'skipped'], ['empty', 'skipped'], ['nil', 'skipped'], ['obj', 'succeeded'], ['one', 'succeeded']])
})

test('cleanup (all_done) runs after a failure and under failFast; any_succeeded needs one success; run() rejects as any failed run', T, async () => {
  const f = new Flow({ failFast: true })
  const ran = []
  const ac = new AbortController()
  f.step('bad', () => { throw new Error('boom') })
  f.step('slow', (ctx) => new Promise((resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))))
  f.step('down', () => { ran.push('down'); return 'down' }, { after: ['bad', 'slow'], trigger: 'all_done' })
  f.step('any', () => { ran.push('any') }, { after: ['bad', 'slow'], trigger: 'any_succeeded' })
  const e = await f.run({ signal: ac.signal }).then(() => assert.fail('resolved'), (x) => x)
  assert.equal(e.report.stop, 'fail-fast: task "bad" failed')
  assert.equal(e.report.tasks.slow.status, 'cancelled')
  assert.equal(e.report.tasks.down.status, 'succeeded')
  assert.equal(e.report.tasks.any.status, 'skipped')
  assert.deepEqual(ran, ['down'])
})

test('limits: never more than the capacity of a key at once; a task waiting for a key holds no slot', T, async () => {
  const f = new Flow({ limits: { db: 2 }, maxParallel: 3 })
  let db = 0
  let dbPeak = 0
  let free = 0
  const order = []
  for (let i = 0; i < 6; i++) {
    f.step(`q${i}`, async () => {
      order.push(`q${i}`)
      db++
      dbPeak = Math.max(dbPeak, db)
      for (let k = 0; k < 3; k++) await new Promise((r) => setImmediate(r))
      db--
    }, { uses: ['db'] })
  }
  f.step('free', () => { free++; order.push('free') })
  await f.run()
  assert.equal(dbPeak, 2)
  assert.equal(free, 1)
  // The third slot went to `free` (declared last) while q2… waited for db without a slot.
  assert.deepEqual(order.slice(0, 3), ['q0', 'q1', 'free'])
})

test('an action\'s uses function gets the call\'s arguments and this; its keys limit that call', T, async () => {
  const orch = new Orchestrator({ limits: { 'user:2': 2 } })
  const got = []
  const running = {}
  const peak = {}
  const charge = orch.action(async (user, amount) => {
    const k = `user:${user}`
    running[k] = (running[k] || 0) + 1
    peak[k] = Math.max(peak[k] || 0, running[k])
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r))
    running[k]--
    return amount
  }, { uses: function (user, amount) { got.push([user, amount]); return [`user:${user}`] } })
  const out = await orch.run(() => Promise.all([charge(1, 10), charge(1, 20), charge(2, 30), charge(2, 40), charge(2, 50)]))
  assert.deepEqual(out, [10, 20, 30, 40, 50])
  assert.deepEqual(got, [[1, 10], [1, 20], [2, 30], [2, 40], [2, 50]])
  assert.deepEqual(peak, { 'user:1': 1, 'user:2': 2 })
})

test('an action\'s uses function that throws or returns no list of strings rejects that call; no task is made', T, async () => {
  const orch = new Orchestrator()
  const boom = new Error('no user')
  const a = orch.action((x) => x, { name: 'a', uses: (x) => { if (x === 1) throw boom; return x === 2 ? 'db' : ['db'] } })
  const results = await orch.run(() => Promise.allSettled([a(1), a(2), a(3)]))
  assert.equal(results[0].reason, boom)
  assert.equal(results[1].reason.name, 'TypeError')
  assert.equal(results[1].reason.message, 'options.uses of action "a": must return an array of strings, got "db"')
  assert.equal(results[2].value, 3)
  assert.equal(orch.report.list.length, 1)
  // In a fail-fast parallel too: the group rejects with it.
  const g = orch.parallel([a, a], { failFast: true })
  await assert.rejects(orch.run(() => g(3, 1)), (e) => e === boom)
})

/** Runs `flow` on a virtual clock: every timer fires at its instant, in order. */
async function onVirtualClock(run) {
  const clock = FakeTimers.install({ now: 0, toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] })
  try {
    let done = false
    const p = run().finally(() => { done = true })
    for (let i = 0; i < 10_000 && !done; i++) {
      for (let k = 0; k < 4; k++) await new Promise((r) => setImmediate(r))
      if (!done && clock.countTimers() > 0) clock.next()
    }
    return await p
  } finally {
    clock.uninstall()
  }
}

test('critical_path: cost (ms) orders the ready steps; costs: a previous report\'s durations do when no cost is given', T, async () => {
  const sleep = (ms) => () => new Promise((r) => setTimeout(r, ms))
  const build = (options) => {
    const f = new Flow({ maxParallel: 1, ...options })
    const order = []
    for (const [name, ms] of [['quick', 5], ['slow', 50], ['mid', 20]]) {
      f.step(name, () => { order.push(name); return sleep(ms)() })
    }
    return { f, order }
  }
  // fifo: declaration order.
  const first = build({})
  const report = await onVirtualClock(() => first.f.run())
  assert.deepEqual(first.order, ['quick', 'slow', 'mid'])
  assert.equal(report.tasks.slow.duration, 50)
  // critical_path without costs: every step costs the same (1 s): declaration order.
  const same = build({ priority: 'critical_path' })
  await onVirtualClock(() => same.f.run())
  assert.deepEqual(same.order, ['quick', 'slow', 'mid'])
  // With the first run's durations: the longest first.
  const known = build({ priority: 'critical_path', costs: report })
  await onVirtualClock(() => known.f.run())
  assert.deepEqual(known.order, ['slow', 'mid', 'quick'])
  // A step's own cost wins over the report's.
  const f = new Flow({ maxParallel: 1, priority: 'critical_path', costs: report })
  const order = []
  f.step('quick', () => { order.push('quick') }, { cost: 100 })
  f.step('slow', () => { order.push('slow') })
  await f.run()
  assert.deepEqual(order, ['quick', 'slow'])
})

test('ctx.spawn in a condition is refused (the step has no attempt yet): the condition throws, so the step fails with that error and nothing is spawned', T, async () => {
  const f = new Flow()
  f.step('a', () => 1, { when: (ctx) => { ctx.spawn('x', () => 1); return true } })
  const e = await f.run().then(() => assert.fail('resolved'), (x) => x)
  const err = e.report.tasks.a.error
  assert.equal(err.code, 'ERR_LEGATO_OUTSIDE_RUN')
  assert.equal(err.message, 'ctx.spawn() is not available in a condition (when): it runs before the step has an attempt')
  assert.deepEqual(e.report.list.map((t) => t.name), ['a'])
})

test('a condition waits for an async task_ready hook, and a non-Error it throws is the step\'s error as thrown', T, async () => {
  const f = new Flow()
  const order = []
  let release
  const gate = new Promise((r) => { release = r })
  f.onTaskReady(async ({ name }) => {
    order.push(`ready ${name}`)
    if (name === 'a') await gate
    order.push(`ready done ${name}`)
  })
  f.step('a', () => 1, { when: () => { order.push('when a'); throw 'not today' } }) // eslint-disable-line no-throw-literal
  const p = f.run()
  await new Promise((r) => setImmediate(r))
  assert.deepEqual(order, ['ready a'], 'the condition waits for the hook')
  release()
  const e = await p.then(() => assert.fail('resolved'), (x) => x)
  assert.deepEqual(order, ['ready a', 'ready done a', 'when a'])
  assert.equal(e.report.tasks.a.error, 'not today')
  assert.equal(e.cause, 'not today')
})

test('a cached action\'s uses function is called for the call that makes the task, not for the calls that join it', T, async () => {
  const orch = new Orchestrator()
  let keyCalls = 0
  const load = orch.action(async (id) => `row ${id}`, { cache: true, uses: (id) => { keyCalls++; return [`row:${id}`] } })
  const rows = await orch.run(() => Promise.all([load(1), load(1), load(2)]))
  assert.deepEqual(rows, ['row 1', 'row 1', 'row 2'])
  assert.equal(keyCalls, 2)
  assert.equal(orch.report.list.length, 2)
})
