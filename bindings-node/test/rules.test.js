'use strict'
// DESIGN.md's scheduler rules where the Node door itself has something to get right: thenables
// and thrown values (rule 13), hook errors (rule 9), cached calls in flight (rule 8), the run
// timeout and cancel stopping main (rule 11), a long failing chain (rule 14).
const { test } = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { Flow, Orchestrator, FlowError, HookError, TaskTimeoutError, CancelledError } = require('..')

const T = { timeout: 10_000 }

/** A promise and the functions that settle it. */
function gate() {
  let open
  let fail
  const p = new Promise((resolve, reject) => {
    open = resolve
    fail = reject
  })
  return { p, open, fail }
}

/** A thenable whose `then` throws `e`. */
const badThen = (e) => ({ then() { throw e } })

// ----- rule 13: thenables --------------------------------------------------------------------

test('rule 13: a step returning a thenable whose then throws fails that step', T, async () => {
  const boom = new Error('then broke')
  const f = new Flow()
  f.step('a', () => badThen(boom))
  f.step('b', () => 1, { after: ['a'] })
  f.step('c', () => 2)
  const e = await f.run().catch((x) => x)
  assert.ok(e instanceof FlowError, String(e))
  assert.equal(e.report.tasks.a.status, 'failed')
  assert.equal(e.report.tasks.a.error, boom)
  assert.equal(e.report.tasks.b.status, 'skipped')
  assert.equal(e.report.tasks.c.status, 'succeeded')

  // A `then` getter that throws, and a function that is a thenable.
  const g = new Flow()
  g.step('getter', () => ({ get then() { throw boom } }))
  const fnThenable = () => {}
  fnThenable.then = () => { throw boom }
  g.step('fn', () => fnThenable)
  const e2 = await g.run().catch((x) => x)
  assert.equal(e2.report.tasks.getter.error, boom)
  assert.equal(e2.report.tasks.fn.error, boom)
})

test('rule 13: a then that calls back first and throws after keeps the first outcome', T, async () => {
  const f = new Flow()
  f.step('a', () => ({ then(ok) { ok(7); throw new Error('late') } }))
  const r = await f.run()
  assert.equal(r.tasks.a.result, 7)
})

test('rule 13: an action, main and a hook returning a thenable whose then throws', T, async () => {
  const boom = new Error('then broke')
  const o = new Orchestrator()
  const act = o.action(function act() { return badThen(boom) })
  let caught
  const v = await o.run(async () => {
    caught = await act().catch((x) => x)
    return 'main done'
  })
  assert.equal(v, 'main done')
  assert.equal(caught, boom)
  assert.equal(o.report.tasks.act.status, 'failed')
  assert.equal(o.report.tasks.act.error, boom)

  await assert.rejects(o.run(() => badThen(boom)), (x) => x === boom)

  const h = new Orchestrator()
  h.onTaskBegin(() => badThen(boom))
  const a = h.action(async function a() { return 1 })
  await assert.rejects(h.run(() => a()), (x) => x instanceof HookError && x.cause === boom)

  const f = new Flow()
  f.onTaskSuccess(() => badThen(boom))
  f.step('s', () => 1)
  await assert.rejects(f.run(), (x) => x instanceof FlowError && x.cause instanceof HookError && x.cause.cause === boom)
})

test('rule 13: a thenable that never calls back is a task that never finishes (its timeout applies)', T, async () => {
  const f = new Flow()
  f.step('stuck', () => ({ then() {} }), { timeout: 30 })
  const e = await f.run().catch((x) => x)
  assert.equal(e.report.tasks.stuck.status, 'timed_out')
  assert.ok(e.report.tasks.stuck.error instanceof TaskTimeoutError)
})

// ----- rule 13: thrown values kept as given --------------------------------------------------

test('rule 13: throw undefined, a string or a number from a step is its error as thrown', T, async () => {
  for (const [value, text] of [[undefined, 'undefined'], ['text', 'text'], [42, '42']]) {
    const f = new Flow()
    const failures = []
    f.onTaskFailure((e) => failures.push(e))
    f.step('a', () => { throw value })
    const e = await f.run().catch((x) => x)
    assert.ok(e instanceof FlowError, String(e))
    assert.equal(e.message, `flow failed: task "a" failed: ${text}`)
    assert.equal(e.report.tasks.a.status, 'failed')
    assert.equal(e.report.tasks.a.error, value)
    assert.ok('error' in failures[0])
    assert.equal(failures[0].error, value)
    // Rejected with it too (async body).
    const g = new Flow()
    g.step('b', async () => { throw value })
    const e2 = await g.run().catch((x) => x)
    assert.equal(e2.report.tasks.b.status, 'failed')
    assert.equal(e2.report.tasks.b.error, value)
  }
})

test('rule 13: an action call rejects with the value thrown, and the report keeps it', T, async () => {
  for (const value of [undefined, 'text', 42]) {
    const o = new Orchestrator()
    const retried = []
    o.onTaskRetry((e) => retried.push(e.error))
    const act = o.action(function act() { throw value }, { retries: 1 })
    let caught = 'not rejected'
    await o.run(async () => {
      try {
        await act()
      } catch (x) {
        caught = x
      }
    })
    assert.equal(caught, value)
    assert.deepEqual(retried, [value])
    assert.equal(o.report.tasks.act.status, 'failed')
    assert.equal(o.report.tasks.act.error, value)
    // Unhandled by main: run() rejects with it.
    const p = o.run(() => act())
    await assert.rejects(p.then(() => { throw new Error('resolved') }, (x) => {
      if (x !== value) throw new Error(`rejected with ${String(x)}`)
      throw new Error('ok')
    }), { message: 'ok' })
  }
})

// ----- rule 9: hook errors keep the cause ----------------------------------------------------

test('rule 9: a hook that throws fails the run with a HookError naming the hook and event, cause kept', T, async () => {
  const own = { not: 'an Error' }
  const f = new Flow()
  f.onTaskBegin(function auditLog() { throw own })
  f.step('a', () => 1)
  const e = await f.run().catch((x) => x)
  assert.ok(e instanceof FlowError)
  assert.ok(e.cause instanceof HookError)
  assert.equal(e.cause.code, 'ERR_LEGATO_HOOK_FAILED')
  assert.equal(e.cause.cause, own)
  assert.equal(e.cause.event, 'task_begin')
  assert.equal(e.cause.hook, 'auditLog')
  assert.match(e.cause.message, /"task_begin"/)

  const boom = new Error('metrics down')
  const o = new Orchestrator()
  o.onProcessCompletion(async () => { throw boom })
  const act = o.action(async function act() { return 1 })
  const e2 = await o.run(() => act()).catch((x) => x)
  assert.ok(e2 instanceof HookError, String(e2))
  assert.equal(e2.code, 'ERR_LEGATO_HOOK_FAILED')
  assert.equal(e2.cause, boom)
  assert.equal(e2.event, 'process_completion')
  assert.equal(e2.hook, 'onProcessCompletion')
  assert.equal(e2.message, 'hook for event "process_completion" failed: metrics down')

  const o2 = new Orchestrator()
  o2.onTaskSuccess(() => { throw 'plain text' })
  const act2 = o2.action(async function act2() { return 1 })
  const e3 = await o2.run(() => act2()).catch((x) => x)
  assert.ok(e3 instanceof HookError)
  assert.equal(e3.cause, 'plain text')
  assert.equal(e3.message, 'hook for event "task_success" failed: plain text')
})

test('rule 9: a hook that throws while main still runs fails the run without waiting for main', T, async () => {
  const boom = new Error('hook broke')
  const o = new Orchestrator()
  o.onTaskSuccess(() => { throw boom })
  const act = o.action(async function act() { return 1 })
  const never = gate()
  const e = await o.run(async () => {
    await act()
    await never.p
  }).catch((x) => x)
  assert.ok(e instanceof HookError)
  assert.equal(e.cause, boom)
})

// ----- rule 8: a cached call in flight -------------------------------------------------------

test('rule 8: a cached action called twice at once under maxParallel 1 does not deadlock', T, async () => {
  const o = new Orchestrator({ maxParallel: 1, timeout: 5_000 })
  let runs = 0
  const cached = o.action(async function cached(n) { runs++; return n * 2 }, { cache: true })
  const a = o.action(async function a() { return cached(1) })
  const b = o.action(async function b() { return cached(1) })
  const r = await o.run(() => Promise.all([a(), b()]))
  assert.deepEqual(r, [2, 2])
  assert.equal(runs, 1)
  assert.deepEqual(o.report.list.map((t) => t.status), ['succeeded', 'succeeded', 'succeeded'])

  // A failure reaches both callers.
  const boom = new Error('no')
  const o2 = new Orchestrator({ maxParallel: 1, timeout: 5_000 })
  const bad = o2.action(async function bad() { throw boom }, { cache: true })
  const c = o2.action(async function c() { return bad().catch((x) => x) })
  const r2 = await o2.run(() => Promise.all([c(), c()]))
  assert.deepEqual(r2, [boom, boom])
})

test('rule 8: a cached call started by main and awaited by an action gives the action\'s slot back', T, async () => {
  const o = new Orchestrator({ maxParallel: 2, timeout: 5_000 })
  const g = gate()
  const cached = o.action(async function cached() { await g.p; return 'v' }, { cache: true })
  const waiter = o.action(async function waiter() { return cached() })
  // Runs only once the waiter has given its slot back (cached holds the other).
  const opener = o.action(function opener() { g.open() })
  const r = await o.run(async () => {
    const p = cached()
    const w = waiter()
    const q = opener()
    return Promise.all([p, w, q])
  })
  assert.deepEqual(r, ['v', 'v', undefined])
})

test('rule 8: a cached call started by an action and awaited by main', T, async () => {
  const o = new Orchestrator({ maxParallel: 1, timeout: 5_000 })
  const g = gate()
  const started = gate()
  const cached = o.action(async function cached() { started.open(); await g.p; return 'v' }, { cache: true })
  const caller = o.action(async function caller() { return cached() })
  const r = await o.run(async () => {
    const c = caller()
    await started.p
    const m = cached()
    g.open()
    return Promise.all([c, m])
  })
  assert.deepEqual(r, ['v', 'v'])
})

test('rule 8: an action that times out while it waits for a cached call in flight ends timed out', T, async () => {
  const o = new Orchestrator({ maxParallel: 1, timeout: 5_000 })
  const g = gate()
  const cached = o.action(async function cached() { await g.p; return 'v' }, { cache: true })
  const first = o.action(async function first() { return cached() })
  const impatient = o.action(async function impatient() { return cached() }, { timeout: 20 })
  const r = await o.run(async () => {
    const a = first()
    const b = impatient().catch((e) => e)
    const e = await b
    g.open()
    return [await a, e]
  })
  assert.equal(r[0], 'v')
  assert.ok(r[1] instanceof TaskTimeoutError, String(r[1]))
  assert.equal(o.report.tasks.impatient.status, 'timed_out')
  assert.equal(o.report.tasks.cached.status, 'succeeded')
})

// ----- rule 11: the run timeout and cancel stop main -----------------------------------------

test('rule 11: the run timeout stops main: run() rejects with the timeout error, calls end cancelled', T, async () => {
  const o = new Orchestrator({ timeout: 100 })
  let actSignal
  let mainSignal
  const act = o.action(async function act() {
    actSignal = o.signal()
    await new Promise((resolve) => actSignal.addEventListener('abort', resolve))
  })
  const t0 = Date.now()
  let timer
  const e = await o.run(async () => {
    mainSignal = o.signal()
    act().catch(() => {})
    await new Promise((resolve) => { timer = setTimeout(resolve, 1_000) })
    return 'main finished'
  }).catch((x) => x)
  const took = Date.now() - t0
  clearTimeout(timer)
  assert.ok(e instanceof TaskTimeoutError, String(e))
  assert.equal(e.name, 'TimeoutError')
  assert.equal(e.code, 'ERR_LEGATO_TIMEOUT')
  assert.equal(e.message, 'run timed out after 100ms')
  assert.ok(took < 900, `run() took ${took}ms`)
  assert.equal(o.report.tasks.act.status, 'cancelled')
  assert.ok(actSignal.aborted)
  assert.ok(mainSignal.aborted)
  assert.equal(mainSignal.reason, e)
})

test('rule 11: an outside cancel stops main; run() rejects with CancelledError', T, async () => {
  const o = new Orchestrator()
  const ac = new AbortController()
  const started = gate()
  const act = o.action(async function act() {
    started.open()
    await new Promise((resolve) => o.signal().addEventListener('abort', resolve))
  })
  const never = gate()
  const p = o.run(async () => {
    act().catch(() => {})
    await never.p
  }, { signal: ac.signal })
  await started.p
  ac.abort()
  const e = await p.catch((x) => x)
  assert.ok(e instanceof CancelledError, String(e))
  assert.equal(e.code, 'ERR_LEGATO_CANCELLED')
  assert.equal(e.message, 'run cancelled')
  assert.equal(o.report.tasks.act.status, 'cancelled')
})

test('rule 11: fail-fast stops main; run() rejects with the failed call\'s own error', T, async () => {
  const boom = new Error('down')
  const o = new Orchestrator({ failFast: true })
  const bad = o.action(async function bad() { throw boom })
  const slow = o.action(async function slow() { await new Promise((resolve) => o.signal().addEventListener('abort', resolve)) })
  const never = gate()
  const e = await o.run(async () => {
    slow().catch(() => {})
    await bad().catch(() => {})
    await never.p
  }).catch((x) => x)
  assert.equal(e, boom)
  assert.equal(o.report.tasks.bad.status, 'failed')
  assert.equal(o.report.tasks.slow.status, 'cancelled')
})

test('rule 9: async onProcessBegin hooks finish before main starts', T, async () => {
  const o = new Orchestrator()
  const seen = []
  o.onProcessBegin(async () => { await null; await null; seen.push('begin 1') })
  o.onProcessBegin(async () => { await new Promise((resolve) => setImmediate(resolve)); seen.push('begin 2') })
  await o.run(() => { seen.push('main') })
  assert.deepEqual(seen, ['begin 1', 'begin 2', 'main'])
})

// ----- rule 14: a long chain failing at its head ---------------------------------------------

for (const hooked of [false, true]) {
  test(`rule 14: a chain of 100,000 steps whose head fails finishes, every other step skipped (${hooked ? 'an onTaskSkip hook' : 'no hooks'})`, { timeout: 120_000 }, () => {
    const entry = JSON.stringify(path.join(__dirname, '..'))
    // A child process: a stack overflow in native code kills the process, not just a test.
    const r = spawnSync(process.execPath, ['-e', `
      const { Flow } = require(${entry})
      const N = 100_000
      const f = new Flow()
      let skips = 0
      if (${hooked}) f.onTaskSkip(() => { skips++ })
      f.step('t0', () => { throw new Error('head') })
      for (let i = 1; i < N; i++) f.step('t' + i, () => i, { after: ['t' + (i - 1)] })
      f.run().then(() => console.log('resolved'), (e) => {
        const counts = {}
        for (const t of e.report.list) counts[t.status] = (counts[t.status] || 0) + 1
        console.log(JSON.stringify({ counts, skips, reason: e.report.tasks['t' + (N - 1)].skipReason }))
      })
    `], { encoding: 'utf8', timeout: 100_000 })
    assert.equal(r.error, undefined, r.error && r.error.message)
    assert.equal(r.signal, null, `the child died of ${r.signal}`)
    assert.equal(r.status, 0, r.stderr)
    assert.deepEqual(JSON.parse(r.stdout), {
      counts: { failed: 1, skipped: 99_999 }, skips: hooked ? 99_999 : 0, reason: 'dependency "t0" failed',
    })
  })
}
