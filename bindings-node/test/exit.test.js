'use strict'
// Nothing legato leaves behind keeps the process alive: neither a finished run nor an
// abandoned one (a child process must exit by itself).
const { test } = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { spawnSync } = require('node:child_process')

const entry = JSON.stringify(path.join(__dirname, '..'))

function runChild(code) {
  const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 15_000 })
  assert.equal(r.error, undefined, `the child did not exit by itself: ${r.error && r.error.message}`)
  assert.equal(r.status, 0, r.stderr)
  return r.stdout
}

test('a process exits once its runs are finished (timeouts, backoff, hooks, orchestrator)', { timeout: 30_000 }, () => {
  const out = runChild(`
    const { Flow, Orchestrator } = require(${entry})
    ;(async () => {
      const f = new Flow({ timeout: 60_000 })
      f.onTaskBegin(async () => {})
      f.step('a', (ctx) => { if (ctx.attempt < 2) throw new Error('x'); return 1 }, { retries: 2, backoff: 5, timeout: 60_000 })
      f.step('b', () => 2, { after: ['a'], timeout: 60_000 })
      const r = await f.run()
      const o = new Orchestrator({ timeout: 60_000 })
      const act = o.action(async (x) => x, { timeout: 60_000, retries: 1 })
      await o.run(() => act(1))
      console.log('done', r.ok)
    })()
  `)
  assert.equal(out.trim(), 'done true')
})

test('an abandoned run (a step that never settles, nobody awaiting) does not keep the process alive', { timeout: 30_000 }, () => {
  const out = runChild(`
    const { Flow, Orchestrator } = require(${entry})
    const f = new Flow()
    f.step('never', () => new Promise(() => {}))
    f.run()
    const o = new Orchestrator()
    const stuck = o.action(() => new Promise(() => {}))
    o.run(() => stuck())
    console.log('left')
  `)
  assert.equal(out.trim(), 'left')
})
