// A TypeScript consumer of the shipped types: `make lint` type-checks it with `tsc --noEmit`,
// and the tests run it. Lines marked @ts-expect-error must stay errors.
import assert from 'node:assert/strict'
import {
  Flow, Orchestrator, FlowError, TaskTimeoutError, CycleError, LegatoError, HookError, RunReport, type FlowRunOptions,
  type StepContext, type TaskCompletionEvent, type DepthError, type RunOptions,
  TimeoutError, RetryError, UniqueIdGenerator, type ErrorCode, type InvalidNameError,
} from 'legato'
import DefaultOrchestrator from 'legato'

interface Ctx { requestCount: number; log: string[] }

const orchestrator = new Orchestrator<Ctx>({ maxParallel: 4 })
orchestrator.setState('requestCount', 0).setState('log', [])
// @ts-expect-error: a key the state does not have
orchestrator.setState('nope', 1)

const checkInventory = orchestrator.action(async (sku: string) => ({ sku, inStock: true }), { retries: 2, timeout: 1000 })
const add = orchestrator.action((a: number, b: number) => a + b)
const shipping = orchestrator.action(async function getShippingOptions(dest: string) {
  orchestrator.signal().throwIfAborted()
  return [dest, 'Standard']
}, { retry: { attempts: 3, backoff: 10, exponential: true } })
// @ts-expect-error: wrong argument type
checkInventory(42)

const both = orchestrator.parallel([checkInventory, shipping], { failFast: true })
const settled = orchestrator.parallel([checkInventory, shipping])
// failFast as a boolean known at run time (issue 20 #12): the results may hold errors.
const failFast: boolean = process.env.LEGATO_FAIL_FAST === '1'
const either = orchestrator.parallel([checkInventory, shipping], { failFast })
const eitherOpts: { failFast: boolean } = { failFast }
orchestrator.parallel([checkInventory, shipping], eitherOpts)

orchestrator
  .onProcessBegin(({ time, context }) => { context.log.push(`begin ${typeof time}`) })
  .onTaskBegin(({ name, startTime, args, context }) => { context.requestCount++; void name; void startTime; void args })
  .onTaskCompletion((e: TaskCompletionEvent<Ctx>) => { void e.duration; void e.status })
  .onProcessCompletion(async ({ totalDuration, report, context }) => { context.log.push(`done in ${totalDuration}, ok ${report.ok}`) })

const total: number = await orchestrator.run(async () => {
  orchestrator.signal().throwIfAborted()
  const inv = await checkInventory('ABC123')
  const sum: number = await add(1, 2)
  const [i, s] = await both('A1', 'USA')
  const r = await settled('A2', 'FR')
  const [e0] = await either('A3', 'DE')
  if (!(e0 instanceof Error)) void e0.inStock
  const first = r[0]
  if (!(first instanceof Error)) void first.inStock
  return sum + (inv.inStock ? 1 : 0) + i.sku.length + s.length
})
assert.equal(total, 3 + 1 + 2 + 2)
const stopped = new Orchestrator({ timeout: 20 })
await assert.rejects(stopped.run(() => new Promise((resolve) => stopped.signal().addEventListener('abort', resolve)), { signal: new AbortController().signal }),
  (e: unknown) => e instanceof TaskTimeoutError && e.message === 'run timed out after 20ms')
// maxDepth: deeper calls reject with a RangeError whose code is ERR_LEGATO_DEPTH.
const shallow = new Orchestrator({ maxDepth: 2 } satisfies RunOptions)
const nest: (n: number) => Promise<number> = shallow.action((n: number): Promise<number> => nest(n + 1), { name: 'nest' })
await assert.rejects(shallow.run(() => nest(0)), (e: unknown) =>
  e instanceof RangeError && (e as DepthError).code === 'ERR_LEGATO_DEPTH' && e.message === 'call depth exceeded 2 (max_depth)')
// @ts-expect-error: maxDepth is a number (and the core's validation refuses it at run time)
assert.throws(() => new Orchestrator({ maxDepth: '2' }), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' })
const state = orchestrator.getState()
assert.equal(state.operations.length, 8)
assert.equal(typeof state.id, 'string')
assert.ok(state.requestCount >= 6)

const flow = new Flow<{ env: string }>({ maxParallel: 2, state: { env: 'prod' } })
const install = flow.step('install', async (ctx: StepContext<{ env: string }>) => `deps for ${ctx.state.env}`, { description: 'Install dependencies' })
flow.step('build', async (ctx) => { ctx.signal.throwIfAborted(); return `${ctx.results.install} built` }, { after: [install], retries: 1, backoff: { initial: 5, factor: 2, max: 100 } })
flow.step(async function test(ctx) { return ctx.attempt }, { after: 'build', timeout: 1000, sequences: ['db'] })
const point = flow.parallel('install', 'build')
flow.step('package', () => 'pkg', { after: [point] })
flow.syncAll(function notify() { return true })
// @ts-expect-error: a step is a function
assert.throws(() => flow.step('bad', 42), { name: 'TypeError', message: 'fn: must be a function, got 42' })
const levels: string[][] = flow.plan()
assert.deepEqual(levels[0], ['install'])
const report: RunReport = await flow.run()
assert.equal(report.ok, true)
assert.equal(report.tasks.build!.result, 'deps for prod built')
assert.match(report.toMermaid(), /gantt/)
assert.match(flow.toMermaid() + flow.toDot() + flow.toAscii(), /install/)

const slow = new Flow()
slow.step('slow', (ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', resolve)), { timeout: 5 })
try {
  await slow.run()
  assert.fail('should have failed')
} catch (e) {
  assert.ok(e instanceof FlowError)
  const err = e.report.tasks.slow!.error
  assert.ok(err instanceof TaskTimeoutError)
  assert.equal(err.name, 'TimeoutError')
  assert.equal(err.message, 'task "slow" timed out after 5ms')
}

const cyclic = new Flow()
cyclic.step('a', () => 1, { after: ['b'] })
cyclic.step('b', () => 1, { after: ['a'] })
await assert.rejects(cyclic.run(), (e: unknown) => e instanceof CycleError && e instanceof LegatoError && e.code === 'ERR_LEGATO_CYCLE')
const audited = new Flow()
audited.onTaskBegin(function audit() { throw 'audit log full' })
audited.step('a', () => 1)
await assert.rejects(audited.run(), (e: unknown) => {
  const h = e instanceof FlowError ? e.cause : undefined
  return h instanceof HookError && h.hook === 'audit' && h.event === 'task_begin' && h.cause === 'audit log full'
})
// The npm orchestrator package's exports: the default export, TimeoutError, RetryError, UniqueIdGenerator.
assert.equal(DefaultOrchestrator, Orchestrator)
const viaDefault = new DefaultOrchestrator<Ctx>()
viaDefault.setState('requestCount', 1)
const ids = new UniqueIdGenerator('op-')
const id1: string = ids.generate()
const id2: string = ids.next()
assert.ok(id1.startsWith('op-') && id1 !== id2)
const timed = new Orchestrator({ timeout: 5 })
try {
  await timed.run(() => new Promise((resolve) => timed.signal().addEventListener('abort', resolve)))
  assert.fail('should have timed out')
} catch (err) {
  assert.ok(err instanceof TimeoutError)
  assert.equal(err.name, 'TimeoutError')
}
const re = new RetryError(3, new Error('boom'))
const attempts: number = re.attempts
assert.equal(attempts, 3)
assert.ok(re instanceof LegatoError)
assert.equal(re.message, 'Operation failed after 3 attempts. Last error: boom')
// Types that carry results (issue 20), as Rust's `cx.result::<T>(name)`: a step handle in `after`
// types `ctx.results[name]`; a flow that declares its steps' result types checks names, the
// steps' return types, `ctx.results` by `after`, and types `report.tasks[name].result`.
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false
interface Artifact { path: string; bytes: number }

// An open flow (no step types declared): handles carry the types, other names stay `any`.
const handled = new Flow<{ env: string }>({ state: { env: 'prod' } })
const fetchDeps = handled.step('fetch', async () => ['left-pad', 'is-odd'])
const compile = handled.step('compile', (ctx): Artifact => {
  const deps = ctx.results.fetch
  const fetchIsTyped: Equal<typeof deps, string[]> = true
  // @ts-expect-error: fetch's result is a string[], not a number
  const wrong: number = ctx.results.fetch
  void fetchIsTyped; void wrong
  return { path: `dist/${ctx.state.env}`, bytes: deps.length }
}, { after: [fetchDeps] })
const shipped = handled.step('ship', (ctx) => {
  const artifactIsTyped: Equal<typeof ctx.results.compile, Artifact> = true
  // Not a typed dependency of this step: as before, any name reads as `any`.
  const untyped: Equal<typeof ctx.results.anything, any> = true
  void artifactIsTyped; void untyped
  return ctx.results.compile.bytes
}, { after: compile })
const shippedIsTyped: Equal<Awaited<ReturnType<typeof shipped>>, number> = true
void shippedIsTyped
const handledReport = await handled.run()
assert.equal(handledReport.tasks.ship!.result, 2)

// A flow that declares its steps' result types.
interface Steps { install: string[]; build: Artifact; lint: boolean; test: number }
const declared = new Flow<{ env: string }, Steps>({ state: { env: 'ci' } })
declared.step('install', () => ['left-pad'])
declared.step('lint', async () => true, { after: 'install' })
declared.step('build', async (ctx) => {
  const installIsTyped: Equal<typeof ctx.results.install, string[]> = true
  // A step that is not a dependency may not have run yet (DESIGN rule 10): possibly undefined.
  const lintMaybe: Equal<typeof ctx.results.lint, boolean | undefined> = true
  void installIsTyped; void lintMaybe
  return { path: `dist/${ctx.state.env}`, bytes: ctx.results.install.length }
}, { after: ['install'] })
const checks = declared.parallel('build', 'lint')
declared.step('test', (ctx) => {
  const viaPoint: Equal<typeof ctx.results.build, Artifact> = true
  void viaPoint
  return ctx.results.build.bytes + (ctx.results.lint ? 1 : 0)
}, { after: [checks] })
const declaredReport = await declared.run()
const built: Artifact = declaredReport.tasks.build.result
const reportIsTyped: Equal<typeof declaredReport.tasks.build.result, Artifact> = true
const dynamicIsUnknown: Equal<typeof declaredReport.tasks['build/child']['result'], unknown> = true
void reportIsTyped; void dynamicIsUnknown
assert.deepEqual(built, { path: 'dist/ci', bytes: 1 })
assert.equal(declaredReport.tasks.test.result, 2)
// The failed run's report (FlowError.report) is untyped: a failed step has no result.
const failedIsUnknown: Equal<FlowError['report']['tasks']['build']['result'], unknown> = true
void failedIsUnknown

/** Mistakes the declared types catch (type-checked, never run). */
function refusedByTheTypes(flow: Flow<{ env: string }, Steps>, report: RunReport<Steps>): void {
  flow.step('build', (ctx) => {
    // @ts-expect-error: lint is not a dependency of build: its result may be absent
    const lint: boolean = ctx.results.lint
    // @ts-expect-error: install's result is a string[], not a string
    const text: string = ctx.results.install
    void lint; void text
    return { path: 'dist', bytes: 0 }
  }, { after: ['install'] })
  // @ts-expect-error: a step must return its declared type (test: number)
  flow.step('test', () => 'green')
  // @ts-expect-error: a name the flow does not declare
  flow.step('deploy', () => 1)
  // A condition's ctx is the step's: results typed by its dependencies, the flow's state.
  flow.step('lint', () => true, { after: ['install'], when: (ctx) => ctx.results.install.length > 0 && ctx.state.env === 'ci' })
  // @ts-expect-error: install's result is a string[], not a number
  flow.step('lint', () => true, { after: ['install'], when: (ctx) => ctx.results.install.toFixed() === '1' })
  // @ts-expect-error: a typo in after
  flow.step('lint', () => true, { after: ['instal'] })
  // @ts-expect-error: syncAll places a declared step only
  flow.syncAll('notify')
  // @ts-expect-error: test's result is a number
  const s: string = report.tasks.test.result
  void s
}
void refusedByTheTypes
console.log('consumer ok')

// Every error code is a documented ErrorCode; a refused name is an InvalidNameError.
const outside: ErrorCode = 'ERR_LEGATO_OUTSIDE_RUN'
assert.throws(() => new Orchestrator().signal(), (e: unknown) => e instanceof LegatoError && e.code === outside)
// @ts-expect-error: not a code legato uses
const notACode: ErrorCode = 'ERR_LEGATO_NOPE'
void notACode
try {
  new Flow().step(' padded', () => 1)
  assert.fail('the name was taken')
} catch (e) {
  const bad = e as InvalidNameError
  assert.equal(bad.code, 'ERR_LEGATO_INVALID_NAME')
  assert.ok(bad instanceof RangeError)
}

// Issue 21: limits, priority, costs; uses, when, trigger, cost; an action's uses per call.
{
  const rules = new Flow<{ env: string }>({ limits: { db: 2 }, priority: 'critical_path', state: { env: 'prod' } })
  rules.step('check', () => true)
  rules.step('migrate', () => 'done', { after: ['check'], uses: ['db'], cost: 200, when: (ctx) => ctx.results.check === true })
  rules.step('down', () => 'cleaned', { after: ['migrate'], trigger: 'all_done' })
  // Refused by the types (and at run time): never called.
  const refusedRules = (): void => {
    // @ts-expect-error: uses is a list of keys, not a bare string
    rules.step('bad1', () => 1, { uses: 'db' })
    // @ts-expect-error: not a trigger rule
    rules.step('bad2', () => 1, { trigger: 'always' })
    // @ts-expect-error: a condition is synchronous
    rules.step('bad3', () => 1, { when: async () => true })
    // @ts-expect-error: the condition's ctx.state is the flow's State
    rules.step('bad4', () => 1, { when: (ctx) => ctx.state.nope === 1 })
  }
  void refusedRules
  const first = await rules.run()
  assert.equal(first.ok, true)
  const again = new Flow({ priority: 'critical_path', costs: first } satisfies RunOptions)
  void again
  // A report of a flow with declared step types is a run's costs too.
  const typed = new Flow<{}, { a: number }>()
  typed.step('a', () => 1)
  void new Flow({ priority: 'critical_path', costs: await typed.run() })
  // @ts-expect-error: not a priority
  const refusedPriority = (): unknown => new Flow({ priority: 'lifo' })
  void refusedPriority
  const perUser = new Orchestrator({ limits: { 'user:1': 1 } })
  const charge = perUser.action(async (userId: number, cents: number) => cents, { uses: (userId, cents) => [`user:${userId}`, `amount:${cents}`] })
  // @ts-expect-error: the uses function takes the action's parameters
  const refusedUses = (): unknown => perUser.action(async (userId: number) => userId, { uses: (userId: string) => [userId] })
  void refusedUses
  assert.deepEqual(await perUser.run(() => Promise.all([charge(1, 5), charge(1, 7)])), [5, 7])
}

// Issue 22: resuming a failed run from its report (in memory or read back from JSON).
{
  let fixed = false
  const flow = new Flow<{}, { build: string; deploy: string }>()
  flow.step('build', () => 'dist/app.tar')
  flow.step('deploy', (ctx) => {
    if (!fixed) throw new Error('no credentials')
    return `deployed ${String(ctx.results.build)}`
  }, { after: ['build'] })
  const failed: RunReport = await flow.run().then(() => assert.fail('resolved'), (e: FlowError) => e.report)
  fixed = true
  const resumed = await flow.run({ resume: failed })
  const wasResumed: boolean = resumed.tasks.build.resumed
  assert.equal(wasResumed, true)
  const deployed: string = resumed.tasks.deploy.result
  assert.equal(deployed, 'deployed dist/app.tar')
  const back: RunReport = RunReport.fromJSON(JSON.stringify(failed))
  const options: FlowRunOptions = { resume: back }
  assert.equal((await flow.run('deploy', options)).tasks.build.attempts, 0)
  // Refused by the types (and at run time): never called.
  const refusedResume = (): void => {
    // @ts-expect-error: resume takes a RunReport, not its JSON
    void flow.run({ resume: failed.toJSON() })
    // @ts-expect-error: fromJSON takes the JSON text
    void RunReport.fromJSON(failed.toJSON())
  }
  void refusedResume
}
