'use strict'
// Issue 22 in the Node door: resuming a failed run (`flow.run({ resume: report })`), a
// report's JSON holding the results (`toJSON`), and reading a report back
// (`RunReport.fromJSON`). The rules themselves are the conformance scenarios' (tests/scenarios,
// resume-*); here: what only the Node door does — which bodies are called (counted), the JS
// values handed on, its hooks, its errors and checks.
const { test } = require('node:test')
const assert = require('node:assert/strict')
const native = require('../native.js')
const { Flow, RunReport, UnknownTaskError, FlowError, TaskFailedError, TaskTimeoutError } = require('..')

const T = { timeout: 10_000 }

/**
 * A release flow: fetch → build → deploy, with a notify step beside them. Every body counts
 * its calls; deploy fails until `fixed` is set. fetch returns an object (its identity tells a
 * value reused from memory from a copy).
 */
function release() {
  const calls = { fetch: 0, build: 0, deploy: 0, notify: 0 }
  const env = { fixed: false, artifact: { version: '1.4.2', files: ['app.js'] } }
  const flow = new Flow()
  flow.step('fetch', () => {
    calls.fetch++
    return env.artifact
  })
  flow.step('build', async (ctx) => {
    calls.build++
    return { from: ctx.results.fetch, bytes: 1024 }
  }, { after: ['fetch'] })
  flow.step('deploy', (ctx) => {
    calls.deploy++
    if (!env.fixed) throw new Error('no credentials')
    return `deployed ${ctx.results.build.from.version}`
  }, { after: ['build'] })
  flow.step('notify', () => {
    calls.notify++
    return 42
  })
  return { flow, calls, env }
}

async function failedRun(r) {
  const err = await r.flow.run().then(() => assert.fail('the first run succeeded'), (e) => e)
  assert.ok(err instanceof FlowError)
  assert.deepEqual(r.calls, { fetch: 1, build: 1, deploy: 1, notify: 1 })
  return err.report
}

test('a run resumed from a report in memory calls no body of a step that succeeded, and hands on its JS value', T, async () => {
  const r = release()
  const failed = await failedRun(r)
  r.env.fixed = true
  const seen = []
  r.flow.step('after-deploy', (ctx) => {
    seen.push(ctx.results.fetch, ctx.results.build)
    return 'done'
  }, { after: ['deploy'] })
  const report = await r.flow.run({ resume: failed })
  // Only deploy (which failed) and the step the first run did not have ran.
  assert.deepEqual(r.calls, { fetch: 1, build: 1, deploy: 2, notify: 1 })
  assert.equal(report.ok, true)
  for (const name of ['fetch', 'build', 'notify']) {
    const t = report.tasks[name]
    assert.equal(t.status, 'succeeded', name)
    assert.equal(t.attempts, 0, name)
    assert.equal(t.resumed, true, name)
    // Succeeded, not skipped: the reason is the hooks' only.
    assert.equal(t.skipReason, undefined, name)
  }
  for (const name of ['deploy', 'after-deploy']) {
    assert.equal(report.tasks[name].resumed, false, name)
    assert.equal(report.tasks[name].attempts, 1, name)
  }
  // The very objects of the first run: reused, not copied.
  assert.equal(report.tasks.fetch.result, r.env.artifact)
  assert.equal(report.tasks.build.result, failed.tasks.build.result)
  assert.equal(seen[0], r.env.artifact)
  assert.equal(seen[1], failed.tasks.build.result)
  assert.equal(report.tasks.deploy.result, 'deployed 1.4.2')
  assert.equal(report.tasks.notify.result, 42)
  const j = report.toJSON()
  assert.deepEqual(j.tasks.map((t) => [t.name, t.resumed]), [['fetch', true], ['build', true], ['deploy', false], ['notify', true], ['after-deploy', false]])
})

test('a run resumed from RunReport.fromJSON(JSON.stringify(report)) calls no body of a step that succeeded, and hands on the JSON values', T, async () => {
  const r = release()
  const failed = await failedRun(r)
  const text = JSON.stringify(failed)
  const back = RunReport.fromJSON(text)
  r.env.fixed = true
  let read
  r.flow.step('after-build', (ctx) => { read = ctx.results.build }, { after: ['build'] })
  const report = await r.flow.run({ resume: back })
  assert.deepEqual(r.calls, { fetch: 1, build: 1, deploy: 2, notify: 1 })
  assert.equal(report.ok, true)
  assert.deepEqual(['fetch', 'build', 'notify'].map((n) => [report.tasks[n].resumed, report.tasks[n].attempts]), [[true, 0], [true, 0], [true, 0]])
  // JSON values, equal to the first run's results but not the same objects.
  assert.deepEqual(read, { from: { version: '1.4.2', files: ['app.js'] }, bytes: 1024 })
  assert.notEqual(read, failed.tasks.build.result)
  assert.deepEqual(report.tasks.fetch.result, r.env.artifact)
  assert.notEqual(report.tasks.fetch.result, r.env.artifact)
  assert.equal(report.tasks.deploy.result, 'deployed 1.4.2')
})

test('a resumed run of a resumed run still reuses what succeeded first, and fails again where it fails', T, async () => {
  const r = release()
  const first = await failedRun(r)
  // Not fixed: deploy fails again, the others are not run again.
  const second = await r.flow.run({ resume: first }).then(() => assert.fail('resolved'), (e) => e.report)
  assert.deepEqual(r.calls, { fetch: 1, build: 1, deploy: 2, notify: 1 })
  assert.equal(second.tasks.deploy.status, 'failed')
  assert.equal(second.tasks.deploy.error.message, 'no credentials')
  assert.equal(second.tasks.fetch.resumed, true)
  r.env.fixed = true
  const third = await r.flow.run({ resume: RunReport.fromJSON(JSON.stringify(second)) })
  assert.deepEqual(r.calls, { fetch: 1, build: 1, deploy: 3, notify: 1 })
  assert.equal(third.tasks.deploy.result, 'deployed 1.4.2')
})

test('hooks see only task_skip, reason resumed, for the resumed steps, in declaration order, before anything else is ready', T, async () => {
  const r = release()
  const failed = await failedRun(r)
  r.env.fixed = true
  const trace = []
  const f = r.flow
  f.onProcessBegin(() => trace.push('process_begin'))
  f.onTaskReady((e) => trace.push(`task_ready ${e.name}`))
  f.onTaskBegin((e) => trace.push(`task_begin ${e.name}`))
  f.onTaskSuccess((e) => trace.push(`task_success ${e.name}`))
  f.onTaskFailure((e) => trace.push(`task_failure ${e.name}`))
  f.onTaskSkip((e) => trace.push(`task_skip ${e.name} (${e.reason})`))
  f.onTaskCompletion((e) => trace.push(`task_completion ${e.name}`))
  f.onProcessCompletion(() => trace.push('process_completion'))
  await f.run({ resume: failed })
  assert.deepEqual(trace, [
    'process_begin',
    'task_skip fetch (resumed)',
    'task_skip build (resumed)',
    'task_skip notify (resumed)',
    'task_ready deploy',
    'task_begin deploy',
    'task_success deploy',
    'task_completion deploy',
    'process_completion',
  ])
})

test('a report naming a step the flow does not have is refused before anything runs: UnknownTaskError, nothing called, no native run left', T, async () => {
  const r = release()
  const failed = await failedRun(r)
  const hooks = []
  r.flow.onProcessBegin(() => hooks.push('process_begin'))
  r.flow.onTaskSkip((e) => hooks.push(e.name))
  const j = failed.toJSON()
  // A report of another flow: its step "biuld" is unknown here (failed or succeeded alike).
  for (const status of ['succeeded', 'failed']) {
    const other = { ...j, tasks: [...j.tasks, { ...j.tasks[0], id: 9, name: 'biuld', status }] }
    const runsBefore = native.liveCounts()[1]
    const e = await r.flow.run({ resume: RunReport.fromJSON(JSON.stringify(other)) }).then(() => assert.fail('resolved'), (x) => x)
    assert.ok(e instanceof UnknownTaskError, status)
    assert.equal(e.code, 'ERR_LEGATO_UNKNOWN_TASK')
    assert.equal(e.message, 'Task "biuld" not found (did you mean "build"?)')
    // The native run made for it is freed at once, not left to the collector.
    assert.equal(native.liveCounts()[1], runsBefore, status)
  }
  // A report from memory of another flow, with targets too.
  const other = new Flow()
  other.step('lint', () => 1)
  const otherReport = await other.run()
  const e = await r.flow.run('deploy', { resume: otherReport }).then(() => assert.fail('resolved'), (x) => x)
  assert.ok(e instanceof UnknownTaskError)
  assert.equal(e.message, 'Task "lint" not found')
  assert.deepEqual(r.calls, { fetch: 1, build: 1, deploy: 1, notify: 1 })
  assert.deepEqual(hooks, [])
})

test('resume with targets: only the selected steps are resumed or run; a call (dynamic task) is not resumed, its parent is', T, async () => {
  const calls = { a: 0, b: 0, child: 0, c: 0 }
  let fail = true
  const flow = new Flow()
  flow.step('a', () => ++calls.a)
  flow.step('b', async (ctx) => {
    calls.b++
    return ctx.spawn('child', () => ++calls.child)
  })
  flow.step('c', () => {
    calls.c++
    if (fail) throw new Error('red')
    return 'green'
  }, { after: ['a', 'b'] })
  const first = await flow.run().then(() => assert.fail('resolved'), (e) => e.report)
  assert.equal(first.tasks.child.parent, 'b')
  assert.deepEqual(calls, { a: 1, b: 1, child: 1, c: 1 })
  // Targets b: a is outside the selection and neither runs nor is resumed.
  const onlyB = await flow.run('b', { resume: first })
  assert.deepEqual(calls, { a: 1, b: 1, child: 1, c: 1 })
  assert.deepEqual(Object.keys(onlyB.tasks), ['b'])
  assert.equal(onlyB.tasks.b.resumed, true)
  assert.equal(onlyB.tasks.b.result, 1)
  fail = false
  const all = await flow.run({ resume: RunReport.fromJSON(JSON.stringify(first)) })
  assert.deepEqual(calls, { a: 1, b: 1, child: 1, c: 2 })
  assert.deepEqual(all.list.map((t) => [t.name, t.status, t.resumed]), [['a', 'succeeded', true], ['b', 'succeeded', true], ['c', 'succeeded', false]])
})

test('options.resume that is not a RunReport is a TypeError naming it; nothing runs', T, async () => {
  let calls = 0
  const flow = new Flow()
  flow.step('a', () => ++calls)
  const report = await flow.run()
  const fake = Object.create(RunReport.prototype)
  for (const [bad, shown] of [[{}, 'an object'], [null, 'null'], ['run.json', '"run.json"'], [report.toJSON(), 'an object'], [fake, 'an instance of RunReport'], [new FlowError('x', report), 'an instance of FlowError']]) {
    const e = await flow.run({ resume: bad }).then(() => assert.fail('resolved'), (x) => x)
    assert.ok(e instanceof TypeError, shown)
    assert.equal(e.code, 'ERR_INVALID_ARG_TYPE')
    assert.equal(e.message, `options.resume: must be a RunReport (a previous run's report or RunReport.fromJSON(text)), got ${shown}`)
  }
  assert.equal(calls, 1)
  // Given as `undefined` it is not given.
  await flow.run({ resume: undefined })
  assert.equal(calls, 2)
})

test('toJSON holds each result JSON can hold, null for the others, and never throws', T, async () => {
  const cycle = { name: 'loop' }
  cycle.self = cycle
  const when = new Date(Date.UTC(2026, 11, 7))
  const results = {
    text: 'dist/app.tar', number: 2.5, yes: true, none: null, list: [1, 'two', { three: 3 }],
    object: { nested: { deep: [null, false] }, skipped: undefined, fn() {} },
    date: when, missing: undefined, big: 10n, cyclic: cycle, fn: () => 1, sym: Symbol('s'),
    nan: NaN, inf: -Infinity, throws: { toJSON() { throw new Error('no') } }, inner: { big: 1n },
  }
  const flow = new Flow()
  for (const [name, v] of Object.entries(results)) flow.step(name, () => v)
  const report = await flow.run()
  const j = report.toJSON()
  const got = Object.fromEntries(j.tasks.map((t) => [t.name, t.result]))
  assert.deepEqual(got, {
    text: 'dist/app.tar', number: 2.5, yes: true, none: null, list: [1, 'two', { three: 3 }],
    object: { nested: { deep: [null, false] } }, date: '2026-12-07T00:00:00.000Z', missing: null,
    big: null, cyclic: null, fn: null, sym: null, nan: null, inf: null, throws: null, inner: null,
  })
  // The report's own results are untouched (the values themselves, not their JSON).
  assert.equal(report.tasks.cyclic.result, cycle)
  assert.equal(report.tasks.big.result, 10n)
  // The key keeps its place in each task's entry.
  assert.deepEqual(Object.keys(j.tasks[0]), Object.keys(JSON.parse(JSON.stringify(j.tasks[0]))))
  const text = JSON.stringify(report)
  assert.deepEqual(JSON.parse(text), j)
  // Read back: the same JSON, results included.
  const back = RunReport.fromJSON(text)
  assert.deepEqual(back.toJSON(), j)
  assert.deepEqual(back.tasks.list.result, [1, 'two', { three: 3 }])
  assert.equal(back.tasks.missing.result, null)
})

test('RunReport.fromJSON reads back statuses, attempts, times, errors, skip reasons and the run\'s fields', T, async () => {
  const flow = new Flow()
  flow.step('ok', () => 'fine')
  flow.step('flaky', (ctx) => {
    if (ctx.attempt < 2) throw new Error('once')
    return ctx.attempt
  }, { retries: 1 })
  flow.step('bad', () => { throw new TypeError('broken') }, { after: ['ok'] })
  flow.step('slow', (ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', resolve)), { timeout: 5 })
  flow.step('later', () => 1, { after: ['bad'] })
  const report = await flow.run().then(() => assert.fail('resolved'), (e) => e.report)
  const back = RunReport.fromJSON(JSON.stringify(report))
  assert.ok(back instanceof RunReport)
  assert.equal(back.ok, false)
  assert.equal(back.totalDuration, report.totalDuration)
  assert.equal(back.startTime, report.startTime)
  assert.equal(back.stop, report.stop)
  for (const t of report.list) {
    const b = back.tasks[t.name]
    for (const k of ['id', 'name', 'status', 'attempts', 'duration', 'skipReason', 'dependencies', 'parent', 'resumed']) {
      assert.deepEqual(b[k], t[k], `${t.name}.${k}`)
    }
    // Epoch times to the millisecond the text's start holds.
    if (t.startTime !== undefined) assert.ok(Math.abs(b.startTime - t.startTime) < 1, t.name)
  }
  assert.equal(back.tasks.flaky.result, 2)
  assert.ok(back.tasks.bad.error instanceof TaskFailedError)
  assert.equal(back.tasks.bad.error.message, 'broken')
  assert.ok(back.tasks.slow.error instanceof TaskTimeoutError)
  assert.equal(back.tasks.slow.error.message, report.tasks.slow.error.message)
  assert.equal(back.tasks.later.skipReason, 'dependency "bad" failed')
  assert.equal(JSON.stringify(back), JSON.stringify(report))
})

test('RunReport.fromJSON refuses a text that is not a report: SyntaxError with code ERR_LEGATO_INVALID_REPORT saying what is wrong', T, async () => {
  const flow = new Flow()
  flow.step('a', () => 1)
  const good = (await flow.run()).toJSON()
  const cases = [
    ['not json', 'text: not a legato run report: expected ident at line 1 column 2'],
    ['{}', 'text: not a legato run report: missing field `total_ms` at line 1 column 2'],
    [JSON.stringify({ ...good, tasks: [{ ...good.tasks[0], status: 'great' }] }), 'text: not a legato run report: unknown status "great" of task "a"'],
    [JSON.stringify({ ...good, tasks: [{ ...good.tasks[0], deps: ['ghost'] }] }), 'text: not a legato run report: dependency "ghost" of task "a" is not in the report'],
  ]
  for (const [text, message] of cases) {
    let e
    try {
      RunReport.fromJSON(text)
    } catch (x) {
      e = x
    }
    assert.ok(e instanceof SyntaxError, text)
    assert.equal(e.code, 'ERR_LEGATO_INVALID_REPORT')
    assert.equal(e.message, message)
  }
  for (const [bad, shown] of [[good, 'an object'], [undefined, 'undefined'], [null, 'null'], [7, '7']]) {
    assert.throws(() => RunReport.fromJSON(bad), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: `text: must be a string (a report's JSON text), got ${shown}` })
  }
})

test('a report\'s started_at is the run\'s startTime to the millisecond (it was 1 ms early for about half the start times)', T, async () => {
  const FakeTimers = require('@sinonjs/fake-timers')
  // Start times that were written 1 ms early (epoch ms * 1e6 ns rounded as an f64).
  for (const now of [1796661410417, 1796661410637, 1796661412098]) {
    const clock = FakeTimers.install({ now, toFake: ['Date'] })
    try {
      const flow = new Flow()
      flow.step('a', () => 1)
      const report = await flow.run()
      assert.equal(report.startTime, now)
      assert.equal(report.toJSON().started_at, new Date(now).toISOString())
      assert.equal(RunReport.fromJSON(JSON.stringify(report)).startTime, now)
    } finally {
      clock.uninstall()
    }
  }
})

test('only the steps that succeeded are resumed: a failed, timed-out or skipped one runs again, and a result of undefined is handed on', T, async () => {
  const calls = { nothing: 0, flaky: 0, slow: 0, maybe: 0, after: 0 }
  let second = false
  const flow = new Flow({ state: { go: false } })
  flow.step('nothing', () => { calls.nothing++ })
  flow.step('flaky', () => {
    calls.flaky++
    if (!second) throw new Error('flaky')
    return 'ok'
  })
  flow.step('slow', (ctx) => {
    calls.slow++
    return second ? 'fast now' : new Promise((resolve) => ctx.signal.addEventListener('abort', resolve))
  }, { timeout: 5 })
  flow.step('maybe', () => ++calls.maybe, { when: (ctx) => ctx.state.go })
  flow.step('after', (ctx) => {
    calls.after++
    return ['nothing' in ctx.results, ctx.results.nothing]
  }, { after: ['nothing', 'flaky'] })
  const first = await flow.run().then(() => assert.fail('resolved'), (e) => e.report)
  assert.deepEqual(first.list.map((t) => t.status), ['succeeded', 'failed', 'timed_out', 'skipped', 'skipped'])
  assert.deepEqual(calls, { nothing: 1, flaky: 1, slow: 1, maybe: 0, after: 0 })
  second = true
  flow.state.go = true
  const report = await flow.run({ resume: first })
  assert.deepEqual(calls, { nothing: 1, flaky: 2, slow: 2, maybe: 1, after: 1 })
  assert.deepEqual(report.list.filter((t) => t.resumed).map((t) => t.name), ['nothing'])
  assert.deepEqual(report.tasks.after.result, [true, undefined])
})

test('a run whose every step is resumed calls no body and resolves; so does an empty flow\'s', T, async () => {
  let calls = 0
  const flow = new Flow()
  flow.step('a', () => ++calls)
  flow.step('b', () => ++calls, { after: ['a'] })
  const first = await flow.run()
  const again = await flow.run({ resume: first })
  const third = await flow.run({ resume: RunReport.fromJSON(JSON.stringify(again)) })
  assert.equal(calls, 2)
  assert.deepEqual(third.list.map((t) => [t.name, t.status, t.attempts, t.resumed, t.result]), [['a', 'succeeded', 0, true, 1], ['b', 'succeeded', 0, true, 2]])
  const empty = new Flow()
  assert.equal((await empty.run({ resume: await empty.run() })).ok, true)
})
