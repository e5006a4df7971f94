// W1–W6 (DESIGN.md "Workloads", same LCG as every door) through legato's Node door, beside
// `hand-rolled` (a plain Promise DAG runner: the floor), `async.auto`, `p-graph` and `p-queue`,
// all in the same process and run. W6 (priority) runs legato twice, as `legato-fifo` and
// `legato-critical-path` (each step's `cost` its sleep), beside the same peers (all first-come),
// and reports makespan / the lower bound (805.25 ms).
// Usage: node [--expose-gc] bench/node/bench.mjs [--json bench/results.json] [--runs N] [--collect]
//        [--only W1,W2] [--impls legato,hand-rolled]
// Rows merged into --json replace those of the same door, workload, implementation and mode
// (`--collect`: a full collection before every sample, rows marked `"collect": true`; needs
// --expose-gc). --impls without hand-rolled is for profiling: nothing is merged.
import fs from 'node:fs'
import path from 'node:path'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const require = createRequire(path.join(here, '..', '..', 'bindings-node', 'package.json'))
const { Flow } = require('./index.js')
const asyncLib = require('async')
const { pGraph } = require('p-graph')
const { default: PQueue } = await import(require.resolve('p-queue'))

const args = process.argv.slice(2)
const jsonOut = args.includes('--json') ? args[args.indexOf('--json') + 1] : null
const RUNS = args.includes('--runs') ? Number(args[args.indexOf('--runs') + 1]) : 5
const listArg = (flag) => (args.includes(flag) ? args[args.indexOf(flag) + 1].split(',') : null)
const ONLY = listArg('--only')
const ONLY_IMPLS = listArg('--impls')
const COLLECT = args.includes('--collect')
if (COLLECT && typeof globalThis.gc !== 'function') {
  console.error('--collect needs node --expose-gc')
  process.exit(2)
}

// ----- graphs (the shared LCG) ---------------------------------------------------------------
function lcg() {
  let s = 42n
  const M = (1n << 64n) - 1n
  return () => {
    s = (s * 6364136223846793005n + 1442695040888963407n) & M
    return Number(s >> 33n)
  }
}
function w1() {
  const tasks = []
  for (let i = 0; i < 10000; i++) tasks.push({ name: `t${i}`, deps: [] })
  tasks.push({ name: 'sink', deps: tasks.map((t) => t.name) })
  return { tasks }
}
function w2() {
  const tasks = []
  for (let i = 0; i < 2000; i++) tasks.push({ name: `t${i}`, deps: i ? [`t${i - 1}`] : [] })
  return { tasks }
}
function w3() {
  const next = lcg()
  const tasks = [{ name: 't0', deps: [] }]
  for (let i = 1; i < 10000; i++) {
    const k = 1 + (next() % 3)
    const deps = []
    for (let m = 0; m < k; m++) {
      const j = next() % i
      if (!deps.includes(`t${j}`)) deps.push(`t${j}`)
    }
    tasks.push({ name: `t${i}`, deps })
  }
  return { tasks }
}
function w4() {
  const next = lcg()
  const tasks = []
  for (let L = 0; L < 4; L++) {
    for (let i = 0; i < 50; i++) {
      const deps = []
      if (L > 0) {
        const a = next() % 50
        const b = next() % 50
        deps.push(`l${L - 1}_${a}`)
        if (b !== a) deps.push(`l${L - 1}_${b}`)
      }
      tasks.push({ name: `l${L}_${i}`, deps })
    }
  }
  return { tasks, sleep: 10, maxParallel: 50, ideal: 40 }
}
function w6() {
  const next = lcg()
  const tasks = []
  for (let i = 0; i < 300; i++) {
    const deps = []
    if (i > 0) {
      const k = next() % 4
      for (let m = 0; m < k; m++) {
        const j = i - 1 - (next() % Math.min(i, 10))
        if (!deps.includes(`t${j}`)) deps.push(`t${j}`)
      }
    }
    // Drawn after the task's dependencies.
    tasks.push({ name: `t${i}`, deps, ms: 1 + (next() % 20) })
  }
  // DESIGN: total work 3,221 ms, critical path 553 ms; bound max(553, 3221 / 4) = 805.25 ms.
  return { tasks, maxParallel: 4, ideal: 805.25, perTask: true }
}
function w5() {
  const tasks = []
  for (let i = 0; i < 1000; i++) tasks.push({ name: `t${i}`, deps: [] })
  return { tasks, failTwice: true }
}

// A task body: an async no-op, a 10 ms sleep (W4), its own sleep (W6), or fail twice then
// succeed (W5).
function bodies(w) {
  if (w.perTask) return (t) => () => new Promise((r) => setTimeout(r, t.ms))
  if (w.sleep) return () => () => new Promise((r) => setTimeout(r, w.sleep))
  if (w.failTwice) {
    return () => {
      let n = 0
      return async () => {
        if (++n < 3) throw new Error('flaky')
      }
    }
  }
  return () => async () => {}
}

// ----- implementations ---------------------------------------------------------------------
async function runLegato(w, priority) {
  const make = bodies(w)
  const flow = new Flow(w.maxParallel ? { maxParallel: w.maxParallel, ...(priority ? { priority } : {}) } : undefined)
  const opts = w.failTwice ? { retries: 2 } : undefined
  for (const t of w.tasks) {
    // W6: each step's cost is its sleep, as the core's W6 test and DESIGN's simulation give it.
    const o = t.ms !== undefined ? { ...opts, cost: t.ms } : opts
    flow.step(t.name, make(t), t.deps.length ? { ...o, after: t.deps } : o)
  }
  const r = await flow.run()
  if (!r.ok) throw new Error('legato run failed')
}

async function withRetry(fn) {
  for (let a = 1; ; a++) {
    try {
      return await fn()
    } catch (e) {
      if (a >= 3) throw e
    }
  }
}

async function runHandRolled(w) {
  const make = bodies(w)
  const promises = new Map()
  let running = 0
  const waiting = []
  const limit = w.maxParallel ?? Infinity
  const acquire = () => (running < limit ? (running++, undefined) : new Promise((r) => waiting.push(r)))
  const release = () => {
    const n = waiting.shift()
    if (n) n()
    else running--
  }
  for (const t of w.tasks) {
    const fn = make(t)
    const deps = t.deps.map((d) => promises.get(d))
    const go = async () => {
      if (limit !== Infinity) await acquire()
      try {
        return w.failTwice ? await withRetry(fn) : await fn()
      } finally {
        if (limit !== Infinity) release()
      }
    }
    promises.set(t.name, deps.length === 0 ? go() : Promise.all(deps).then(go))
  }
  await Promise.all(promises.values())
}

async function runAsyncAuto(w) {
  const make = bodies(w)
  const spec = {}
  for (const t of w.tasks) {
    const fn = make(t)
    const body = w.failTwice ? async () => withRetry(fn) : async () => { await fn() }
    spec[t.name] = t.deps.length ? [...t.deps, asyncLib.asyncify(body)] : asyncLib.asyncify(body)
  }
  await asyncLib.auto(spec, w.maxParallel ?? Infinity)
}

async function runPGraph(w) {
  const make = bodies(w)
  const nodes = new Map()
  const edges = []
  for (const t of w.tasks) {
    const fn = make(t)
    nodes.set(t.name, { run: w.failTwice ? () => withRetry(fn) : fn })
    for (const d of t.deps) edges.push([d, t.name])
  }
  await pGraph(nodes, edges).run(w.maxParallel ? { concurrency: w.maxParallel } : undefined)
}

async function runPQueue(w) {
  const make = bodies(w)
  const queue = new PQueue({ concurrency: w.maxParallel ?? Infinity })
  const promises = new Map()
  for (const t of w.tasks) {
    const fn = make(t)
    const job = w.failTwice ? () => withRetry(fn) : fn
    const deps = t.deps.map((d) => promises.get(d))
    promises.set(t.name, deps.length === 0 ? queue.add(job) : Promise.all(deps).then(() => queue.add(job)))
  }
  await Promise.all(promises.values())
}

const PEERS = [['hand-rolled', runHandRolled], ['async.auto', runAsyncAuto], ['p-graph', runPGraph], ['p-queue', runPQueue]]
const pick = (impls) => impls.filter(([name]) => !ONLY_IMPLS || name === 'hand-rolled' || ONLY_IMPLS.includes(name))
const IMPLS_ALL = pick([['legato', (w) => runLegato(w)], ...PEERS])
/** W6: legato in both orders beside the same (first-come) peers. */
const IMPLS_W6 = pick([['legato-fifo', (w) => runLegato(w, 'fifo')], ['legato-critical-path', (w) => runLegato(w, 'critical_path')], ...PEERS])
const WORKLOADS = [['W1', w1], ['W2', w2], ['W3', w3], ['W4', w4], ['W5', w5], ['W6', w6]]
  .filter(([name]) => !ONLY || ONLY.includes(name))

// ----- measuring -----------------------------------------------------------------------------
/**
 * The rows of a Williams design for `n` treatments: in each row every implementation once, and
 * over the rows every ordered pair (a right before b) equally often (for an odd `n` the rows
 * are followed by their reverses, as the design needs).
 */
function balancedOrders(n) {
  const first = []
  for (let i = 0, lo = 1, hi = n - 1; i < n; i++) {
    if (i === 0) first.push(0)
    else if (i % 2 === 1) first.push(lo++)
    else first.push(hi--)
  }
  const rows = []
  for (let r = 0; r < n; r++) rows.push(first.map((x) => (x + r) % n))
  if (n % 2 === 1) for (let r = 0; r < n; r++) rows.push([...rows[r]].reverse())
  return rows
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const rows = []
for (const [wname, make] of WORKLOADS) {
  const w = make()
  const IMPLS = wname === 'W6' ? IMPLS_W6 : IMPLS_ALL
  const samples = new Map(IMPLS.map(([name]) => [name, []]))
  // Warm-up, timed: a workload whose slowest implementation takes under a second gets at least
  // 30 rounds (its samples are a few milliseconds, where one stray pause moves a median of ten).
  let slowest = 0
  for (const [, fn] of IMPLS) {
    const t0 = performance.now()
    await fn(w)
    slowest = Math.max(slowest, performance.now() - t0)
  }
  // W6 is sleeps of whole milliseconds (under a second a run): its figures are steady.
  const rounds = slowest < 1000 && !w.perTask ? Math.max(RUNS, 30) : RUNS
  // Rounds interleave the implementations, so that a change in the machine's load during the
  // run falls on all of them alike; each figure is the median of its rounds. The order of each
  // round comes from a balanced Latin square (Williams): over the rounds each implementation
  // follows every other one equally often, so none always pays for the one before it (a round
  // that turns the same way every time would have legato follow p-queue in every round, and
  // hand-rolled follow legato). Every sample starts at a fresh event-loop turn. With
  // `--collect` it starts after a full collection too: no sample inherits the garbage of the one
  // before it, but every sample runs right after a major collection, which no process does
  // before each of its runs; so the main figures leave the collector alone (the balanced order
  // spreads each sample's garbage over the others alike) and `make bench-node` records the
  // `--collect` figures beside them. (They are how legato's hidden classes were found dying at
  // such collections, see SHAPE_ONLY in bindings-node/lib/driver.js: W2 6.2× hand-rolled before
  // the fix, 1.95× after.)
  const orders = balancedOrders(IMPLS.length)
  for (let r = 0; r < rounds; r++) {
    for (const k of orders[r % orders.length]) {
      const [name, fn] = IMPLS[k]
      await new Promise((resolve) => setImmediate(resolve))
      if (COLLECT) {
        globalThis.gc()
        await new Promise((resolve) => setImmediate(resolve))
      }
      const t0 = performance.now()
      await fn(w)
      samples.get(name).push(performance.now() - t0)
    }
  }
  const times = new Map([...samples].map(([name, t]) => [name, median(t)]))
  const base = times.get('hand-rolled')
  for (const [name] of IMPLS) {
    const ms = times.get(name)
    const row = { door: 'node', impl: name, workload: wname, tasks: w.tasks.length, runs: rounds, ms: +ms.toFixed(4) }
    if (COLLECT) row.collect = true
    if (w.ideal) row.makespan_ratio = +(ms / w.ideal).toFixed(4)
    else row.per_task_us = +((ms * 1000) / w.tasks.length).toFixed(4)
    row.vs_hand_rolled = +(ms / base).toFixed(4)
    rows.push(row)
  }
}

console.log('workload  impl                  ms        per-task µs / makespan   vs hand-rolled')
for (const r of rows) {
  const fig = r.per_task_us !== undefined ? `${r.per_task_us.toFixed(3)} µs` : `${r.makespan_ratio.toFixed(3)}× ideal`
  console.log(`${r.workload.padEnd(9)} ${r.impl.padEnd(21)} ${r.ms.toFixed(2).padStart(8)}  ${fig.padStart(18)}   ${r.vs_hand_rolled.toFixed(3)}×`)
}
// DESIGN's "Must hold" for W6: critical_path within 1.05× the bound, and below fifo in this run.
const w6cp = rows.find((r) => r.workload === 'W6' && r.impl === 'legato-critical-path')
const w6fifo = rows.find((r) => r.workload === 'W6' && r.impl === 'legato-fifo')
if (w6cp && w6fifo) {
  const holds = w6cp.makespan_ratio <= 1.05 && w6cp.ms < w6fifo.ms
  console.log(`W6 must hold (critical_path <= 1.05x the bound and below fifo): ${holds ? 'yes' : 'NO'} ` +
    `(critical_path ${w6cp.makespan_ratio}, fifo ${w6fifo.makespan_ratio})`)
}
if (jsonOut && ONLY_IMPLS && !ONLY_IMPLS.includes('hand-rolled')) {
  console.log(`not merged into ${jsonOut}: no hand-rolled figures to compare with`)
} else if (jsonOut) {
  // One row a line: the rows kept stay as they were written (another door's `1.0` is not
  // rewritten as `1`); the rows measured here replace those of the same door, workload,
  // implementation and mode, or are added at the end.
  let kept = []
  try {
    const text = fs.readFileSync(jsonOut, 'utf8')
    JSON.parse(text) // a valid file, or none
    kept = text.split('\n').map((l) => l.trim().replace(/,$/, '')).filter((l) => l.startsWith('{'))
      .map((l) => ({ text: l, row: JSON.parse(l) }))
  } catch { /* a new file */ }
  const same = (a, b) => a.door === b.door && a.workload === b.workload && a.impl === b.impl && !!a.collect === !!b.collect
  const format = (r) => JSON.stringify(r).replaceAll('":', '": ').replaceAll(',"', ', "')
  const lines = kept.filter((k) => !rows.some((n) => same(k.row, n))).map((k) => k.text).concat(rows.map(format))
  fs.writeFileSync(jsonOut, '[\n' + lines.map((l) => `  ${l}`).join(',\n') + '\n]\n')
  console.log(`merged ${rows.length} rows into ${jsonOut}`)
}
