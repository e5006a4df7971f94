'use strict'
// Issue 18: the Node door decides nothing the core decides. Run options go through the core's
// one validation (maxDepth included); calls nested deeper than maxDepth fail with the core's
// RangeError (rule 8); a runaway recursion leaves the event loop its turns; main is started
// and stopped by the core (a main that throws cancels the calls it left running); a fail-fast
// group is the core's (it cancels only the members its caller made).
const { test } = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { Flow, Orchestrator, FlowError, CancelledError } = require('..')

const T = { timeout: 20_000 }
const root = path.join(__dirname, '..')

/** Runs `code` in a child Node process (a freeze would hang the suite): its JSON output. */
function child(code, timeout = 15_000) {
  const r = spawnSync(process.execPath, ['-e', code], { cwd: root, encoding: 'utf8', timeout })
  assert.equal(r.signal, null, `the child was stopped (${r.signal}): it froze\n${r.stderr}`)
  assert.equal(r.status, 0, r.stderr)
  return JSON.parse(r.stdout.trim().split('\n').pop())
}

// ----- run options: the core's validation --------------------------------------------------

test('run options: values refused by the core, with its text, for Flow and Orchestrator', () => {
  for (const C of [Flow, Orchestrator]) {
    assert.throws(() => new C({ maxDepth: 0 }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE', message: /^options\.maxDepth: must be a whole number >= 1, got 0$/ })
    assert.throws(() => new C({ maxDepth: 2.5 }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE', message: /^options\.maxDepth/ })
    assert.throws(() => new C({ maxDepth: '10' }), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: /^options\.maxDepth: must be a number/ })
    assert.throws(() => new C({ maxParallel: NaN }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE', message: 'options.maxParallel: must be a whole number >= 1, got NaN' })
    assert.throws(() => new C({ maxParallel: '4' }), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: /^options\.maxParallel: must be a number/ })
    assert.throws(() => new C({ timeout: -1 }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE', message: /^options\.timeout: must be a number of milliseconds greater than zero/ })
    assert.throws(() => new C({ failFast: 1 }), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: /^options\.failFast: must be a boolean/ })
    assert.throws(() => new C({ maxDeep: 1 }), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: /^options\.maxDeep: unknown option/ })
    assert.throws(() => new C('fast'), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' })
    // Accepted: no limit, and a large depth.
    new C({ maxParallel: Infinity, maxDepth: 1e12, timeout: Infinity })
  }
})

// ----- rule 8: max_depth ---------------------------------------------------------------------

test('rule 8: an action nested deeper than maxDepth fails with the core\'s RangeError, ERR_LEGATO_DEPTH', T, async () => {
  const o = new Orchestrator({ maxDepth: 5 })
  let calls = 0
  // (An arrow function: a named function expression would call itself, not the action.)
  const down = o.action(async (n) => {
    calls++
    return down(n + 1)
  }, { name: 'down' })
  const e = await o.run(() => down(0)).catch((x) => x)
  assert.ok(e instanceof RangeError, String(e))
  assert.equal(e.code, 'ERR_LEGATO_DEPTH')
  assert.equal(e.message, 'call depth exceeded 5 (max_depth)')
  // Depths 1..5 ran; the sixth call never ran and failed.
  assert.equal(calls, 5)
  const list = o.report.list
  assert.equal(list.length, 6)
  assert.equal(list[5].status, 'failed')
  assert.equal(list[5].error.code, 'ERR_LEGATO_DEPTH')
  assert.equal(list[5].attempts, 0)
})

test('rule 8: ctx.spawn nested deeper than maxDepth fails the same way', T, async () => {
  const f = new Flow({ maxDepth: 3 })
  const deeper = (ctx) => ctx.spawn('deeper', deeper)
  f.step('root', deeper)
  const e = await f.run().catch((x) => x)
  assert.ok(e instanceof FlowError, String(e))
  const cause = e.report.tasks.root.error
  assert.ok(cause instanceof RangeError, String(cause))
  assert.equal(cause.code, 'ERR_LEGATO_DEPTH')
  assert.equal(cause.message, 'call depth exceeded 3 (max_depth)')
})

test('rule 8: a runaway recursion (default maxDepth) ends with ERR_LEGATO_DEPTH and leaves timers their turns', T, () => {
  const out = child(`
    const { Orchestrator } = require('.')
    const o = new Orchestrator()
    const again = o.action(async (n) => again(n + 1), { name: 'again' })
    let ticks = 0
    const iv = setInterval(() => { ticks++ }, 1)
    const t0 = Date.now()
    o.run(() => again(0)).then(() => console.log('{"ok":true}'), (e) => {
      clearInterval(iv)
      console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message, ticks, ms: Date.now() - t0, n: o.report.list.length }))
    })
  `)
  // The interval fired while the recursion went on (it takes a few hundred ms; before the
  // driver handed the event loop its turns, none fired in 220 ms).
  if (out.ms > 40) assert.ok(out.ticks > 0, `no timer fired in ${out.ms} ms`)
  assert.equal(out.name, 'RangeError')
  assert.equal(out.code, 'ERR_LEGATO_DEPTH')
  assert.equal(out.message, 'call depth exceeded 10000 (max_depth)')
  assert.equal(out.n, 10_001)
})

test('rule 8: under a runaway recursion the run timeout and a watchdog still fire (Orchestrator and ctx.spawn)', T, () => {
  const out = child(`
    const { Orchestrator, Flow } = require('.')
    const results = {}
    let watchdog = false
    setTimeout(() => { watchdog = true }, 20)
    const o = new Orchestrator({ timeout: 60, maxDepth: 1e9 })
    const again = o.action(async (n) => again(n + 1), { name: 'again' })
    const t0 = Date.now()
    o.run(() => again(0)).then(() => { results.orch = 'resolved' }, (e) => {
      results.orch = { name: e.name, message: e.message, ms: Date.now() - t0, watchdog }
      const f = new Flow({ timeout: 60, maxDepth: 1e9 })
      const deeper = (ctx) => ctx.spawn('deeper', deeper)
      f.step('root', deeper)
      const t1 = Date.now()
      f.run().then(() => { results.flow = 'resolved' }, (e) => {
        results.flow = { message: e.message, ms: Date.now() - t1 }
        console.log(JSON.stringify(results))
      })
    })
  `)
  assert.deepEqual([out.orch.name, out.orch.message], ['TimeoutError', 'run timed out after 60ms'])
  assert.ok(out.orch.watchdog, 'the watchdog timer fired during the run')
  assert.ok(out.orch.ms < 5_000, `the run timeout fired late: ${out.orch.ms} ms`)
  assert.equal(out.flow.message, 'flow failed: run timed out after 60ms')
  assert.ok(out.flow.ms < 5_000, `the run timeout fired late: ${out.flow.ms} ms`)
})

// ----- main, started and stopped by the core -----------------------------------------------

test('rule 11: a main that throws cancels the calls it left running; run() rejects with main\'s own error at once', T, async () => {
  const o = new Orchestrator()
  let aborted = false
  const slow = o.action(function slow() {
    const signal = o.signal()
    return new Promise((resolve) => {
      const t = setTimeout(resolve, 3_000, 'late')
      signal.addEventListener('abort', () => { aborted = true; clearTimeout(t) })
    })
  })
  const boom = new Error('main broke')
  const t0 = Date.now()
  const e = await o.run(async () => {
    slow().catch(() => {}) // left running, not awaited
    await new Promise((r) => setTimeout(r, 5))
    throw boom
  }).catch((x) => x)
  assert.equal(e, boom)
  assert.ok(Date.now() - t0 < 1_000, `run() waited for the call main left running: ${Date.now() - t0} ms`)
  assert.ok(aborted, 'the call main left running was cancelled')
  assert.equal(o.report.tasks.slow.status, 'cancelled')
  assert.equal(o.report.stop, 'main failed')
})

test('rule 9: main does not start when a process_begin hook throws', T, async () => {
  const o = new Orchestrator()
  let started = false
  o.onProcessBegin(async () => { throw new Error('no key') })
  const e = await o.run(() => { started = true }).catch((x) => x)
  assert.equal(e.name, 'HookError')
  assert.equal(e.message, 'hook for event "process_begin" failed: no key')
  assert.equal(e.cause.message, 'no key')
  assert.equal(started, false)
})

// ----- fail-fast groups and cached calls, routed in the core --------------------------------

test('parallel failFast: the core cancels the members the group\'s caller made, not a cached call another caller made', T, async () => {
  const o = new Orchestrator()
  const slow = o.action(function slow(x) {
    return new Promise((r) => setTimeout(r, 30, `slow ${x}`))
  }, { cache: true })
  const bad = o.action(async function bad() {
    await new Promise((r) => setTimeout(r, 5))
    throw new Error('bad')
  })
  const other = o.action(function other() {
    const signal = o.signal()
    return new Promise((resolve, reject) => {
      const t = setTimeout(resolve, 2_000, 'other')
      signal.addEventListener('abort', () => { clearTimeout(t); reject(signal.reason) })
    })
  })
  const starter = o.action(async function starter() {
    return slow(1)
  })
  const both = o.parallel([slow, bad, other], { failFast: true })
  const out = await o.run(async () => {
    const mine = starter() // another caller makes the cached call slow(1)
    await new Promise((r) => setTimeout(r, 1))
    const e = await both(1, 0, 0).catch((x) => x)
    return { e, mine: await mine.catch((x) => x) }
  })
  assert.equal(out.e.message, 'bad')
  // slow(1) was made by another caller and only joined by the group: it runs on.
  assert.equal(out.mine, 'slow 1')
  assert.equal(o.report.tasks.other.status, 'cancelled')
  assert.equal(o.report.list.filter((t) => t.name === 'slow').length, 1)
})

test('cached calls: every waiter of a failed cached call gets the same error object; a done call is joined at once', T, async () => {
  const o = new Orchestrator({ maxParallel: 1 })
  const boom = new Error('once')
  const once = o.action(async function once() {
    await new Promise((r) => setTimeout(r, 5))
    throw boom
  }, { cache: true })
  const user = o.action(async function user() {
    return once().catch((e) => e)
  })
  const out = await o.run(async () => {
    const [a, b] = await Promise.all([user(), user()])
    const c = await once().catch((e) => e)
    return [a, b, c]
  })
  assert.deepEqual(out.map((e) => e === boom), [true, true, true])
  assert.equal(o.report.list.filter((t) => t.name === 'once').length, 1)
  assert.ok(!(CancelledError.prototype.isPrototypeOf(out[0])))
})
