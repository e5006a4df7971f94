'use strict'
// Issue 20's High items 1-4 as fault tests, each in a child process with a timeout (a crash,
// a native stack overflow or a frozen loop would take the test runner with it): a thenable
// whose `then` throws (1), long chains failing, cancelled, timed out and failing fast, on the
// main thread and in a Worker, and a deep ctx.spawn chain cancelled (2), a runaway recursion
// (3: test/issue18.test.js, "rule 8" child tests), an Orchestrator whose main hangs outside
// any action under a run timeout (4).
const { test } = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { spawnSync } = require('node:child_process')

const root = path.join(__dirname, '..')

/** Runs `code` in a child Node process; its last line of output, parsed as JSON. */
function child(code, timeout = 60_000) {
  const r = spawnSync(process.execPath, ['-e', code], { cwd: root, encoding: 'utf8', timeout })
  assert.equal(r.error, undefined, `the child did not finish: ${r.error && r.error.message}\n${r.stderr}`)
  assert.equal(r.signal, null, `the child was killed by ${r.signal} (a crash or a freeze)\n${r.stderr}`)
  assert.equal(r.status, 0, r.stderr)
  return JSON.parse(r.stdout.trim().split('\n').pop())
}

test('#1 a thenable whose then throws (step, action, hook, main) fails that task or run; the process lives, with and without handlers', { timeout: 90_000 }, () => {
  for (const handlers of [false, true]) {
    const out = child(`
      const { Flow, Orchestrator } = require('.')
      if (${handlers}) {
        process.on('uncaughtException', (e) => { console.log(JSON.stringify({ uncaught: String(e) })); process.exit(3) })
        process.on('unhandledRejection', (e) => { console.log(JSON.stringify({ unhandled: String(e) })); process.exit(4) })
      }
      const bad = (msg) => ({ then() { throw new Error(msg) } })
      ;(async () => {
        const out = {}
        const f = new Flow()
        f.step('step', () => bad('from step'))
        f.step('after', () => 1, { after: ['step'] })
        const e1 = await f.run().catch((e) => e)
        out.step = [e1.report.tasks.step.status, e1.report.tasks.step.error.message, e1.report.tasks.after.status]
        const o = new Orchestrator()
        const act = o.action(() => bad('from action'))
        out.action = await o.run(async () => { try { await act() } catch (e) { return e.message } })
        const h = new Flow()
        h.step('x', () => 1)
        h.onTaskBegin(() => bad('from hook'))
        const e3 = await h.run().catch((e) => e)
        out.hook = [e3.name, e3.cause.name, e3.cause.cause.message]
        const m = new Orchestrator()
        out.main = await m.run(() => bad('from main')).catch((e) => e.message)
        console.log(JSON.stringify(out))
      })()
    `)
    assert.deepEqual(out, {
      step: ['failed', 'from step', 'skipped'],
      action: 'from action',
      hook: ['FlowError', 'HookError', 'from hook'],
      main: 'from main',
    }, `handlers installed: ${handlers}`)
  }
})

test('#2 a 100,000-step chain failing at its head, cancelled, timed out or failing fast: no stack overflow', { timeout: 120_000 }, () => {
  const out = child(`
    const { Flow } = require('.')
    const N = 100_000
    function chain(opts, head) {
      const f = new Flow(opts)
      f.step('t0', head)
      for (let i = 1; i < N; i++) f.step('t' + i, () => i, { after: ['t' + (i - 1)] })
      return f
    }
    const hang = (ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', resolve))
    const count = (r, s) => r.list.filter((t) => t.status === s).length
    ;(async () => {
      const out = {}
      let e = await chain({}, () => { throw new Error('head') }).run().catch((x) => x)
      out.fails = [e.message, count(e.report, 'skipped')]
      const ac = new AbortController()
      const c = chain({}, (ctx) => { setImmediate(() => ac.abort()); return hang(ctx) })
      e = await c.run({ signal: ac.signal }).catch((x) => x)
      out.cancelled = [e.report.tasks.t0.status, count(e.report, 'skipped')]
      e = await chain({ timeout: 20 }, hang).run().catch((x) => x)
      out.timeout = [e.message, count(e.report, 'skipped')]
      const f = chain({ failFast: true }, async () => { await new Promise((r) => setImmediate(r)); throw new Error('head') })
      f.step('side', hang)
      e = await f.run().catch((x) => x)
      out.failFast = [e.report.tasks.side.status, count(e.report, 'skipped')]
      console.log(JSON.stringify(out))
    })()
  `)
  assert.deepEqual(out, {
    fails: ['flow failed: task "t0" failed: head', 99_999],
    cancelled: ['cancelled', 99_999],
    timeout: ['flow failed: run timed out after 20ms', 99_999],
    failFast: ['cancelled', 99_999],
  })
})

test('#2 in a Worker (a smaller stack): a 40,000-step chain failing at its head; a 40,000-deep ctx.spawn chain cancelled', { timeout: 120_000 }, () => {
  const out = child(`
    const { Worker } = require('node:worker_threads')
    const w = new Worker(\`
      const { parentPort } = require('node:worker_threads')
      const { Flow } = require(\${JSON.stringify(require.resolve('.'))})
      ;(async () => {
        const N = 40_000
        const f = new Flow()
        f.step('t0', () => { throw new Error('head') })
        for (let i = 1; i < N; i++) f.step('t' + i, () => i, { after: ['t' + (i - 1)] })
        const e = await f.run().catch((x) => x)
        const skipped = e.report.list.filter((t) => t.status === 'skipped').length
        // A spawn chain 40,000 deep, cancelled from outside once it is that deep.
        const ac = new AbortController()
        const g = new Flow({ maxDepth: 1e6 })
        let depth = 0
        const deeper = (ctx) => {
          if (++depth === N) { setImmediate(() => ac.abort()); return new Promise((r) => ctx.signal.addEventListener('abort', r)) }
          return ctx.spawn('d', deeper)
        }
        g.step('root', deeper)
        const e2 = await g.run({ signal: ac.signal }).catch((x) => x)
        parentPort.postMessage({ skipped, spawned: e2.report.list.length, cancelled: e2.report.list.filter((t) => t.status === 'cancelled').length, message: e2.message })
      })()
    \`, { eval: true })
    w.on('message', (m) => console.log(JSON.stringify(m)))
    w.on('error', (e) => { console.log(JSON.stringify({ error: String(e) })) })
  `)
  assert.deepEqual(out, { skipped: 39_999, spawned: 40_000, cancelled: 40_000, message: 'flow failed: run cancelled' })
})

test('#4 an Orchestrator with a run timeout settles when main hangs outside any action', { timeout: 30_000 }, () => {
  const out = child(`
    const { Orchestrator } = require('.')
    // Something keeps the loop alive, as a pending fetch would.
    const keepAlive = setInterval(() => {}, 1000)
    const o = new Orchestrator({ timeout: 50 })
    const t0 = Date.now()
    let mainSignal
    o.run(() => { mainSignal = o.signal(); return new Promise(() => {}) }).then(
      () => console.log('{"resolved":true}'),
      (e) => {
        clearInterval(keepAlive)
        console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message, aborted: mainSignal.aborted, same: mainSignal.reason === e, late: Date.now() - t0 > 10_000 }))
      })
  `)
  assert.deepEqual(out, { name: 'TimeoutError', code: 'ERR_LEGATO_TIMEOUT', message: 'run timed out after 50ms', aborted: true, same: true, late: false })
})
