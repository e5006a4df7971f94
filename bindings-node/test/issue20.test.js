'use strict'
// Issue 20: the Node door as a complete drop-in for the npm orchestrator package.
const { test } = require('node:test')
const assert = require('node:assert/strict')
const legato = require('..')
const { Orchestrator, TaskTimeoutError, LegatoError } = legato

const T = { timeout: 10_000 }

test('#5 exports what the npm orchestrator package exports (CJS and ESM)', T, async () => {
  const esm = await import('legato')
  for (const m of [legato, esm]) {
    assert.equal(m.default, Orchestrator)
    assert.equal(m.TimeoutError, TaskTimeoutError)
    assert.equal(typeof m.RetryError, 'function')
    assert.equal(typeof m.UniqueIdGenerator, 'function')
  }
  assert.equal(esm.RetryError, legato.RetryError)
  assert.equal(esm.UniqueIdGenerator, legato.UniqueIdGenerator)
})

test('#5 err instanceof TimeoutError holds for an action timeout and a run timeout', T, async () => {
  const { TimeoutError } = legato
  const o = new Orchestrator()
  const slow = o.action(() => new Promise((resolve) => o.signal().addEventListener('abort', resolve)), { timeout: 5 })
  const err = await o.run(() => slow()).catch((e) => e)
  assert.ok(err instanceof TimeoutError)
  assert.equal(err.name, 'TimeoutError')
  assert.equal(err.code, 'ERR_LEGATO_TIMEOUT')
  const r = new Orchestrator({ timeout: 5 })
  const err2 = await r.run(() => new Promise((resolve) => r.signal().addEventListener('abort', resolve))).catch((e) => e)
  assert.ok(err2 instanceof TimeoutError)
})

test('#5 RetryError: attempts, lastError, cause, message', T, () => {
  const { RetryError } = legato
  const last = new Error('boom')
  const e = new RetryError(3, last)
  assert.ok(e instanceof RetryError && e instanceof LegatoError && e instanceof Error)
  assert.equal(e.name, 'RetryError')
  assert.equal(e.code, 'ERR_LEGATO_RETRY')
  assert.equal(e.attempts, 3)
  assert.equal(e.lastError, last)
  assert.equal(e.cause, last)
  assert.equal(e.message, 'Operation failed after 3 attempts. Last error: boom')
  assert.equal(new RetryError(2, 'nope').message, 'Operation failed after 2 attempts. Last error: nope')
})

test('#5 UniqueIdGenerator gives unique string ids', T, () => {
  const { UniqueIdGenerator } = legato
  const g = new UniqueIdGenerator()
  const seen = new Set()
  for (let i = 0; i < 1000; i++) seen.add(i % 2 ? g.generate() : g.next())
  assert.equal(seen.size, 1000)
  for (const id of seen) assert.equal(typeof id, 'string')
  const p = new UniqueIdGenerator('job-')
  assert.match(p.generate(), /^job-[0-9a-f-]{36}$/)
  assert.notEqual(new UniqueIdGenerator().generate(), g.generate())
  assert.throws(() => new UniqueIdGenerator(5), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' })
})

test('#7 npm retry shape: exhausted retries reject with RetryError after exactly `attempts` calls', T, async () => {
  const { RetryError } = legato
  const o = new Orchestrator()
  const boom = new Error('service down')
  let n = 0
  const failing = o.action(async function fetchUser() { n++; throw boom }, { retry: { attempts: 3, backoff: 1, exponential: true } })
  const seen = []
  o.onTaskFailure(({ error }) => seen.push(error))
  const err = await o.run(async () => {
    try {
      await failing('u1')
    } catch (e) {
      return e
    }
  })
  assert.equal(n, 3)
  assert.ok(err instanceof RetryError)
  assert.equal(err.name, 'RetryError')
  assert.equal(err.attempts, 3)
  assert.equal(err.lastError, boom)
  assert.equal(err.cause, boom)
  assert.equal(err.message, 'Operation failed after 3 attempts. Last error: service down')
  // Hooks and the report keep the body's own error.
  assert.deepEqual(seen, [boom])
  assert.equal(o.report.list[0].error, boom)
  assert.equal(o.report.list[0].attempts, 3)
  // main rethrowing it: run() rejects with the same RetryError.
  await assert.rejects(o.run(() => failing()), (e) => e instanceof RetryError && e.attempts === 3)
  // attempts: 1 is still that shape.
  const once = o.action(() => { throw boom }, { retry: { attempts: 1 } })
  await assert.rejects(o.run(() => once()), { name: 'RetryError', attempts: 1, message: 'Operation failed after 1 attempts. Last error: service down' })
})

test('#7 RetryError in parallel (in place, and failFast), under run failFast; retries: N keeps the raw error', T, async () => {
  const { RetryError } = legato
  const o = new Orchestrator()
  const boom = new Error('nope')
  const bad = o.action(async () => { throw boom }, { retry: { attempts: 2 } })
  const good = o.action(async (x) => x)
  const [r0, r1] = await o.run(() => o.parallel([bad, good])(1, 2))
  assert.ok(r0 instanceof RetryError && r0.lastError === boom && r0.attempts === 2)
  assert.equal(r1, 2)
  await assert.rejects(o.run(() => o.parallel([bad, good], { failFast: true })(1, 2)), (e) => e instanceof RetryError && e.lastError === boom)
  const ff = new Orchestrator({ failFast: true })
  const bad2 = ff.action(async () => { throw boom }, { retry: { attempts: 2 } })
  await assert.rejects(ff.run(() => bad2()), (e) => e instanceof RetryError && e.lastError === boom)
  const plain = o.action(async () => { throw boom }, { retries: 2 })
  await assert.rejects(o.run(() => plain()), (e) => e === boom)
  // A timeout stays the timeout error.
  const slow = o.action(() => new Promise((resolve) => o.signal().addEventListener('abort', resolve)), { retry: { attempts: 2 }, timeout: 5 })
  await assert.rejects(o.run(() => slow()), { name: 'TimeoutError' })
})

test('#9 NUL characters in names are refused, naming the argument; nothing is added', T, async () => {
  const { Flow } = legato
  const f = new Flow()
  const a = f.step('a', () => 1)
  f.step('b', () => 2)
  const bad = (argument) => ({ name: 'RangeError', code: 'ERR_LEGATO_INVALID_NAME',
    message: `${argument}: Invalid task name "a\\0b": a task name must not contain NUL characters` })
  assert.throws(() => f.step('c', () => 3, { after: ['a\0b'] }), bad('options.after[0]'))
  assert.throws(() => f.step('c', () => 3, { after: 'a\0b' }), bad('options.after[0]'))
  assert.throws(() => f.step('c', () => 3, { after: [a, 'a\0b'] }), bad('options.after[1]'))
  assert.throws(() => f.parallel('a', 'b').after('a\0b'), { name: 'RangeError', code: 'ERR_LEGATO_INVALID_NAME' })
  assert.throws(() => f.step('a\0b', () => 3), { name: 'RangeError', code: 'ERR_LEGATO_INVALID_NAME' })
  assert.throws(() => f.plan('a\0b'), bad('targets'))
  assert.throws(() => f.plan(['a', 'a\0b']), bad('targets[1]'))
  await assert.rejects(f.run('a\0b'), bad('targets'))
  // Nothing was added or queued: the flow still runs, `c` is free.
  assert.deepEqual(f.steps, ['a', 'b'])
  f.step('c', () => 3, { after: ['a'] })
  const r = await f.run()
  assert.deepEqual(Object.keys(r.tasks).sort(), ['a', 'b', 'c'])
})

test('#9 an empty target is an unknown task, not "everything"; no targets still runs everything', T, async () => {
  const { Flow, UnknownTaskError } = legato
  const f = new Flow()
  let ran = 0
  f.step('a', () => ran++)
  f.step('b', () => ran++)
  await assert.rejects(f.run(''), (e) => e instanceof UnknownTaskError && e.code === 'ERR_LEGATO_UNKNOWN_TASK' && /^Task "" not found/.test(e.message))
  await assert.rejects(f.run(['a', '']), UnknownTaskError)
  assert.throws(() => f.plan(''), UnknownTaskError)
  assert.equal(ran, 0)
  assert.deepEqual(f.plan([]), [['a', 'b']])
  assert.deepEqual(Object.keys((await f.run([])).tasks), ['a', 'b'])
  assert.deepEqual(Object.keys((await f.run('a')).tasks), ['a'])
})

test('#6 timeouts above 2^31-1 ms: no TimeoutOverflowWarning, the run is not disturbed', T, () => {
  const { spawnSync } = require('node:child_process')
  const program = `
    const { Flow, Orchestrator } = require(${JSON.stringify(require.resolve('..'))})
    process.on('warning', (w) => { console.log('WARNING ' + w.name); process.exitCode = 3 })
    ;(async () => {
      const f = new Flow({ timeout: 2 ** 33 })
      f.step('a', () => new Promise((r) => setTimeout(() => r('A'), 60)), { timeout: 2 ** 40 })
      f.step('b', () => 'B', { after: ['a'], timeout: 2 ** 31, retries: 1, backoff: { initial: 2 ** 35, max: 2 ** 36 } })
      const r = await f.run()
      const o = new Orchestrator({ timeout: 1e13 })
      const act = o.action(() => new Promise((r) => setTimeout(() => r(42), 30)), { timeout: 2 ** 31 + 1 })
      const v = await o.run(() => act())
      console.log('done ' + r.ok + ' ' + v)
    })()
  `
  const p = spawnSync(process.execPath, ['--trace-warnings', '-e', program], { encoding: 'utf8', timeout: 20_000 })
  assert.equal(p.stderr.includes('TimeoutOverflowWarning'), false, p.stderr)
  assert.equal(p.stdout.trim(), 'done true 42', p.stdout + p.stderr)
  assert.equal(p.status, 0)
})

test('#6 a deadline beyond 2^31-1 ms: the timer is armed at most that far and re-armed until it is due', T, async () => {
  const { Flow, TaskTimeoutError } = legato
  const FakeTimers = require('@sinonjs/fake-timers')
  const clock = FakeTimers.install({ now: 1_700_000_000_000, toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] })
  const fakeSetTimeout = globalThis.setTimeout
  const delays = []
  globalThis.setTimeout = (fn, ms, ...rest) => { delays.push(ms); return fakeSetTimeout(fn, ms, ...rest) }
  const settle = async () => { for (let k = 0; k < 4; k++) await new Promise((r) => setImmediate(r)) }
  try {
    const MAX = 2 ** 31 - 1
    const f = new Flow()
    f.step('slow', (ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', resolve)), { timeout: MAX + 5000 })
    let settled = false
    const p = f.run().catch((e) => e).finally(() => { settled = true })
    await settle()
    assert.deepEqual(delays, [MAX])
    clock.tick(MAX)
    await settle()
    assert.equal(settled, false, 'fired early but not due: not timed out')
    assert.equal(delays.length, 2)
    assert.equal(delays[1], 5000)
    clock.tick(4999)
    await settle()
    assert.equal(settled, false)
    clock.tick(1)
    await settle()
    const err = await p
    const e = err.report.tasks.slow.error
    assert.ok(e instanceof TaskTimeoutError)
    assert.equal(err.report.tasks.slow.status, 'timed_out')
    assert.ok(delays.every((d) => d <= MAX), String(delays))
  } finally {
    globalThis.setTimeout = fakeSetTimeout
    clock.uninstall()
  }
})

test('#10 cache keys do not collide: undefined, null, NaN, Infinity; Map, Set, class instances and {} differ', T, async () => {
  const o = new Orchestrator()
  let calls = 0
  const f = o.action((x) => {
    calls++
    return x
  }, { cache: true })
  class Point {
    constructor(x) {
      this.x = x
    }
  }
  const fn1 = () => 1
  const fn2 = () => 2
  const distinct = [undefined, null, NaN, Infinity, -Infinity, 0, '0', 0n, 'undefined', 'null', true, 'true',
    {}, new Map(), new Map([[1, 2]]), new Set(), new Set([1]), new Point(1), new Point(2), new Date(0), [], [null],
    [undefined], fn1, fn2, Symbol('a'), Symbol('a'), { a: undefined }, { a: null }, { a: '1' }, { a: 1 }]
  const got = await o.run(async () => {
    const out = []
    for (const v of distinct) out.push(await f(v))
    return out
  })
  assert.equal(calls, distinct.length)
  for (let i = 0; i < distinct.length; i++) assert.ok(Object.is(got[i], distinct[i]), `value ${i}`)
  // Equal plain values hit; the same object (compared by identity) hits; a cycle is not cached.
  const m = new Map()
  const cyc = { a: 1 }
  cyc.self = cyc
  calls = 0
  await o.run(async () => {
    await f({ a: [1, { b: NaN }] })
    await f({ a: [1, { b: NaN }] })
    await f(m)
    await f(m)
    await f(cyc)
    await f(cyc)
    const g = o.action((...xs) => xs.length, { cache: true })
    assert.equal(await g(), 0)
    assert.equal(await g(undefined), 1)
  })
  assert.equal(calls, 4)
  // Keys are per run: the next run calls again.
  calls = 0
  await o.run(() => f(m))
  assert.equal(calls, 1)
})

test('#13 the Orchestrator keeps its state option live; an operations key does not break calls; state: 5 is refused', T, async () => {
  const state = { requests: 0 }
  const o = new Orchestrator({ state })
  assert.equal(o.getState(), state)
  assert.equal(typeof state.id, 'string')
  assert.deepEqual(state.operations, [])
  const hit = o.action(() => {
    state.requests++
    return o.getState().requests
  })
  assert.equal(await o.run(() => hit()), 1)
  assert.equal(state.requests, 1)
  assert.equal(state.operations.length, 1)
  assert.equal(typeof state.startTime, 'number')
  // Its own id is kept; an `operations` key that is not an array is left alone and calls work.
  for (const operations of [5, 'ops', null, { a: 1 }]) {
    const s = { id: 'mine', operations }
    const p = new Orchestrator({ state: s })
    const f = p.action((x) => x * 2)
    const seen = []
    p.onTaskBegin(({ name }) => seen.push(name))
    assert.equal(await p.run(async () => (await f(2)) + (await f(3))), 10)
    assert.equal(p.getState(), s)
    assert.equal(s.id, 'mine')
    assert.equal(s.operations, operations)
    assert.equal(seen.length, 2)
  }
  // An operations array of its own gets the records.
  const mine = []
  const q = new Orchestrator({ state: { operations: mine } })
  await q.run(() => q.action(() => 1)())
  assert.equal(mine.length, 1)
  for (const bad of [5, 'x', null, true]) {
    assert.throws(() => new Orchestrator({ state: bad }), (e) => e instanceof TypeError && /options\.state/.test(e.message))
  }
})
