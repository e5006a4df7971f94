'use strict'
// The npm orchestrator README's examples (test/seed/*.mts: verbatim but for the import), compiled
// by tsc (make test-node does it first) and run as programs that must print what they promise
// and exit on their own.
const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { execFileSync, spawnSync } = require('node:child_process')

const root = path.join(__dirname, '..')
const built = path.join(root, 'build', 'ts')

function ensureBuilt() {
  if (!fs.existsSync(path.join(built, 'seed', 'quick-example.mjs'))) {
    execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(__dirname, 'tsconfig.json')], { stdio: 'inherit' })
  }
}

function runProgram(file) {
  ensureBuilt()
  const r = spawnSync(process.execPath, [path.join(built, file)], { encoding: 'utf8', timeout: 20_000 })
  assert.equal(r.signal, null, `${file} did not exit by itself`)
  assert.equal(r.status, 0, `${file} failed:\n${r.stderr}`)
  return { out: r.stdout, err: r.stderr }
}

test('seed quick example: inventory check runs, the team is not notified', { timeout: 30_000 }, () => {
  const { out } = runProgram('seed/quick-example.mjs')
  assert.equal(out, 'Checking inventory for SKU: ABC123\n')
})

test('seed lifecycle hooks: process and task hooks fire in order with times and durations', { timeout: 30_000 }, () => {
  const lines = runProgram('seed/lifecycle-hooks.mjs').out.trim().split('\n')
  assert.equal(lines.length, 6)
  assert.match(lines[0], /^Process started at \d{13}$/)
  assert.match(lines[1], /^Task anonymous started at \d{13}$/)
  assert.match(lines[2], /^Task anonymous completed in \d+ms$/)
  assert.match(lines[3], /^Task anonymous started at \d{13}$/)
  assert.match(lines[4], /^Task anonymous completed in \d+ms$/)
  assert.match(lines[5], /^Process completed in \d+ms$/)
  const begin = Number(lines[0].split(' ').pop())
  assert.ok(Number(lines[1].split(' ').pop()) >= begin)
})

test('seed parallel: both fetches run and the results come back in order', { timeout: 30_000 }, () => {
  const { out } = runProgram('seed/parallel.mjs')
  assert.match(out, /Fetching profile for user user42\.\.\./)
  assert.match(out, /Fetching shipping options for USA\.\.\./)
  assert.match(out, /Results: \{ userId: 'user42', name: 'Alice' \} \[ 'Standard', 'Express', 'Overnight' \]/)
})

test('seed advanced context: hooks share the context; the failed call is caught in main', { timeout: 30_000 }, () => {
  const { out, err } = runProgram('seed/advanced-context.mjs')
  const lines = out.split('\n')
  assert.equal(lines[0], 'Process started with API key')
  assert.equal(lines[1], 'Starting fetchUserData, request #1')
  assert.equal(lines[2], 'Completed fetchUserData, total requests: 1')
  assert.match(err, /Operation failed:/)
  assert.match(out, /Process completed with 0 errors/)
  assert.match(out, /metrics \{"requests":1,"errors":0\}/)
})

test('the TypeScript consumer file runs', { timeout: 30_000 }, () => {
  assert.match(runProgram('consumer.mjs').out, /consumer ok/)
})

test('the seed examples are the README\'s, verbatim but for the import', { timeout: 10_000 }, (t) => {
  const seeds = path.join(root, '..', '..', 'shared', 'seeds')
  const file = fs.existsSync(seeds) && fs.readdirSync(seeds).find((f) => f.startsWith('004_'))
  if (!file) return t.skip('shared/seeds is not beside the repository')
  const text = fs.readFileSync(path.join(seeds, file), 'utf8')
  const blocks = [...text.matchAll(/```typescript\n([\s\S]*?)```/g)].map((m) => m[1].replace("from 'orchestrator'", "from 'legato'"))
  const names = ['quick-example', 'lifecycle-hooks', 'parallel', 'advanced-context']
  assert.equal(blocks.length, names.length)
  names.forEach((n, i) => {
    const ours = fs.readFileSync(path.join(__dirname, 'seed', `${n}.mts`), 'utf8')
    assert.ok(ours.startsWith(blocks[i]), `test/seed/${n}.mts differs from the README's example`)
  })
})
