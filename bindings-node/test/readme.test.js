'use strict'
// The README's Node examples (the ```js blocks of its "Node" section) run as programs.
const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync } = require('node:child_process')

const readme = fs.readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8')
const section = readme.split(/^## /m).find((s) => s.startsWith('Node'))
// The first screen (before the first `## ` heading) has a hello world too.
const firstScreen = readme.split(/^## /m)[0]
const blocks = [firstScreen, section || '']
  .flatMap((s) => [...s.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]))
const entry = path.join(__dirname, '..', 'index.mjs')

test('the README has Node examples', () => {
  assert.ok(blocks.length >= 3)
})

// What an example prints, where the README says so (the first screen's hello world: its
// `// deployed` comment).
const PRINTS = { 0: 'deployed\n' }

blocks.forEach((code, i) => {
  test(`README Node example ${i + 1} runs${i in PRINTS ? ' and prints what the README says' : ''}`, { timeout: 30_000 }, () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'legato-readme-'))
    const file = path.join(dir, `example${i + 1}.mjs`)
    fs.writeFileSync(file, code.replaceAll("from 'legato'", `from ${JSON.stringify(entry)}`))
    const r = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 20_000 })
    fs.rmSync(dir, { recursive: true, force: true })
    assert.equal(r.status, 0, r.stderr)
    if (i in PRINTS) assert.equal(r.stdout, PRINTS[i])
  })
})

// Its ```ts blocks: type-checked by tsc (strict, as test/tsconfig.json; a `@ts-expect-error` line
// that is no error fails too) against the shipped types, then run. They are compiled inside the
// package, so `from 'legato'` resolves to it by its own name, as the consumer test does.
const tsBlocks = [...(section || '').matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1])

test('the README has a TypeScript Node example', () => {
  assert.ok(tsBlocks.length >= 1)
})

tsBlocks.forEach((code, i) => {
  test(`README TypeScript Node example ${i + 1} type-checks and runs`, { timeout: 60_000 }, () => {
    const dir = path.join(__dirname, '..', 'build', `readme-ts-${process.pid}`)
    fs.mkdirSync(dir, { recursive: true })
    try {
      const file = path.join(dir, `example${i + 1}.mts`)
      fs.writeFileSync(file, code)
      const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '--strict', '--target', 'es2022',
        '--module', 'node16', '--moduleResolution', 'node16', '--types', 'node', '--skipLibCheck', 'false', file],
      { encoding: 'utf8', timeout: 50_000 })
      assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr)
      const r = spawnSync(process.execPath, [file.replace(/\.mts$/, '.mjs')], { encoding: 'utf8', timeout: 20_000 })
      assert.equal(r.status, 0, r.stderr)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})

test('the first Node example is the first screen\'s, printing `deployed`', () => {
  assert.match(blocks[0], /console\.log\(report\.tasks\.deploy\.result\) *\/\/ deployed\n/)
})

test('the Node section has "Coming from orchestrator" with the departures DESIGN names', () => {
  const sub = (section || '').split(/^### /m).find((s) => s.startsWith('Coming from orchestrator'))
  assert.ok(sub, 'no "### Coming from orchestrator" subsection in the Node section')
  assert.match(sub, /argument i to action i/)
  assert.match(sub, /Several hooks per event are kept/)
  assert.match(sub, /outside `run\(\)` is a plain call/)
})
