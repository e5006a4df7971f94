// A release pipeline through legato's Node door: a Flow with dependencies, a flaky step that
// is retried, a step that times out, sequences, hooks, the plan and a Gantt chart; then the npm
// orchestrator style with actions; the failed run fixed and resumed from its saved report. It
// asserts what it prints, so `make demo` fails on a regression.
import assert from 'node:assert/strict'
import { Flow, Orchestrator, FlowError, RunReport } from '../../bindings-node/index.mjs'

const sleep = (ms, signal) => new Promise((resolve, reject) => {
  const t = setTimeout(resolve, ms)
  signal?.addEventListener('abort', () => { clearTimeout(t); reject(signal.reason) }, { once: true })
})

const flow = new Flow({ maxParallel: 3, state: { log: [], e2eFixed: false } })
const started = {}
flow.onTaskBegin(({ name }) => { started[name] = (started[name] ?? 0) + 1 })
flow.step('install', async (ctx) => { await sleep(20, ctx.signal); return 'node_modules' }, { description: 'Install dependencies' })
flow.step('build', async (ctx) => {
  await sleep(30, ctx.signal)
  if (ctx.attempt === 1) throw new Error('compiler crashed')
  return `dist built from ${ctx.results.install}`
}, { after: ['install'], retries: 2, backoff: { initial: 10, factor: 2 } })
flow.step('unit-tests', (ctx) => sleep(25, ctx.signal).then(() => 'ok'), { after: ['build'] })
flow.step('migrate-db', (ctx) => sleep(15, ctx.signal), { after: ['build'], sequences: ['db'] })
flow.step('seed-db', (ctx) => sleep(15, ctx.signal), { after: ['build'], sequences: ['db'] })
flow.step('e2e', (ctx) => (ctx.state.e2eFixed ? 'passed' : sleep(1000, ctx.signal)), { after: ['migrate-db', 'seed-db'], timeout: 50 })
flow.step('deploy', () => 'v1.2.3', { after: ['unit-tests', 'e2e'] })
flow.step('changelog', () => 'CHANGELOG.md', { after: ['install'] })

flow.onTaskRetry(({ name, attempt, error, delay }) => console.log(`  ↻ ${name} attempt ${attempt} failed (${error.message}), retrying in ${delay}ms`))
  .onTaskCompletion(({ name, status, duration }) => {
    const mark = { succeeded: '✓', skipped: '⊘' }[status] ?? '✗'
    console.log(`  ${mark} ${name} ${status} (${duration}ms)`)
  })
  .onTaskSkip(({ name, reason }) => console.log(reason === 'resumed'
    ? `  ✓ ${name} resumed (succeeded before, not run again)`
    : `  ⊘ ${name} skipped: ${reason}`))

console.log('plan:', JSON.stringify(flow.plan()))
console.log(flow.toAscii())
let report
try {
  report = await flow.run()
} catch (e) {
  assert.ok(e instanceof FlowError)
  report = e.report
  console.log(`run failed: ${e.message}`)
}
assert.equal(report.ok, false)
assert.equal(report.tasks.build.attempts, 2)
assert.equal(report.tasks.build.result, 'dist built from node_modules')
assert.equal(report.tasks.e2e.status, 'timed_out')
assert.equal(report.tasks.e2e.error.message, 'task "e2e" timed out after 50ms')
assert.equal(report.tasks.deploy.status, 'skipped')
assert.equal(report.tasks.changelog.status, 'succeeded')
const db = [report.tasks['migrate-db'], report.tasks['seed-db']].sort((a, b) => a.startTime - b.startTime)
assert.ok(db[0].endTime <= db[1].startTime, 'the db sequence never overlaps')
console.log('\nthe run as a Gantt chart:\n' + report.toMermaid())

// The e2e environment is fixed: resume the failed run from its saved report. What succeeded
// (install, build, the db steps, ...) is not run again; e2e and deploy run.
const saved = JSON.stringify(report)
flow.state.e2eFixed = true
const before = { ...started }
console.log('\nresumed from the saved report:')
const resumed = await flow.run({ resume: RunReport.fromJSON(saved) })
assert.equal(resumed.ok, true)
assert.deepEqual(Object.keys(started).filter((n) => started[n] !== before[n]), ['e2e', 'deploy'])
assert.equal(resumed.tasks.build.resumed, true)
assert.equal(resumed.tasks.build.attempts, 0)
assert.equal(resumed.tasks.deploy.result, 'v1.2.3')
console.log(`resumed: ${resumed.list.filter((t) => t.resumed).map((t) => t.name).join(', ')} not run again`)

// The npm orchestrator style: actions inside run(main), hooks and shared state.
const orchestrator = new Orchestrator({ maxParallel: 2 })
orchestrator.setState('requests', 0).onTaskBegin(({ context }) => { context.requests++ })
const getUser = orchestrator.action(async function getUser(id) { await sleep(10); return { id, name: 'Alice' } })
const getShipping = orchestrator.action(async function getShipping(dest) { await sleep(5); return ['Standard', 'Express'] })
const both = orchestrator.parallel([getUser, getShipping], { failFast: true })
const [user, shipping] = await orchestrator.run(() => both('user42', 'USA'))
console.log(`orchestrator: ${user.name} can ship by ${shipping.join(' or ')}; ${orchestrator.getState().requests} requests, ` +
  `operations: ${orchestrator.getState().operations.map((o) => `${o.name}(${o.args})`).join(', ')}`)
assert.equal(orchestrator.getState().requests, 2)
assert.deepEqual(orchestrator.getState().operations.map((o) => o.name), ['getUser', 'getShipping'])
console.log('demo ok')
