'use strict'
// Native objects of finished runs are released, collected flows and orchestrators free their
// native definitions and options, and a finished run leaves no timer or immediate behind.
const { test } = require('node:test')
const assert = require('node:assert/strict')
const v8 = require('node:v8')
const vm = require('node:vm')
const { spawnSync } = require('node:child_process')
const native = require('../native.js')
const { Flow, Orchestrator } = require('..')

v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc')

/**
 * Collects garbage and lets the event loop turn (FinalizationRegistry callbacks run there, as
 * tasks of their own) until `done()` or a bounded number of rounds.
 */
async function collect(done = () => false) {
  for (let i = 0; i < 200 && !(i >= 6 && done()); i++) {
    gc()
    await new Promise((r) => setImmediate(r))
  }
}

// [flows, runs, registered options, reports]
const counts = () => {
  const [flows, runs, options, reports] = native.liveCounts()
  return { flows, runs, options, reports }
}

/** Our timers and immediates (the test runner's own are counted before and after alike). */
const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout' || r === 'Immediate').length

/** Runs flows and orchestrators and drops them (in a frame of its own, gone when it returns). */
async function churn(before) {
  let alive = 0
  for (let k = 0; k < 50; k++) {
    const f = new Flow({ maxParallel: 4 })
    for (let i = 0; i < 100; i++) {
      f.step(`s${i}`, async (ctx) => { if (i % 10 === 0) await ctx.spawn(`child${i}`, () => i, { retries: 1 }); return i },
        { after: i ? [`s${i - 1}`] : [], timeout: 1000, retries: i % 2 })
    }
    const r = await f.run()
    assert.equal(r.ok, true)
    assert.equal(counts().runs, before.runs, 'a finished run holds no native run')
    alive = Math.max(alive, counts().flows - before.flows)
    const o = new Orchestrator({ timeout: 5000 })
    const twice = o.action(async (x) => 2 * x, { retries: 2, timeout: 100 })
    assert.equal(await o.run(async () => (await twice(1)) + (await twice(2))), 6)
    const g = new Flow()
    g.step('bad', () => { throw new Error('x') }, { retries: 1 })
    await assert.rejects(g.run())
  }
  return alive
}

test('finished runs, collected flows and orchestrators release their native objects', { timeout: 60_000 }, async () => {
  await collect()
  const before = counts()
  const alive = await churn(before)
  assert.ok(alive > 0, 'the flows are counted while they are alive (the counter is not vacuous)')
  await collect(() => JSON.stringify(counts()) === JSON.stringify(before))
  assert.deepEqual(counts(), before)
})

test('a finished run leaves no timer or immediate behind: success, timeout, backoff, cancel, run timeout', { timeout: 30_000 }, async () => {
  const base = timers()
  const f = new Flow()
  f.step('quick', () => 1, { timeout: 10_000 })
  f.step('flaky', (ctx) => { if (ctx.attempt < 2) throw new Error('again'); return 2 }, { retries: 1, backoff: 5, timeout: 10_000 })
  f.step('slow', (ctx) => new Promise((r) => { const t = setTimeout(r, 60_000); ctx.signal.addEventListener('abort', () => clearTimeout(t)) }), { timeout: 20 })
  await f.run().catch(() => {})
  assert.equal(timers(), base, 'after a run with timeouts and a backoff')

  const ac = new AbortController()
  const g = new Flow({ timeout: 60_000 })
  g.step('hang', (ctx) => new Promise((r) => ctx.signal.addEventListener('abort', r)), { timeout: 60_000 })
  const p = g.run({ signal: ac.signal }).catch((e) => e)
  await new Promise((r) => setImmediate(r))
  ac.abort()
  const e = await p
  assert.equal(e.report.tasks.hang.status, 'cancelled')
  assert.equal(timers(), base, 'after a cancelled run')

  const h = new Flow({ timeout: 10 })
  h.step('hang', (ctx) => new Promise((r) => ctx.signal.addEventListener('abort', r)))
  await h.run().catch(() => {})
  assert.equal(timers(), base, 'after a run timeout')

  const o = new Orchestrator({ timeout: 60_000 })
  const a = o.action(async () => 1, { timeout: 60_000 })
  await o.run(() => a())
  assert.equal(timers(), base, 'after an orchestrator run')
})

test('a loop that awaits only promises still frees the native objects of the flows and orchestrators it drops', { timeout: 60_000 }, async () => {
  await collect()
  const before = counts()
  const noop = async () => {}
  // Without a macrotask, Node never runs the finalizers that free them: 60 flows of 10,001
  // steps would all stay alive natively.
  let most = 0
  for (let k = 0; k < 60; k++) {
    const f = new Flow()
    const names = []
    for (let i = 0; i < 10_000; i++) { f.step(`t${i}`, noop); names.push(`t${i}`) }
    f.step('sink', noop, { after: names })
    assert.equal((await f.run()).ok, true)
    most = Math.max(most, counts().flows - before.flows)
  }
  assert.ok(most < 30, `at most ${most} of 60 dropped flows alive at once`)
  // An orchestrator run makes a report and its action's options: 2 native objects.
  let reports = 0
  for (let k = 0; k < 70_000; k++) {
    const o = new Orchestrator()
    const twice = o.action(async (x) => 2 * x, { retries: 1 })
    assert.equal(await o.run(() => twice(k)), 2 * k)
    reports = Math.max(reports, counts().reports - before.reports)
  }
  assert.ok(reports < 60_000, `at most ${reports} of 70,000 reports alive at once`)
})

test('runs still settle under fake timers, installed before or after legato is loaded', { timeout: 60_000 }, () => {
  // Each in a process of its own; 100,000 steps: past the point where a run settles an
  // immediate later, which must not be a faked one.
  const install = `const clock = require(${JSON.stringify(require.resolve('@sinonjs/fake-timers'))}).install()\n`
  const load = `const { Flow } = require(${JSON.stringify(require.resolve('..'))})\n`
  const loop = `
    ;(async () => {
      for (let k = 0; k < 10; k++) {
        const f = new Flow()
        for (let i = 0; i < 10000; i++) f.step('t' + i, () => i)
        if (!(await f.run()).ok) throw new Error('not ok')
      }
      clock.uninstall()
      console.log('settled')
    })()`
  for (const script of [install + load + loop, load + install + loop]) {
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000 })
    assert.equal(r.stdout.trim(), 'settled', r.stderr)
  }
})

test("a major collection between runs keeps the driver's compiled code (runs keep their hidden class)", { timeout: 60_000 }, (t) => {
  // In a child process with V8's test natives: the driver's per-task functions are compiled,
  // every flow and run is dropped, two full collections run, and the functions must still be
  // compiled. Without a run kept alive for its shape, the collections clear the runs' hidden
  // classes and V8 throws the code compiled against them away ("weak objects").
  const script = `
    const { Flow } = require(${JSON.stringify(require.resolve('..'))})
    const { Driver } = require(${JSON.stringify(require.resolve('../lib/driver.js'))})
    const fns = [Driver.prototype.perform, Driver.prototype.record, Driver.prototype.ended]
    const status = new Function('f', 'return %GetOptimizationStatus(f)')
    const prepare = new Function('f', '%PrepareFunctionForOptimization(f)')
    const optimize = new Function('f', '%OptimizeFunctionOnNextCall(f)')
    const TURBOFANNED = 1 << 4
    async function churn() {
      const flow = new Flow()
      for (let i = 0; i < 50; i++) flow.step('s' + i, async () => i, i ? { after: ['s' + (i - 1)] } : undefined)
      await flow.run()
    }
    ;(async () => {
      for (let k = 0; k < 20; k++) await churn()
      for (const f of fns) prepare(f)
      await churn()
      for (const f of fns) optimize(f)
      await churn()
      const before = fns.map((f) => (status(f) & TURBOFANNED) !== 0)
      gc(); gc()
      await new Promise((r) => setImmediate(r))
      const after = fns.map((f) => (status(f) & TURBOFANNED) !== 0)
      console.log(JSON.stringify({ before, after }))
    })()`
  const r = spawnSync(process.execPath, ['--expose-gc', '--allow-natives-syntax', '-e', script], { encoding: 'utf8', timeout: 30_000 })
  assert.equal(r.status, 0, r.stderr)
  const { before, after } = JSON.parse(r.stdout.trim().split('\n').pop())
  if (!before.every(Boolean)) return t.skip(`this V8 did not compile the functions when asked (${JSON.stringify(before)})`)
  assert.deepEqual(after, [true, true, true])
})
