'use strict'
// Properties of random flows (fast-check): each task runs once, after its dependencies; the
// skipped tasks are exactly the failures' descendants; never more than maxParallel at once.
// With keys, conditions and trigger rules (issue 21): no key held above its capacity, and every
// status as a trigger-rule model says (the core's property test's model, core/tests/it/rules.rs).
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

// ----- issue 21: keys with capacities, conditions and trigger rules ---------------------------

const TRIGGERS = ['all_succeeded', 'all_done', 'any_succeeded', 'none_failed']

/** A random task: dependencies among earlier tasks, an outcome, a condition, a trigger, keys. */
const arbRules = fc.integer({ min: 1, max: 25 }).chain((n) => fc.record({
  n: fc.constant(n),
  deps: fc.array(fc.array(fc.nat(), { maxLength: 3 }), { minLength: n, maxLength: n }),
  fails: fc.array(fc.boolean({ trueWeight: 1, falseWeight: 4 }), { minLength: n, maxLength: n }),
  // undefined: no condition; true / false; 'raise'
  when: fc.array(fc.oneof(
    { weight: 6, arbitrary: fc.constant(undefined) }, { weight: 2, arbitrary: fc.constant(true) },
    { weight: 2, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant('raise') }), { minLength: n, maxLength: n }),
  trigger: fc.array(fc.constantFrom(...TRIGGERS), { minLength: n, maxLength: n }),
  keys: fc.array(fc.uniqueArray(fc.constantFrom('k0', 'k1', 'k2'), { maxLength: 3 }), { minLength: n, maxLength: n }),
  turns: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: n, maxLength: n }),
  maxParallel: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
  capK0: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
  priority: fc.constantFrom('fifo', 'critical_path'),
}))

/**
 * Each task's end from its dependencies' (core/tests/it/rules.rs's `model`): `ok`, a branch
 * `not taken` (a false condition, a trigger rule not met), or `failed` (failed, or skipped
 * because a dependency failed). Returns [status, why] per task; why is the skip's kind.
 */
function model(depsOf, trigger, when, fails) {
  const ends = []
  const out = []
  for (let i = 0; i < depsOf.length; i++) {
    const deps = depsOf[i].map((d) => ends[d])
    const failed = deps.includes('failed')
    let run
    if (trigger[i] === 'all_done') run = 'run'
    else if (trigger[i] === 'any_succeeded' && (deps.length === 0 || deps.includes('ok'))) run = 'run'
    else if (failed) run = 'failed'
    else if (trigger[i] === 'all_succeeded') run = deps.every((e) => e === 'ok') ? 'run' : 'not taken'
    else if (trigger[i] === 'none_failed') run = 'run'
    else run = 'not taken'
    let status, end, why
    if (run === 'failed') [status, end, why] = ['skipped', 'failed', 'failed']
    else if (run === 'not taken') [status, end, why] = ['skipped', 'not taken', 'not taken']
    else if (when[i] === false) [status, end, why] = ['skipped', 'not taken', 'condition']
    else if (when[i] === 'raise' || fails[i]) [status, end, why] = ['failed', 'failed', undefined]
    else [status, end, why] = ['succeeded', 'ok', undefined]
    ends.push(end)
    out.push([status, why])
  }
  return out
}

test('random flows with keys, conditions and trigger rules: no key above its capacity, statuses as the trigger-rule model, ok as the core says', { timeout: 120_000 }, async () => {
  await fc.assert(fc.asyncProperty(arbRules, async ({ n, deps, fails, when, trigger, keys, turns, maxParallel, capK0, priority }) => {
    const name = (i) => `t${i}`
    const depsOf = deps.map((ds, i) => (i === 0 ? [] : [...new Set(ds.map((d) => d % i))]))
    const options = { priority }
    if (maxParallel !== undefined) options.maxParallel = maxParallel
    if (capK0 !== undefined) options.limits = { k0: capK0 }
    const flow = new Flow(options)
    const holding = { k0: 0, k1: 0, k2: 0 }
    const peak = { k0: 0, k1: 0, k2: 0 }
    const evaluated = []
    for (let i = 0; i < n; i++) {
      const o = { after: depsOf[i].map(name), trigger: trigger[i], uses: keys[i] }
      if (when[i] !== undefined) {
        o.when = () => {
          evaluated.push(i)
          if (when[i] === 'raise') throw new Error(`t${i}'s condition raised`)
          return when[i]
        }
      }
      flow.step(name(i), async () => {
        for (const k of keys[i]) peak[k] = Math.max(peak[k], ++holding[k])
        await yieldTurns(turns[i])
        for (const k of keys[i]) holding[k]--
        if (fails[i]) throw new Error(`t${i} failed`)
        return i
      }, o)
    }
    let report
    try {
      report = await flow.run()
    } catch (e) {
      report = e.report
    }
    for (const k of ['k0', 'k1', 'k2']) {
      const cap = k === 'k0' && capK0 !== undefined ? capK0 : 1
      assert.ok(peak[k] <= cap, `key ${k} held by ${peak[k]} > ${cap}`)
    }
    const expected = model(depsOf, trigger, when, fails)
    for (let i = 0; i < n; i++) {
      const t = report.tasks[name(i)]
      const [status, why] = expected[i]
      assert.equal(t.status, status, `t${i}`)
      if (why === 'failed') assert.match(t.skipReason, /^dependency "t\d+" failed$/, `t${i}`)
      if (why === 'condition') assert.equal(t.skipReason, 'condition false', `t${i}`)
      if (why === 'not taken') assert.match(t.skipReason, /^trigger rule [a-z_]+ not met$/, `t${i}`)
      if (when[i] === 'raise' && status === 'failed') assert.equal(t.attempts, 0, `t${i}`)
    }
    // A condition is evaluated once, and only for a task whose trigger rule let it run.
    assert.equal(new Set(evaluated).size, evaluated.length, 'a condition was evaluated twice')
    const ok = expected.every(([s, why]) => s === 'succeeded' || why === 'condition' || why === 'not taken')
    assert.equal(report.ok, ok)
  }), { numRuns: 200 })
})
