'use strict'
// Issue 20's Low items: one way to name a bad argument and show a bad value in every message,
// a step's `timeout: Infinity`, `orchestrator.signal()` outside a run, every error code
// documented, dynamic names checked as declared ones, lone surrogates refused, name-keyed
// objects safe for any name, a compact RunReport, hooks taken when a run starts, and a
// timeout's `signal.reason` that is the report's error.
const { test } = require('node:test')
const assert = require('node:assert/strict')
const { thrown } = require('./helpers/thrown')
const legato = require('..')
const { Flow, Orchestrator, UniqueIdGenerator, LegatoError } = legato

const T = { timeout: 10_000 }

// ----- one wording for bad arguments, through every entry point ------------------------------


/** What a step body throws synchronously when it calls `use(ctx)`. */
async function fromStep(use) {
  const f = new Flow()
  let err
  f.step('s', (ctx) => {
    err = thrown(() => use(ctx))
  })
  await f.run()
  return err
}

const step = (options) => () => new Flow().step('a', () => 1, options)
const action = (options) => () => new Orchestrator().action(() => 1, options)
const spawn = (name, fn, options) => (ctx) => ctx.spawn(name, fn, options)

// [entry point, call, error name, exact message]. Values show as `describe` shows them.
const BAD = [
  ['new Flow', () => new Flow(5), 'TypeError', 'options: must be an object, got 5'],
  ['new Flow', () => new Flow({ maxParallel: undefined, timeout: '5' }), 'TypeError', 'options.timeout: must be a number, got "5"'],
  ['new Flow', () => new Flow({ maxParallel: 0 }), 'RangeError', 'options.maxParallel: must be a whole number >= 1, got 0'],
  ['new Flow', () => new Flow({ maxParallel: -Infinity }), 'RangeError', 'options.maxParallel: must be a whole number >= 1, got -Infinity'],
  ['new Flow', () => new Flow({ failFast: 'yes' }), 'TypeError', 'options.failFast: must be a boolean, got "yes"'],
  ['new Flow', () => new Flow({ maxDepth: null }), 'TypeError', 'options.maxDepth: must be a number, got null'],
  ['new Flow', () => new Flow({ timeout: 0 }), 'RangeError', 'options.timeout: must be a number of milliseconds greater than zero, got 0'],
  ['new Flow', () => new Flow({ retries: 1 }), 'TypeError', 'options.retries: unknown option (expected one of: maxParallel, failFast, timeout, maxDepth, limits, priority, costs, state)'],
  ['new Orchestrator', () => new Orchestrator({ state: 5 }), 'TypeError', 'options.state: must be an object, got 5'],
  ['new Orchestrator', () => new Orchestrator({ maxParallel: 1.5 }), 'RangeError', 'options.maxParallel: must be a whole number >= 1, got 1.5'],
  ['new Orchestrator', () => new Orchestrator([]), 'TypeError', 'options: must be an object, got an array'],
  ['flow.step', () => new Flow().step(5, () => 1), 'TypeError', 'name: must be a string or a function, got 5'],
  ['flow.step', () => new Flow().step('a', undefined), 'TypeError', 'fn: must be a function, got undefined'],
  ['flow.step', () => new Flow().step('a', {}), 'TypeError', 'fn: must be a function, got an object'],
  ['flow.step', () => new Flow().step('a', new Map()), 'TypeError', 'fn: must be a function, got an instance of Map'],
  ['flow.step', step(null), undefined, undefined],
  ['flow.step', step(7n), 'TypeError', 'options: must be an object, got 7n'],
  ['flow.step', step({ retries: -1 }), 'RangeError', 'options.retries: must be a whole number from 0 to 4294967294, got -1'],
  ['flow.step', step({ retries: undefined, timeout: null }), 'TypeError', 'options.timeout: must be a number, got null'],
  ['flow.step', step({ retries: 'three' }), 'TypeError', 'options.retries: must be a number, got "three"'],
  ['flow.step', step({ timeout: -5 }), 'RangeError', 'options.timeout: must be a number of milliseconds greater than zero, got -5'],
  ['flow.step', step({ timeout: NaN }), 'RangeError', 'options.timeout: must be a number of milliseconds greater than zero, got NaN'],
  ['flow.step', step({ backoff: -1 }), 'RangeError', 'options.backoff: must be a finite number of milliseconds >= 0, got -1'],
  ['flow.step', step({ backoff: 'x' }), 'TypeError', 'options.backoff: must be a number of ms or { initial, factor, max, jitter }, got "x"'],
  ['flow.step', step({ backoff: { initial: NaN } }), 'RangeError', 'options.backoff.initial: must be a finite number of milliseconds >= 0, got NaN'],
  ['flow.step', step({ backoff: { initial: 1, factor: 0.5 } }), 'RangeError', 'options.backoff.factor: must be a number >= 1, got 0.5'],
  ['flow.step', step({ backoff: { initial: 1, max: -2 } }), 'RangeError', 'options.backoff.max: must be a finite number of milliseconds >= 0, got -2'],
  ['flow.step', step({ backoff: { initial: 1, jitter: 1 } }), 'TypeError', 'options.backoff.jitter: must be a boolean, got 1'],
  ['flow.step', step({ retry: { attempts: 0 } }), 'RangeError', 'options.retry.attempts: must be a whole number from 1 to 4294967295, got 0'],
  ['flow.step', step({ retry: { attempts: 2, backoff: Infinity } }), 'RangeError', 'options.retry.backoff: must be a finite number of milliseconds >= 0, got Infinity'],
  ['flow.step', step({ retryIf: true }), 'TypeError', 'options.retryIf: must be a function, got true'],
  ['flow.step', step({ sequences: [1] }), 'TypeError', 'options.sequences: must be an array of strings, got an array'],
  ['flow.step', step({ description: Symbol('d') }), 'TypeError', 'options.description: must be a string, got Symbol(d)'],
  ['flow.step', step({ after: [undefined] }), 'TypeError', 'options.after[0]: must be a step name, a step function or a sync point of this flow, got undefined'],
  ['flow.step', () => new Flow().step('', () => 1), 'RangeError', 'name: Invalid task name "": a task name must not be empty'],
  ['flow.follow', () => new Flow().follow('ghost'), 'TypeError', 'follow[0]: no step is named "ghost"'],
  ['flow.parallel', () => new Flow().parallel(3), 'TypeError', 'parallel[0]: must be a step name or a function, got 3'],
  ['flow.syncAll', () => new Flow().syncAll(null), 'TypeError', 'syncAll[0]: must be a step name or a function, got null'],
  ['flow.plan', () => new Flow().plan([() => 1]), 'TypeError', 'targets[0]: must be a step name or a step function, got a function'],
  ['flow.onTaskBegin', () => new Flow().onTaskBegin(), 'TypeError', 'fn: must be a function, got undefined'],
  ['orchestrator.action', () => new Orchestrator().action(undefined), 'TypeError', 'fn: must be a function, got undefined'],
  ['orchestrator.action', action({ name: 5 }), 'TypeError', 'options.name: must be a string, got 5'],
  ['orchestrator.action', action({ cache: 'yes' }), 'TypeError', 'options.cache: must be a boolean, got "yes"'],
  ['orchestrator.action', action({ retries: 1.5 }), 'RangeError', 'options.retries: must be a whole number from 0 to 4294967294, got 1.5'],
  ['orchestrator.action', action({ timeout: -1 }), 'RangeError', 'options.timeout: must be a number of milliseconds greater than zero, got -1'],
  ['orchestrator.action', action({ retry: { attempts: 2, exponential: 1, backoff: 5 } }), 'TypeError', 'options.retry.exponential: must be a boolean, got 1'],
  ['orchestrator.action', action({ retry: 3 }), 'TypeError', 'options.retry: must be an object, got 3'],
  ['orchestrator.parallel', () => new Orchestrator().parallel(undefined), 'TypeError', 'actions: must be an array of functions, got undefined'],
  ['orchestrator.parallel', () => new Orchestrator().parallel([() => 1, 'x']), 'TypeError', 'actions[1]: must be a function, got "x"'],
  ['orchestrator.parallel', () => new Orchestrator().parallel([], { failFast: 0 }), 'TypeError', 'options.failFast: must be a boolean, got 0'],
  ['orchestrator.onTaskSkip', () => new Orchestrator().onTaskSkip(null), 'TypeError', 'fn: must be a function, got null'],
  ['new UniqueIdGenerator', () => new UniqueIdGenerator(5), 'TypeError', 'prefix: must be a string, got 5'],
]
const BAD_ASYNC = [
  ['flow.run', () => new Flow().run(['a', 5]), 'TypeError', 'targets[1]: must be a step name or a step function, got 5'],
  ['flow.run', () => new Flow().run({ signal: 'stop' }), 'TypeError', 'options.signal: must be an AbortSignal, got "stop"'],
  ['flow.run', () => new Flow().run(undefined, { sgnal: 1 }), 'TypeError', 'options.sgnal: unknown option (expected one of: signal, resume)'],
  ['orchestrator.run', () => new Orchestrator().run(undefined), 'TypeError', 'main: must be a function, got undefined'],
  ['orchestrator.run', () => new Orchestrator().run(() => 1, { signal: {} }), 'TypeError', 'options.signal: must be an AbortSignal, got an object'],
  ['ctx.spawn', () => fromStep(spawn(undefined, () => 1)), 'TypeError', 'name: must be a string, got undefined'],
  ['ctx.spawn', () => fromStep(spawn('c', 5)), 'TypeError', 'fn: must be a function, got 5'],
  ['ctx.spawn', () => fromStep(spawn('c', () => 1, { retries: -2 })), 'RangeError', 'options.retries: must be a whole number from 0 to 4294967294, got -2'],
  ['ctx.spawn', () => fromStep(spawn('c', () => 1, { timeout: 0 })), 'RangeError', 'options.timeout: must be a number of milliseconds greater than zero, got 0'],
  ['ctx.spawn', () => fromStep(spawn('c', () => 1, { after: ['x'] })), 'TypeError', 'options.after: unknown option (expected one of: retries, retry, backoff, retryIf, timeout, sequences, uses)'],
  ['ctx.spawn', () => fromStep(spawn(' c', () => 1)), 'RangeError', 'name: Invalid task name " c": a task name must not start or end with whitespace'],
]

function check(where, err, name, message) {
  if (name === undefined) {
    assert.equal(err, undefined, `${where}: nothing is wrong, yet it threw ${err}`)
    return
  }
  assert.ok(err instanceof Error, `${where}: expected a ${name}, got ${err}`)
  assert.equal(err.name, name, `${where}: ${err.message}`)
  assert.equal(err.message, message, where)
  assert.equal(typeof err.code, 'string', `${where}: no code`)
  assert.doesNotMatch(err.message, /undefined undefined|\(got /, where)
}

test('bad input through every entry point: the argument named first, the bad value shown once, the same wording', T, async () => {
  for (const [where, fn, name, message] of BAD) check(where, thrown(fn), name, message)
  for (const [where, fn, name, message] of BAD_ASYNC) {
    let err
    try {
      err = await fn()
      // fromStep resolves to what the step threw; run() rejects.
    } catch (e) {
      err = e
    }
    check(where, err, name, message)
  }
})

test('a step\'s and an action\'s timeout: Infinity means no limit, as the run option (and every door) takes it', T, async () => {
  const f = new Flow({ timeout: Infinity })
  f.step('a', () => 'A', { timeout: Infinity })
  f.step('b', (ctx) => ctx.spawn('c', () => ctx.results.a + 'C', { timeout: Infinity }), { after: ['a'] })
  const r = await f.run()
  assert.equal(r.tasks.b.result, 'AC')
  const o = new Orchestrator({ timeout: Infinity })
  const act = o.action((x) => x * 2, { timeout: Infinity })
  assert.equal(await o.run(() => act(21)), 42)
  // A timeout that is not > 0 is refused in the run option's words.
  for (const C of [Flow, Orchestrator]) {
    assert.throws(() => new C({ timeout: -Infinity }), { message: 'options.timeout: must be a number of milliseconds greater than zero, got -Infinity' })
  }
  assert.throws(() => new Flow().step('x', () => 1, { timeout: -Infinity }), { message: 'options.timeout: must be a number of milliseconds greater than zero, got -Infinity' })
})

test('orchestrator.signal() outside a run throws a LegatoError with code ERR_LEGATO_OUTSIDE_RUN', T, async () => {
  const o = new Orchestrator()
  const err = thrown(() => o.signal())
  assert.ok(err instanceof LegatoError)
  assert.equal(err.code, 'ERR_LEGATO_OUTSIDE_RUN')
  assert.match(err.message, /^orchestrator\.signal\(\) is only available inside a run of this orchestrator/)
  // Inside another orchestrator's run, too.
  const other = new Orchestrator()
  const e2 = await other.run(() => thrown(() => o.signal()))
  assert.equal(e2.code, 'ERR_LEGATO_OUTSIDE_RUN')
  // Inside its own run: a signal.
  assert.ok(await o.run(() => o.signal()) instanceof AbortSignal)
})

// ----- names ----------------------------------------------------------------------------------

const invalidName = (argument, shown, reason) => ({
  name: 'RangeError',
  code: 'ERR_LEGATO_INVALID_NAME',
  message: `${argument}: Invalid task name ${shown}: ${reason}`,
})
const EMPTY = 'a task name must not be empty'
const CONTROL = 'a task name must not contain control characters'
const SPACE = 'a task name must not start or end with whitespace'
const LONE = 'a task name must not contain lone surrogates (it is not well-formed UTF-16)'

test('dynamic names (ctx.spawn, an action\'s name) are checked as declared step names are', T, async () => {
  const o = new Orchestrator()
  assert.throws(() => o.action(() => 1, { name: '' }), invalidName('options.name', '""', EMPTY))
  assert.throws(() => o.action(() => 1, { name: 'a\nb' }), invalidName('options.name', '"a\\nb"', CONTROL))
  assert.throws(() => o.action(() => 1, { name: 'a\0b' }), invalidName('options.name', '"a\\0b"', 'a task name must not contain NUL characters'))
  const spaced = () => 1
  Object.defineProperty(spaced, 'name', { value: 'spaced ' })
  assert.throws(() => o.action(spaced), invalidName('fn.name', '"spaced "', SPACE))
  assert.throws(() => new Flow().step(spaced), invalidName('fn.name', '"spaced "', SPACE))
  assert.throws(() => new Flow().follow(spaced), invalidName('follow[0].name', '"spaced "', SPACE))
  // An action without a name is `anonymous`, a valid name.
  assert.equal(await o.run(() => o.action(() => 7)()), 7)
  assert.equal(o.report.list[0].name, 'anonymous')
  const seen = {}
  const f = new Flow()
  f.step('root', async (ctx) => {
    for (const bad of ['', ' x', 'x\t', 'a\0b', 'half \uD800']) seen[bad] = thrown(() => ctx.spawn(bad, () => 1))
    return ctx.spawn('fine child', () => 5)
  })
  const r = await f.run()
  assert.equal(r.tasks['fine child'].result, 5)
  assert.deepEqual(r.list.map((t) => t.name), ['root', 'fine child'])
  assert.deepEqual(Object.values(seen).map((e) => e.code), Array(5).fill('ERR_LEGATO_INVALID_NAME'))
  assert.equal(seen[''].message, `name: Invalid task name "": ${EMPTY}`)
  assert.equal(seen['x\t'].message, `name: Invalid task name "x\\t": ${CONTROL}`)
  assert.equal(seen['half \uD800'].message, `name: Invalid task name "half \\ud800": ${LONE}`)
})

test('names with a lone surrogate are refused where they are given, never changed to U+FFFD', T, async () => {
  const f = new Flow()
  f.step('a\uFFFD', () => 1)
  const fine = 'paired \uD83C\uDFBC'
  f.step(fine, () => 2)
  assert.throws(() => f.step('a\uD800', () => 1), invalidName('name', '"a\\ud800"', LONE))
  assert.throws(() => f.step('a\uDC00', () => 1), invalidName('name', '"a\\udc00"', LONE))
  assert.throws(() => f.step('b', () => 1, { after: ['a\uD800'] }), invalidName('options.after[0]', '"a\\ud800"', LONE))
  assert.throws(() => f.step('b', () => 1, { after: [fine, () => 1].slice(0, 1).concat('\uDFFF') }), invalidName('options.after[1]', '"\\udfff"', LONE))
  assert.throws(() => f.plan('a\uD800'), invalidName('targets', '"a\\ud800"', LONE))
  await assert.rejects(f.run(['a\uFFFD', '\uD800a']), invalidName('targets[1]', '"\\ud800a"', LONE))
  const o = new Orchestrator()
  assert.throws(() => o.action(() => 1, { name: 'x\uDBFF' }), invalidName('options.name', '"x\\udbff"', LONE))
  // Nothing was added; the valid names reach the core whole (a pair is one character).
  assert.deepEqual(f.steps, ['a\uFFFD', fine])
  assert.deepEqual(f.plan(), [['a\uFFFD', fine]])
  assert.deepEqual(Object.keys((await f.run()).tasks), ['a\uFFFD', fine])
})

// ----- name-keyed objects, the report's form -------------------------------------------------

test('steps named __proto__, constructor, hasOwnProperty: report.tasks and ctx.results hold them as any name', T, async () => {
  const names = ['__proto__', 'constructor', 'hasOwnProperty', 'toString']
  const f = new Flow()
  let seen
  names.forEach((n, i) => f.step(n, () => `${n}!`, i > 0 ? { after: [names[i - 1]] } : undefined))
  f.step('last', (ctx) => {
    seen = { keys: Object.keys(ctx.results), proto: ctx.results.__proto__, has: names.map((n) => n in ctx.results), own: Object.hasOwn(ctx.results, '__proto__') }
  }, { after: ['toString'] })
  const r = await f.run()
  assert.deepEqual(Object.keys(r.tasks), [...names, 'last'])
  for (const n of names) {
    assert.ok(Object.hasOwn(r.tasks, n), n)
    assert.equal(r.tasks[n].name, n)
    assert.equal(r.tasks[n].result, `${n}!`)
  }
  // Names that are not tasks are not there (no inherited `constructor`, `toString`...).
  assert.equal(r.tasks.valueOf, undefined)
  assert.equal('isPrototypeOf' in r.tasks, false)
  assert.deepEqual(seen, { keys: names, proto: '__proto__!', has: [true, true, true, true], own: true })
  // A flow without such steps: its report.tasks has no `__proto__` task either.
  const g = new Flow()
  g.step('x', () => 1)
  const rg = await g.run()
  assert.equal(Object.hasOwn(rg.tasks, '__proto__'), false)
  assert.equal(rg.tasks.constructor, undefined)
  // Orchestrator: an action named __proto__.
  const o = new Orchestrator()
  const p = o.action(() => 5, { name: '__proto__' })
  await o.run(() => p())
  assert.deepEqual(Object.keys(o.report.tasks), ['__proto__'])
  assert.equal(o.report.tasks.__proto__.result, 5)
})

test('RunReport: only its documented fields are enumerable; a logged FlowError is short', T, async () => {
  const util = require('node:util')
  const f = new Flow()
  f.step('head', () => {
    throw new Error('boom')
  })
  for (let i = 0; i < 500; i++) f.step(`s${i}`, () => i, { after: [i === 0 ? 'head' : `s${i - 1}`] })
  const err = await f.run().catch((e) => e)
  const report = err.report
  assert.deepEqual(Object.keys(report), ['ok', 'totalDuration', 'stop', 'startTime'])
  assert.deepEqual(Object.getOwnPropertyNames(report), ['ok', 'totalDuration', 'stop', 'startTime'])
  const text = util.inspect(err)
  assert.ok(text.length < 3000, `util.inspect(err) is ${text.length} characters`)
  assert.match(text, /RunReport \{/)
  assert.match(text, /head: 'failed'/)
  assert.match(text, /s0: 'skipped'/)
  assert.match(text, /491 more tasks/)
  assert.match(text, /\[cause\]: Error: boom/)
  // A report of a run that went well, and one nested deeper than inspect goes.
  const g = new Flow()
  g.step('a', () => 1)
  const ok = await g.run()
  assert.match(util.inspect(ok), /^RunReport \{\n? *ok: true/)
  assert.match(util.inspect({ a: { b: { c: ok } } }), /\[RunReport\]/)
  // The report still works in full.
  assert.equal(report.list.length, 501)
  assert.equal(report.tasks.s499.status, 'skipped')
  assert.equal(report.toJSON().tasks.length, 501)
  assert.match(report.toMermaid(), /gantt/)
})

// ----- hooks added during a run --------------------------------------------------------------

test('a hook added during a run applies from the next run, whether or not its event had one', T, async () => {
  for (const C of ['Flow', 'Orchestrator']) {
    const seen = []
    let h
    let run
    if (C === 'Flow') {
      h = new Flow()
      h.step('a', () => 1)
      h.step('b', () => 2, { after: ['a'] })
      run = () => h.run()
    } else {
      h = new Orchestrator()
      const a = h.action(() => 1, { name: 'a' })
      const b = h.action(() => 2, { name: 'b' })
      run = () => h.run(async () => {
        await a()
        await b()
      })
    }
    let added = false
    h.onTaskBegin(({ name }) => {
      seen.push(`begin ${name}`)
      if (added) return
      added = true
      // onTaskBegin already had a hook; onTaskSuccess had none.
      h.onTaskBegin(({ name }) => seen.push(`late begin ${name}`))
      h.onTaskSuccess(({ name }) => seen.push(`late success ${name}`))
    })
    await run()
    assert.deepEqual(seen, ['begin a', 'begin b'], C)
    seen.length = 0
    await run()
    assert.deepEqual(seen, ['begin a', 'late begin a', 'late success a', 'begin b', 'late begin b', 'late success b'], C)
  }
})

// ----- a timeout's signal.reason is the report's error ----------------------------------------

test('the error an attempt\'s AbortSignal fires with is the report\'s, the hooks\' and the caller\'s error (identity)', T, async () => {
  const { TaskTimeoutError, CancelledError } = legato
  const hang = (signal) => new Promise((resolve) => signal.addEventListener('abort', resolve))
  // Flow: a step that times out twice (retried once), a step cancelled by fail-fast.
  const f = new Flow({ failFast: true })
  const signals = []
  let otherSignal
  const retried = []
  const failures = {}
  f.onTaskRetry(({ error }) => retried.push(error))
  f.onTaskFailure(({ name, error }) => { failures[name] = error })
  f.step('slow', (ctx) => {
    signals.push(ctx.signal)
    return hang(ctx.signal)
  }, { timeout: 5, retries: 1 })
  f.step('other', (ctx) => {
    otherSignal = ctx.signal
    return hang(ctx.signal)
  })
  const err = await f.run().catch((e) => e)
  const t = err.report.tasks
  assert.equal(signals.length, 2)
  assert.ok(signals[1].reason instanceof TaskTimeoutError)
  assert.equal(t.slow.error, signals[1].reason)
  assert.equal(failures.slow, signals[1].reason)
  assert.equal(err.cause, signals[1].reason)
  assert.equal(retried[0], signals[0].reason)
  assert.notEqual(signals[0].reason, signals[1].reason)
  assert.equal(t.other.status, 'cancelled')
  assert.ok(otherSignal.reason instanceof CancelledError)
  assert.equal(t.other.error, otherSignal.reason)
  // Orchestrator: the action's caller, the report and the signal share the timeout error.
  const o = new Orchestrator()
  let sig
  const act = o.action(() => hang((sig = o.signal())), { timeout: 5 })
  const e = await o.run(() => act()).catch((x) => x)
  assert.ok(e instanceof TaskTimeoutError)
  assert.equal(e, sig.reason)
  assert.equal(o.report.list[0].error, e)
  // ctx.spawn: the child's signal and the parent's catch.
  const g = new Flow()
  let childSignal
  let caught
  g.step('parent', async (ctx) => {
    try {
      await ctx.spawn('child', (c) => hang((childSignal = c.signal)), { timeout: 5 })
    } catch (x) {
      caught = x
    }
  })
  // The child's timeout fails the run, though its parent caught it.
  const rg = (await g.run().catch((x) => x)).report
  assert.ok(caught instanceof TaskTimeoutError)
  assert.equal(caught, childSignal.reason)
  assert.equal(rg.tasks.child.error, caught)
})

// ----- error codes: every one used is documented, every class's code as declared --------------

test('every error code the package uses is documented in the README and in index.d.ts, and only those', T, () => {
  const fs = require('node:fs')
  const path = require('node:path')
  const root = path.join(__dirname, '..')
  const CODE = /\bERR_[A-Z]+(?:_[A-Z]+)*\b/g
  const sources = [
    ...fs.readdirSync(path.join(root, 'lib')).map((f) => path.join(root, 'lib', f)),
    ...fs.readdirSync(path.join(root, 'src')).filter((f) => f.endsWith('.rs')).map((f) => path.join(root, 'src', f)),
    path.join(root, 'index.js'),
  ]
  const used = new Set(sources.flatMap((f) => fs.readFileSync(f, 'utf8').match(CODE) ?? []))
  const dts = fs.readFileSync(path.join(root, 'index.d.ts'), 'utf8')
  const union = dts.slice(dts.indexOf('export type ErrorCode ='))
  const typed = new Set(union.slice(0, union.indexOf('\n\n')).match(CODE))
  const readme = fs.readFileSync(path.join(root, '..', 'README.md'), 'utf8')
  const node = readme.split(/^## /m).find((s) => s.startsWith('Node'))
  const table = node.split(/^### /m).find((s) => s.startsWith('Errors and their codes'))
  const listed = new Set([...table.matchAll(/^\| `(ERR_[A-Z_]+)` \|/gm)].map((m) => m[1]))
  const sorted = (s) => [...s].sort()
  assert.ok(used.size >= 18, sorted(used).join(' '))
  assert.deepEqual(sorted(typed), sorted(used), 'index.d.ts ErrorCode vs the codes in lib/, src/, index.js')
  assert.deepEqual(sorted(listed), sorted(used), 'README table vs the codes in lib/, src/, index.js')
})

test('every error class\'s code, name and base as index.d.ts declares them; signal.reason\'s code', T, async () => {
  const fs = require('node:fs')
  const path = require('node:path')
  const dts = fs.readFileSync(path.join(__dirname, '..', 'index.d.ts'), 'utf8')
  const declared = [...dts.matchAll(/export declare class (\w+) extends (\w+) \{\n(?:  [^\n]*\n)*?  code: '(ERR_[A-Z_]+)'/g)]
    .map(([, name, base, code]) => ({ name, base, code }))
  assert.deepEqual(declared.map((d) => d.name).sort(), ['CancelledError', 'CycleError', 'DuplicateTaskError', 'FlowError',
    'HookError', 'MissingDependencyError', 'RetryError', 'TaskFailedError', 'TaskTimeoutError', 'UnknownTaskError'])
  for (const { name, base, code } of declared) {
    const C = legato[name]
    const e = name === 'RetryError' ? new C(2, new Error('x')) : name === 'FlowError' ? new C('m', undefined) : new C('m')
    assert.equal(e.code, code, name)
    assert.ok(e instanceof legato[base], `${name} extends ${base}`)
    assert.ok(e instanceof LegatoError && e instanceof Error, name)
    assert.equal(e.name, name === 'TaskTimeoutError' ? 'TimeoutError' : name)
  }
  assert.equal(new legato.GraphError('m').code, 'ERR_LEGATO_GRAPH')
  // The signals' reasons carry the codes too: a timeout, a cancel, the run's timeout for main.
  const f = new Flow({ failFast: true })
  const reasons = {}
  const hang = (name) => (ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', () => {
    reasons[name] = ctx.signal.reason
    resolve()
  }))
  f.step('slow', hang('slow'), { timeout: 5 })
  f.step('other', hang('other'))
  await f.run().catch(() => {})
  assert.equal(reasons.slow.code, 'ERR_LEGATO_TIMEOUT')
  assert.equal(reasons.other.code, 'ERR_LEGATO_CANCELLED')
  const o = new Orchestrator({ timeout: 5 })
  let mainSignal
  await o.run(() => new Promise((resolve) => (mainSignal = o.signal()).addEventListener('abort', resolve))).catch(() => {})
  assert.equal(mainSignal.reason.code, 'ERR_LEGATO_TIMEOUT')
  assert.equal(mainSignal.reason.name, 'TimeoutError')
})

// ----- tests that would have caught the mutation pass's survivors ----------------------------

test('toJSON has the keys every door\'s report JSON shares (tests/report-keys.json), at every level', T, async () => {
  const fs = require('node:fs')
  const path = require('node:path')
  const keys = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'tests', 'report-keys.json'), 'utf8'))
  const f = new Flow()
  f.step('flaky', (ctx) => {
    if (ctx.attempt === 1) throw new Error('once')
    return ctx.spawn('child', () => 1)
  }, { retries: 1 })
  f.step('bad', () => {
    throw new Error('boom')
  })
  f.step('after-bad', () => 1, { after: ['bad'] })
  const err = await f.run().catch((e) => e)
  const j = JSON.parse(JSON.stringify(err.report))
  const sorted = (o) => Object.keys(o).sort()
  assert.deepEqual(sorted(j), keys.report)
  assert.deepEqual(sorted(j.counts), keys.counts)
  assert.equal(typeof j.started_at, 'string')
  assert.ok(!Number.isNaN(Date.parse(j.started_at)))
  assert.deepEqual(j.tasks.map((t) => t.name).sort(), ['after-bad', 'bad', 'child', 'flaky'])
  for (const t of j.tasks) {
    assert.deepEqual(sorted(t), keys.task, t.name)
    for (const a of t.attempt_log) {
      assert.deepEqual(sorted(a), keys.attempt, t.name)
      if (a.error !== null) assert.deepEqual(sorted(a.error), keys.error)
    }
    if (t.error !== null) assert.deepEqual(sorted(t.error), keys.error)
  }
  const byName = Object.fromEntries(j.tasks.map((t) => [t.name, t]))
  assert.equal(byName.flaky.attempt_log.length, 2)
  assert.equal(byName.child.parent, 'flaky')
  assert.equal(byName['after-bad'].skip_reason, 'dependency "bad" failed')
  // The Orchestrator's report has the same shape.
  const o = new Orchestrator()
  const act = o.action(async (x) => x)
  await o.run(() => act(1))
  const oj = o.report.toJSON()
  assert.deepEqual(sorted(oj), keys.report)
  assert.deepEqual(sorted(oj.tasks[0]), keys.task)
})

test('retry: { attempts: 3 } makes exactly 3 calls of an always-failing body (action, step, spawn)', T, async () => {
  const boom = new Error('always')
  let n = 0
  const o = new Orchestrator()
  const act = o.action(() => {
    n++
    throw boom
  }, { retry: { attempts: 3 } })
  await assert.rejects(o.run(() => act()), { name: 'RetryError', attempts: 3 })
  assert.equal(n, 3)
  assert.equal(o.report.list[0].attempts, 3)
  let s = 0
  let c = 0
  const f = new Flow()
  f.step('s', async (ctx) => {
    s++
    await ctx.spawn('c', () => {
      c++
      throw boom
    }, { retry: { attempts: 3 } }).catch(() => {})
    throw boom
  }, { retry: { attempts: 3 } })
  const err = await f.run().catch((e) => e)
  assert.equal(s, 3)
  assert.equal(c, 9)
  assert.equal(err.report.tasks.s.attempts, 3)
  // retries: 2 is the same count.
  let r = 0
  const g = new Flow()
  g.step('r', () => {
    r++
    throw boom
  }, { retries: 2 })
  await g.run().catch(() => {})
  assert.equal(r, 3)
})

test('getState().operations has one record per call, calls made by actions inside actions included', T, async () => {
  const o = new Orchestrator()
  const leaf = o.action(async function leaf(x) { return x })
  const mid = o.action(async function mid(x) { return (await leaf(x)) + (await leaf(x + 1)) })
  const top = o.action(async function top() {
    const [a, b] = await Promise.all([mid(1), mid(10)])
    return a + b + (await leaf(100))
  })
  const v = await o.run(async () => (await top()) + (await o.parallel([leaf, mid])(1000, 2000))[0])
  assert.equal(v, 3 + 21 + 100 + 1000)
  const ops = o.getState().operations
  assert.equal(o.report.list.length, 1 + 2 + 4 + 1 + 1 + 1 + 2)
  assert.equal(ops.length, o.report.list.length)
  assert.deepEqual(ops.map((r) => r.name).sort(), o.report.list.map((t) => t.name).sort())
  for (const r of ops) assert.equal(typeof r.duration, 'number', r.name)
  // Accumulating across runs, as the npm package does.
  await o.run(() => mid(5))
  assert.equal(ops.length, 12 + 3)
})

test('a Flow step\'s ctx.signal fires, with the run\'s reason, on fail-fast, on run({ signal }) and on the run timeout', T, async () => {
  const { CancelledError } = legato
  const waitAbort = (box) => (ctx) => new Promise((resolve) => {
    box.signal = ctx.signal
    ctx.signal.addEventListener('abort', () => {
      box.fired = true
      resolve()
    })
  })
  // Fail-fast: the sibling's signal fires with the failure named.
  const ff = {}
  const f = new Flow({ failFast: true })
  f.step('bad', async () => {
    await new Promise((resolve) => setImmediate(resolve))
    throw new Error('boom')
  })
  f.step('other', waitAbort(ff))
  const e1 = await f.run().catch((e) => e)
  assert.equal(ff.fired, true)
  assert.ok(ff.signal.reason instanceof CancelledError)
  assert.equal(ff.signal.reason.message, 'fail-fast: task "bad" failed')
  assert.equal(e1.report.tasks.other.status, 'cancelled')
  // run({ signal }): the step's signal fires with `run cancelled`.
  const cx = {}
  const ac = new AbortController()
  const g = new Flow()
  g.step('w', (ctx) => {
    const p = waitAbort(cx)(ctx)
    queueMicrotask(() => ac.abort())
    return p
  })
  const e2 = await g.run({ signal: ac.signal }).catch((e) => e)
  assert.equal(cx.fired, true)
  assert.ok(cx.signal.reason instanceof CancelledError)
  assert.equal(cx.signal.reason.message, 'run cancelled')
  assert.equal(e2.report.tasks.w.status, 'cancelled')
  // The run timeout.
  const to = {}
  const h = new Flow({ timeout: 5 })
  h.step('w', waitAbort(to))
  const e3 = await h.run().catch((e) => e)
  assert.equal(to.fired, true)
  assert.equal(to.signal.reason.message, 'run timed out after 5ms')
  assert.equal(e3.message, 'flow failed: run timed out after 5ms')
  // A spawned child's signal fires when its parent is cancelled (the core's text names it).
  const child = {}
  const k = new Flow({ failFast: true })
  k.step('bad', async () => {
    await new Promise((resolve) => setImmediate(resolve))
    throw new Error('boom')
  })
  k.step('parent', (ctx) => ctx.spawn('kid', waitAbort(child)))
  await k.run().catch(() => {})
  assert.equal(child.fired, true)
  assert.equal(child.signal.reason.message, 'parent task "parent" ended')
})
