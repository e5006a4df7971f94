'use strict'
// Properties of random flows (fast-check): each task runs once, after its dependencies; the
// skipped tasks are exactly the failures' descendants; never more than maxParallel at once.
const { test } = require('node:test')
const assert = require('node:assert/strict')
const fc = require('fast-check')
const { Flow } = require('..')

const yieldTurns = async (k) => {
  for (let i = 0; i < k; i++) await new Promise((r) => setImmediate(r))
}

const arbFlow = fc.integer({ min: 1, max: 25 }).chain((n) => fc.record({
  n: fc.constant(n),
  deps: fc.array(fc.array(fc.nat(), { maxLength: 3 }), { minLength: n, maxLength: n }),
  fails: fc.array(fc.boolean({ trueWeight: 1, falseWeight: 5 }), { minLength: n, maxLength: n }),
  turns: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: n, maxLength: n }),
  sync: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
  maxParallel: fc.integer({ min: 1, max: 6 }),
}))

test('random flows: once each, after deps, skips = failures\' descendants, within maxParallel', { timeout: 120_000 }, async () => {
  await fc.assert(fc.asyncProperty(arbFlow, async ({ n, deps, fails, turns, sync, maxParallel }) => {
    const name = (i) => `t${i}`
    const depsOf = deps.map((ds, i) => (i === 0 ? [] : [...new Set(ds.map((d) => d % i))]))
    const flow = new Flow({ maxParallel })
    const started = []
    const ended = new Set()
    let running = 0
    let peak = 0
    for (let i = 0; i < n; i++) {
      flow.step(name(i), (ctx) => {
        started.push(i)
        for (const d of depsOf[i]) assert.ok(ended.has(d), `t${i} started before its dependency t${d} ended`)
        assert.equal(ctx.attempt, 1)
        if (sync[i]) {
          ended.add(i)
          if (fails[i]) throw new Error(`t${i} failed`)
          return i
        }
        running++
        peak = Math.max(peak, running)
        return yieldTurns(turns[i]).then(() => {
          running--
          ended.add(i)
          if (fails[i]) throw new Error(`t${i} failed`)
          return i
        })
      }, { after: depsOf[i].map(name) })
    }
    let report
    try {
      report = await flow.run()
    } catch (e) {
      report = e.report
    }
    // Who should be skipped: any task with a failed (or skipped) dependency.
    const expected = []
    for (let i = 0; i < n; i++) {
      const blocked = depsOf[i].some((d) => expected[d] !== 'succeeded')
      expected.push(blocked ? 'skipped' : fails[i] ? 'failed' : 'succeeded')
    }
    assert.deepEqual(report.list.map((t) => t.status), expected)
    assert.equal(report.ok, expected.every((s) => s === 'succeeded'))
    assert.equal(new Set(started).size, started.length, 'a task ran twice')
    assert.deepEqual([...started].sort((a, b) => a - b), expected.flatMap((s, i) => (s === 'skipped' ? [] : [i])))
    assert.ok(peak <= maxParallel, `peak ${peak} > maxParallel ${maxParallel}`)
    for (let i = 0; i < n; i++) if (expected[i] === 'succeeded') assert.equal(report.tasks[name(i)].result, i)
  }), { numRuns: 150 })
})
