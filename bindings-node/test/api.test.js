'use strict'
// The Node API: DESIGN.md's Node column and the npm orchestrator drop-in details.
const { test } = require('node:test')
const assert = require('node:assert/strict')
const legato = require('..')
const { Flow, Orchestrator, FlowError, CycleError, MissingDependencyError, DuplicateTaskError,
  UnknownTaskError, TaskTimeoutError, CancelledError, HookError, LegatoError, GraphError } = legato

const T = { timeout: 10_000 }
const tick = (ms) => new Promise((r) => setTimeout(r, ms))

test('require and import give the same classes', T, async () => {
  const esm = await import('legato')
  assert.equal(esm.Flow, Flow)
  assert.equal(esm.Orchestrator, Orchestrator)
  assert.equal(esm.default, Orchestrator)
  assert.equal(legato.default, Orchestrator)
})

test('graph errors: exact texts, classes and codes', T, async () => {
  const f = new Flow()
  f.step('task-a', () => 1, { after: ['task-b'] })
  f.step('task-b', () => 1, { after: ['task-a'] })
  await assert.rejects(f.run(), (e) => e instanceof CycleError && e instanceof GraphError && e instanceof LegatoError &&
    e.code === 'ERR_LEGATO_CYCLE' && e.message === 'Circular dependency detected: task-a → task-b → task-a')
  assert.throws(() => f.plan(), CycleError)

  const g = new Flow()
  g.step('build-app', () => 1)
  g.step('deploy', () => 1, { after: ['build'] })
  await assert.rejects(g.run(), { name: 'MissingDependencyError', code: 'ERR_LEGATO_MISSING_DEPENDENCY',
    message: 'Task "build" referenced by "deploy" does not exist (did you mean "build-app"?)' })
  assert.ok(MissingDependencyError)
  assert.throws(() => g.step('deploy', () => 1), (e) => e instanceof DuplicateTaskError &&
    e.code === 'ERR_LEGATO_DUPLICATE_TASK' && e.message === 'Task "deploy" is defined twice')

  const h = new Flow()
  h.step('build-app', () => 1)
  await assert.rejects(h.run(['biuld-app']), (e) => e instanceof UnknownTaskError && e.code === 'ERR_LEGATO_UNKNOWN_TASK' &&
    e.message === 'Task "biuld-app" not found (did you mean "build-app"?)')
})

test('bad input is refused at definition time, naming the argument', T, () => {
  const f = new Flow()
  assert.throws(() => f.step('a', 'nope'), { name: 'TypeError', message: /^fn: must be a function/ })
  assert.throws(() => f.step('a', () => 1, { timeout: 0 }), { name: 'RangeError', message: /^options\.timeout: / })
  assert.throws(() => f.step('a', () => 1, { timeout: -5 }), { name: 'RangeError', message: /^options\.timeout: / })
  assert.throws(() => f.step('a', () => 1, { retries: -1 }), { name: 'RangeError', message: /^options\.retries: / })
  assert.throws(() => f.step('a', () => 1, { retris: 2 }), { name: 'TypeError', message: /^options\.retris: unknown option/ })
  assert.throws(() => f.step('a', () => 1, { after: [42] }), { name: 'TypeError', message: /^options\.after\[0\]: / })
  assert.throws(() => f.step('a', () => 1, { after: [function stranger() {}] }), { name: 'TypeError', message: /not a step of this flow/ })
  assert.throws(() => f.step('a', () => 1, { backoff: { initial: 5, factor: 0.5 } }), { name: 'RangeError', message: /^options\.backoff\.factor/ })
  assert.throws(() => new Flow({ maxParallel: 0 }), { name: 'RangeError', message: /^options\.maxParallel/ })
  assert.throws(() => new Orchestrator({ paralel: 2 }), { name: 'TypeError', message: /^options\.paralel: unknown option/ })
  const o = new Orchestrator()
  assert.throws(() => o.action(5), { name: 'TypeError', message: /^fn: / })
  assert.throws(() => o.action(() => 1, { timeout: 0 }), { name: 'RangeError' })
  assert.throws(() => o.action(() => 1, { retry: { attempts: 0 } }), { name: 'RangeError', message: /retry\.attempts/ })
  assert.throws(() => o.parallel([() => 1, 3]), { name: 'TypeError', message: /^actions\[1\]/ })
  assert.throws(() => o.onTaskBegin('x'), { name: 'TypeError' })
  assert.equal(f.steps.length, 0)
})

test('a flow runs steps after their dependencies, with results, state, attempts and a report', T, async () => {
  const order = []
  const f = new Flow({ maxParallel: 2, state: { env: 'prod' } })
  const install = f.step(async function install(ctx) { order.push(ctx.name); return 'deps' })
  f.step('build', async (ctx) => { order.push(ctx.name); return `${ctx.results.install}+build ${ctx.state.env}` }, { after: [install] })
  f.step('flaky', (ctx) => { order.push(`flaky${ctx.attempt}`); if (ctx.attempt < 3) throw new Error('boom'); return ctx.attempt }, { after: 'build', retries: 2 })
  assert.deepEqual(f.plan(), [['install'], ['build'], ['flaky']])
  assert.deepEqual(f.plan('build'), [['install'], ['build']])
  const r = await f.run()
  assert.equal(r.ok, true)
  assert.deepEqual(order, ['install', 'build', 'flaky1', 'flaky2', 'flaky3'])
  assert.equal(r.tasks.build.result, 'deps+build prod')
  assert.equal(r.tasks.flaky.attempts, 3)
  assert.equal(r.tasks.flaky.result, 3)
  assert.ok(r.tasks.install.startTime <= r.tasks.build.startTime)
  assert.equal(r.toJSON().tasks.length, 3)
  assert.match(r.toMermaid(), /^gantt/)
  assert.match(r.toHTML('release'), /<html/i)
  const only = await f.run(['build'])
  assert.deepEqual(Object.keys(only.tasks).sort(), ['build', 'install'])
})

test('a failed step skips its dependents; the run rejects with FlowError holding the own error', T, async () => {
  const boom = new Error('no compiler')
  const f = new Flow()
  f.step('build', async () => { throw boom })
  f.step('test', () => 1, { after: ['build'] })
  f.step('lint', () => 'clean')
  const e = await f.run().then(() => assert.fail('resolved'), (x) => x)
  assert.ok(e instanceof FlowError)
  assert.equal(e.code, 'ERR_LEGATO_FLOW_FAILED')
  assert.equal(e.report.ok, false)
  assert.equal(e.report.tasks.build.error, boom)
  assert.equal(e.report.tasks.test.status, 'skipped')
  assert.equal(e.report.tasks.test.skipReason, 'dependency "build" failed')
  assert.equal(e.report.tasks.lint.result, 'clean')
})

test('LightFlow builders: follow().after(), parallel().after() as a sync point, syncAll', T, async () => {
  const f = new Flow()
  const seen = []
  const s = (n) => ({ [n]: () => { seen.push(n) } })[n]
  const Step1 = f.step(s('Step1'))
  const point = f.parallel(s('Step2'), s('Step3')).after(Step1)
  f.step('Step4', s('Step4'), { after: [point] })
  f.follow(s('Step5'), s('Step6')).after('Step4')
  f.syncAll(s('Final'))
  assert.deepEqual(f.plan(), [['Step1'], ['Step2', 'Step3'], ['Step4'], ['Step5'], ['Step6'], ['Final']])
  await f.run()
  assert.equal(seen.at(-1), 'Final')
  assert.match(f.toAscii(), /Step1/)
  assert.match(f.toDot(), /digraph/)
  assert.match(f.toMermaid(), /Step4/)
})

test('a step timeout fires its AbortSignal and ends it with a TimeoutError', T, async () => {
  const f = new Flow()
  let reason
  f.step('slow', (ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', () => { reason = ctx.signal.reason; resolve() })), { timeout: 20 })
  const e = await f.run().catch((x) => x)
  const err = e.report.tasks.slow.error
  assert.ok(err instanceof TaskTimeoutError)
  assert.equal(err.name, 'TimeoutError')
  assert.equal(err.code, 'ERR_LEGATO_TIMEOUT')
  assert.equal(err.message, 'task "slow" timed out after 20ms')
  assert.equal(e.report.tasks.slow.status, 'timed_out')
  assert.ok(reason instanceof TaskTimeoutError)
})

test('run({ signal }) cancels the run; nothing hangs and hooks see process completion', T, async () => {
  const f = new Flow()
  const events = []
  f.onProcessCompletion(() => events.push('done'))
  f.step('forever', (ctx) => new Promise((r) => ctx.signal.addEventListener('abort', r)))
  const ac = new AbortController()
  const p = f.run({ signal: ac.signal })
  setTimeout(() => ac.abort(), 10)
  const e = await p.catch((x) => x)
  assert.equal(e.report.tasks.forever.status, 'cancelled')
  assert.equal(e.report.stop, 'run cancelled')
  assert.deepEqual(events, ['done'])
})

test('hooks: nine events in order, several per event, async awaited; a throwing hook fails the run', T, async () => {
  const f = new Flow()
  const seen = []
  const all = ['onProcessBegin', 'onTaskReady', 'onTaskBegin', 'onTaskRetry', 'onTaskSuccess', 'onTaskFailure', 'onTaskSkip', 'onTaskCompletion', 'onProcessCompletion']
  for (const h of all) f[h](async (e) => { await tick(1); seen.push(`${h}${e.name ? ' ' + e.name : ''}`) })
  f.onTaskBegin((e) => seen.push(`second begin ${e.name} ${e.attempt}`))
  f.step('a', (ctx) => { if (ctx.attempt === 1) throw new Error('x') }, { retries: 1 })
  f.step('b', () => { throw new Error('no') })
  f.step('c', () => 1, { after: ['b'] })
  await f.run().catch(() => {})
  assert.equal(seen[0], 'onProcessBegin')
  assert.equal(seen.at(-1), 'onProcessCompletion')
  assert.ok(seen.indexOf('onTaskBegin a') < seen.indexOf('second begin a 1'))
  assert.ok(seen.includes('onTaskRetry a'))
  assert.ok(seen.includes('onTaskSkip c'))
  assert.ok(seen.indexOf('onTaskFailure b') < seen.indexOf('onTaskCompletion b'))

  const g = new Flow()
  const hookErr = new Error('quota exceeded')
  g.onTaskBegin((e) => { if (e.name === 'b') throw hookErr })
  g.step('a', () => 1)
  g.step('b', () => 1, { after: ['a'] })
  const e = await g.run().catch((x) => x)
  assert.ok(e instanceof FlowError)
  assert.match(e.message, /hook for event "task_begin" failed: quota exceeded/)
  assert.ok(e.cause instanceof HookError)
  assert.equal(e.cause.cause, hookErr)
})

test('orchestrator: actions, sync functions, run resolves to main\'s value or rejects with main\'s own error', T, async () => {
  const o = new Orchestrator()
  const double = o.action((x) => 2 * x)
  const asyncAdd = o.action(async function add(a, b) { return a + b })
  assert.equal(double.name, 'anonymous')
  assert.equal(asyncAdd.name, 'add')
  assert.equal(asyncAdd.length, 2)
  // Outside a run an action simply calls its function.
  assert.equal(await double(4), 8)
  assert.equal(o.getState().operations.length, 0)
  assert.equal(await o.run(async () => (await double(2)) + (await asyncAdd(1, 2))), 7)
  const mine = new Error('main broke')
  await assert.rejects(o.run(async () => { throw mine }), (e) => e === mine)
  const own = new TypeError('bad input')
  const failing = o.action(async function fails() { throw own })
  await assert.rejects(o.run(() => failing()), (e) => e === own)
  assert.equal(o.report.list.at(-1).error, own)
})

test('orchestrator: getState bookkeeping and hook payloads match the npm package', T, async () => {
  const o = new Orchestrator()
  const log = []
  o.setState('n', 0)
    .onProcessBegin(({ time, context }) => { log.push(['begin', time]); assert.equal(context, o.getState()) })
    .onTaskBegin(({ name, startTime, endTime, args, duration, context }) => {
      const ops = context.operations
      assert.equal(ops.at(-1).name, name)
      assert.deepEqual(ops.at(-1).args, args)
      assert.equal(ops.at(-1).startTime, startTime)
      log.push(['taskBegin', name, endTime, duration])
    })
    .onTaskCompletion(({ name, startTime, endTime, duration, args }) => {
      assert.ok(Number.isInteger(endTime) && Number.isInteger(duration))
      assert.equal(duration, endTime - startTime)
      log.push(['taskCompletion', name, args])
    })
    .onProcessCompletion(({ time, totalDuration }) => { log.push(['end', time, totalDuration]) })
  const fetchUser = o.action(async function fetchUser(id) { await tick(5); return { id } })
  const broken = o.action(async function broken() { throw new Error('nope') })
  await o.run(async () => { await fetchUser('u1'); await broken().catch(() => {}) })
  const s = o.getState()
  assert.equal(typeof s.id, 'string')
  assert.equal(s.n, 0)
  assert.equal(s.operations.length, 2)
  assert.equal(s.startTime, log[0][1])
  assert.equal(s.endTime, log.at(-1)[1])
  assert.equal(log.at(-1)[2], s.endTime - s.startTime)
  assert.deepEqual(s.operations.map((r) => Object.keys(r)), [['name', 'startTime', 'endTime', 'args', 'duration'], ['name', 'startTime', 'endTime', 'args', 'duration']])
  assert.ok(s.operations[0].duration >= 4)
  assert.deepEqual(log.filter((l) => l[0] !== 'begin' && l[0] !== 'end'), [
    ['taskBegin', 'fetchUser', undefined, undefined], ['taskCompletion', 'fetchUser', ['u1']],
    ['taskBegin', 'broken', undefined, undefined], ['taskCompletion', 'broken', []]])
  await o.run(() => fetchUser('u2'))
  assert.equal(o.getState().operations.length, 3, 'operations accumulate across runs')
})

test('orchestrator: timeout rejects with TimeoutError and fires the action\'s signal', T, async () => {
  const o = new Orchestrator()
  let aborted = null
  const slow = o.action(async function slowCall() {
    const signal = o.signal()
    await new Promise((r) => signal.addEventListener('abort', r))
    aborted = signal.reason
  }, { timeout: 15 })
  const e = await o.run(() => slow()).catch((x) => x)
  assert.equal(e.name, 'TimeoutError')
  assert.equal(e.message, 'task "slowCall" timed out after 15ms')
  assert.ok(e instanceof TaskTimeoutError)
  assert.ok(aborted instanceof TaskTimeoutError)
  assert.throws(() => o.signal(), LegatoError)
})

test('orchestrator: retries and the npm retry shape', T, async () => {
  const o = new Orchestrator()
  let calls = 0
  const flaky = o.action(async () => { if (++calls < 3) throw new Error('flaky'); return calls }, { retry: { attempts: 3, backoff: 1, exponential: true } })
  assert.equal(await o.run(() => flaky()), 3)
  let n = 0
  const refused = o.action(async () => { n++; throw new RangeError('fatal') }, { retries: 5, retryIf: (e) => !(e instanceof RangeError) })
  await assert.rejects(o.run(() => refused()), RangeError)
  assert.equal(n, 1)
})

test('orchestrator.parallel: arg i to action i; errors in place without failFast; failFast cancels the others', T, async () => {
  const o = new Orchestrator()
  const a = o.action(async (x) => x * 10)
  const boom = new Error('down')
  const b = async function plain(x) { await tick(2); throw boom }
  const both = o.parallel([a, b, (s) => s.toUpperCase()])
  const res = await o.run(() => both(1, 2, 'x'))
  assert.deepEqual(res, [10, boom, 'X'])
  assert.equal(res[1], boom)
  let signal
  const slow = o.action(async function slow() { signal = o.signal(); await new Promise((r) => signal.addEventListener('abort', r)); return 'late' })
  const ff = o.parallel([slow, b], { failFast: true })
  await assert.rejects(o.run(() => ff(null, 1)), (e) => e === boom)
  assert.equal(signal.aborted, true)
  assert.ok(signal.reason instanceof CancelledError)
  const statuses = o.report.list.map((t) => `${t.name}:${t.status}`)
  assert.deepEqual(statuses, ['slow:cancelled', 'plain:failed'])
})

test('orchestrator: actions call actions (recursion) under maxParallel 1 without deadlock; cache memoizes', T, async () => {
  const o = new Orchestrator({ maxParallel: 1 })
  const fib = o.action(async function fib(n) { return n < 2 ? n : (await fib(n - 1)) + (await fib(n - 2)) })
  assert.equal(await o.run(() => fib(8)), 21)
  const calls = []
  const c = new Orchestrator()
  const slowSquare = c.action(async function sq(n) { calls.push(n); return n * n }, { cache: true })
  const r = await c.run(async () => [await slowSquare(3), await slowSquare(3), await slowSquare(4)])
  assert.deepEqual(r, [9, 9, 16])
  assert.deepEqual(calls, [3, 4])
})

test('a hook that throws in an orchestrator run rejects with HookError', T, async () => {
  const o = new Orchestrator()
  o.onTaskBegin(() => { throw new Error('hook broke') })
  const a = o.action(async function a() { return 1 })
  await assert.rejects(o.run(() => a()), (e) => e instanceof HookError && e.code === 'ERR_LEGATO_HOOK_FAILED' &&
    e.message === 'hook for event "task_begin" failed: hook broke')
})

test('flow ctx.spawn: dynamic children, the parent gives its slot back', T, async () => {
  const f = new Flow({ maxParallel: 1 })
  async function fib(ctx, n) {
    if (n < 2) return n
    const [a, b] = await Promise.all([ctx.spawn(`fib${n - 1}`, (c) => fib(c, n - 1)), ctx.spawn(`fib${n - 2}`, (c) => fib(c, n - 2))])
    return a + b
  }
  f.step('fib6', (ctx) => fib(ctx, 6))
  const r = await f.run()
  assert.equal(r.tasks.fib6.result, 8)
  assert.equal(r.list.length, 25)
})

test('no panic crosses: native misuse becomes a JS error', T, () => {
  const native = require('../native.js')
  assert.throws(() => native.runStep(99999, 0, new Uint32Array(4), 1, new Uint32Array(5)), /no run 99999/)
})

test('hook payloads carry DESIGN\'s fields (virtual clock: exact whole-ms times)', T, async () => {
  const FakeTimers = require('@sinonjs/fake-timers')
  const clock = FakeTimers.install({ now: 1_700_000_000_000, toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] })
  try {
    const f = new Flow({ state: { who: 'ci' } })
    const seen = {}
    const all = ['onProcessBegin', 'onTaskReady', 'onTaskBegin', 'onTaskRetry', 'onTaskSuccess', 'onTaskFailure', 'onTaskSkip', 'onTaskCompletion', 'onProcessCompletion']
    for (const h of all) f[h]((e) => { (seen[h] ??= []).push(e) })
    const boom = new Error('boom')
    f.step('a', async (ctx) => { await new Promise((r) => setTimeout(r, 10)); if (ctx.attempt === 1) throw boom; return 'A' }, { retries: 1, backoff: 5 })
    f.step('b', async () => { await new Promise((r) => setTimeout(r, 7)); throw boom })
    f.step('c', () => 1, { after: ['b'] })
    const err = await drive(clock, f.run().catch((e) => e))
    assert.ok(err instanceof FlowError)
    const t0 = 1_700_000_000_000
    const state = f.state
    const one = (h) => seen[h].map(({ context, ...rest }) => { assert.equal(context, state); return rest })
    assert.deepEqual(one('onProcessBegin'), [{ time: t0 }])
    assert.deepEqual(one('onTaskReady').map((e) => e.name), ['a', 'b'])
    assert.deepEqual(one('onTaskBegin'), [{ name: 'a', attempt: 1, startTime: t0 }, { name: 'b', attempt: 1, startTime: t0 }, { name: 'a', attempt: 2, startTime: t0 + 15 }])
    assert.deepEqual(one('onTaskRetry'), [{ name: 'a', attempt: 1, error: boom, delay: 5 }])
    assert.deepEqual(one('onTaskSuccess'), [{ name: 'a', duration: 25, result: 'A' }])
    assert.deepEqual(one('onTaskFailure'), [{ name: 'b', duration: 7, error: boom }])
    assert.deepEqual(one('onTaskSkip'), [{ name: 'c', reason: 'dependency "b" failed' }])
    const done = one('onTaskCompletion')
    assert.deepEqual(done.map((e) => [e.name, e.status, e.duration, e.startTime, e.endTime, e.error]),
      [['b', 'failed', 7, t0, t0 + 7, boom], ['a', 'succeeded', 25, t0, t0 + 25, undefined]])
    const [pc] = seen.onProcessCompletion
    assert.deepEqual(Object.keys(pc).sort(), ['context', 'report', 'time', 'totalDuration'])
    assert.equal(pc.time, t0 + 25)
    assert.equal(pc.totalDuration, 25)
    assert.equal(pc.report.ok, false)
    assert.deepEqual(Object.values(pc.report.tasks).map((t) => [t.name, t.status]), [['a', 'succeeded'], ['b', 'failed'], ['c', 'skipped']])
    assert.equal(pc.report.tasks.a.result, 'A')
    assert.equal(pc.report.tasks.b.error, boom)
    assert.deepEqual(err.report.toJSON(), pc.report.toJSON())

    const o = new Orchestrator()
    let opc
    o.onProcessCompletion((e) => { opc = e })
    const act = o.action(async function act(x) { await new Promise((r) => setTimeout(r, 3)); return x * 2 })
    assert.equal(await drive(clock, o.run(() => act(21))), 42)
    assert.deepEqual(Object.keys(opc).sort(), ['context', 'report', 'time', 'totalDuration'])
    assert.equal(opc.totalDuration, 3)
    assert.equal(opc.time, o.getState().endTime)
    assert.equal(opc.report.tasks.act.result, 42)
    assert.equal(opc.report.tasks.act.status, 'succeeded')
  } finally {
    clock.uninstall()
  }
})

/** Runs a fake clock one instant at a time (every timer due fires in one turn) until `p` settles. */
async function drive(clock, p) {
  let done = false
  p = p.finally(() => { done = true })
  const settle = async () => { for (let k = 0; k < 4; k++) await new Promise((r) => setImmediate(r)) }
  await settle()
  for (let i = 0; i < 1000 && !done && clock.countTimers() > 0; i++) {
    clock.next()
    clock.tick(0)
    await settle()
  }
  return p
}

test('the core checks names as steps are added; a refused step leaves nothing behind', T, () => {
  const f = new Flow()
  f.step('build', () => 1)
  assert.throws(() => f.step('', () => 1), { name: 'RangeError', code: 'ERR_LEGATO_INVALID_NAME', message: 'name: Invalid task name "": a task name must not be empty' })
  assert.throws(() => f.step(' padded', () => 1), { name: 'RangeError', code: 'ERR_LEGATO_INVALID_NAME' })
  // Refused with its dependencies queued: neither the step nor its dependency on "ghost" remain.
  assert.throws(() => f.step('build', () => 2, { after: ['ghost'] }), { name: 'DuplicateTaskError', message: 'Task "build" is defined twice' })
  assert.throws(() => f.step('test', () => 2, { after: ['build', 42] }), { name: 'TypeError', message: /^options\.after\[1\]/ })
  assert.deepEqual(f.steps, ['build'])
  assert.deepEqual(f.plan(), [['build']])
  // The flow is usable after a refusal, and a function given twice keeps its first step.
  const lint = () => 3
  f.step('lint', lint, { after: ['build'] })
  f.step('lint-again', lint)
  f.step('deploy', () => 4, { after: [lint] })
  assert.deepEqual(f.plan(), [['build', 'lint-again'], ['lint'], ['deploy']])
  // Dependencies by name may come before the step they name; repeats count once.
  const g = new Flow()
  g.step('b', () => 1, { after: ['a', 'a'] })
  g.step('a', () => 1)
  g.syncAll(function sink() {}, { description: 'after everything' })
  assert.deepEqual(g.plan(), [['a'], ['b'], ['sink']])
  assert.match(g.toMermaid(), /sink/)
})

test('ctx.spawn behaves like an Orchestrator call: tracked child, the caller gives its slot back, own errors', T, async () => {
  const f = new Flow({ maxParallel: 1 })
  let running = 0
  let most = 0
  const busy = async (fn) => {
    running++
    most = Math.max(most, running)
    try {
      return await fn()
    } finally {
      running--
    }
  }
  const own = new Error('child broke')
  f.step('parent', async (ctx) => {
    // Awaiting its children, the parent holds no slot: under maxParallel 1 they still run.
    running--
    const [a, b] = await Promise.all([
      ctx.spawn('child-a', (c) => busy(async () => `${c.name}@${c.attempt}`)),
      ctx.spawn('child-b', (c) => busy(async () => { if (c.attempt === 1) throw new Error('once'); return c.attempt }), { retries: 1 }),
    ])
    const e = await ctx.spawn('child-c', () => busy(async () => { throw own })).catch((x) => x)
    const t = await ctx.spawn('child-d', (c) => new Promise((r) => c.signal.addEventListener('abort', r)), { timeout: 5 }).catch((x) => x)
    running++
    return { a, b, e, t }
  }, {})
  f.onTaskBegin(({ name }) => { if (name === 'parent') running++ })
  const r = await f.run().catch((x) => x.report)
  const v = r.tasks.parent.result
  assert.equal(v.a, 'child-a@1')
  assert.equal(v.b, 2)
  assert.equal(v.e, own, 'a child rejects with its own error')
  assert.equal(v.t.name, 'TimeoutError')
  assert.equal(v.t.message, 'task "child-d" timed out after 5ms')
  assert.equal(most, 1, 'never more than maxParallel running')
  assert.deepEqual(r.list.map((t) => [t.name, t.status, t.parent ?? null]), [
    ['parent', 'succeeded', null], ['child-a', 'succeeded', 'parent'], ['child-b', 'succeeded', 'parent'],
    ['child-c', 'failed', 'parent'], ['child-d', 'timed_out', 'parent']])
  assert.equal(r.tasks['child-b'].attempts, 2)

  // A child the step does not await is cancelled when the step's attempt fails; one left by a
  // step that succeeded runs to its end (the run waits for it).
  const g = new Flow()
  let signal
  let later
  g.step('fails', (ctx) => {
    ctx.spawn('orphan', (c) => { signal = c.signal; return new Promise(() => {}) }).catch(() => {})
    throw new Error('gone')
  })
  g.step('succeeds', (ctx) => { later = ctx.spawn('detached', () => new Promise((r) => setTimeout(r, 5, 'late'))) })
  const rg = await g.run().catch((x) => x.report)
  assert.equal(rg.tasks.orphan.status, 'cancelled')
  assert.equal(rg.tasks.detached.status, 'succeeded')
  assert.equal(await later, 'late')
  assert.equal(signal.aborted, true)
})

test('step names of any length and script reach the core whole', T, () => {
  const f = new Flow()
  const names = []
  for (let n = 248; n <= 260; n++) names.push('a'.repeat(n - 3) + '€', 'b'.repeat(n - 2) + 'é', 'c'.repeat(n))
  names.push('é'.repeat(400), '🎼'.repeat(100), 'legato 音楽')
  for (const n of names) f.step(n, () => 1)
  assert.deepEqual(f.plan(), [names])
  assert.throws(() => f.step('é'.repeat(400), () => 1), { name: 'DuplicateTaskError', message: `Task "${'é'.repeat(400)}" is defined twice` })
})

test('dependencies by name of any length and script reach the core whole (lone surrogates: see low.test.js)', T, () => {
  const f = new Flow()
  const names = ['x'.repeat(254) + 'é', '🎼'.repeat(130), 'legato 音楽', 'paired \uD83C\uDFBC surrogates']
  for (const [k, n] of names.entries()) f.step(n, () => 1, k > 0 ? { after: [names[k - 1]] } : undefined)
  f.step('all', () => 1, { after: names.slice().reverse() })
  assert.deepEqual(f.plan(), [...names.map((n) => [n]), ['all']])
})

test('a dependency named twice counts once, given with the step or added later', T, async () => {
  const f = new Flow()
  f.step('a', () => 1)
  f.step('b', () => 2)
  f.step('c', () => 3, { after: ['a', 'b', 'a', 'a'] })
  f.parallel('c').after('b', 'a')
  f.step('d', () => 4, { after: Array.from({ length: 40 }, (_, i) => (i % 2 ? 'a' : 'c')) })
  assert.deepEqual(f.plan(), [['a', 'b'], ['c'], ['d']])
  assert.equal((f.toMermaid().match(/-->/g) || []).length, 4)
  const r = await f.run()
  assert.deepEqual(r.tasks.c.dependencies, ['a', 'b'])
  assert.deepEqual(r.tasks.d.dependencies, ['c', 'a'])
})
