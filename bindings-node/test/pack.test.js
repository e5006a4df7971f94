'use strict'
// The npm package as a user gets it (issue 20, a prebuilt addon): `npm pack` makes a tarball that
// carries this platform's addon, and `npm install ./legato-<version>.tgz` in an empty folder,
// with no cargo on PATH and no registry, installs it in seconds; `require('legato')` and
// `import` then run a flow. Reuses the release build `make test-node` made (no rebuild here).
const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { binaryName } = require('../native-name.js')

const root = path.join(__dirname, '..')
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'))
const T = { timeout: 60_000 }

/** PATH without any folder that holds a `cargo` (rustup's ~/.cargo/bin among them). */
function pathWithoutCargo() {
  const exe = process.platform === 'win32' ? 'cargo.exe' : 'cargo'
  return (process.env.PATH || '').split(path.delimiter)
    .filter((d) => d !== '' && !fs.existsSync(path.join(d, exe)))
    .join(path.delimiter)
}
const env = { ...process.env, PATH: pathWithoutCargo(), npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' }
delete env.CARGO
delete env.RUSTUP_TOOLCHAIN

function sh(cmd, args, cwd, options = {}) {
  return spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout: 50_000, shell: process.platform === 'win32', ...options })
}

let dir
let tarball
let app
before(() => {
  assert.ok(fs.existsSync(path.join(root, binaryName())), `no ${binaryName()}: run \`make build-node\` first`)
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'legato-pack-'))
  // Scripts off: the prepack script (scripts/build.js) is what `make build-node` ran already.
  const r = sh('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], root)
  assert.equal(r.status, 0, r.stderr)
  const [info] = JSON.parse(r.stdout)
  tarball = path.join(dir, info.filename)
  app = path.join(dir, 'app')
  fs.mkdirSync(app)
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'commonjs' }))
})
after(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true })
})

test('the tarball carries the addon for this platform and no Rust sources', T, () => {
  const r = sh('tar', ['-tzf', tarball], dir)
  assert.equal(r.status, 0, r.stderr)
  const files = r.stdout.split('\n').filter(Boolean)
  assert.ok(files.includes(`package/${binaryName()}`), files.join('\n'))
  assert.ok(files.includes('package/scripts/build.js'))
  assert.ok(files.includes('package/index.d.mts'))
  assert.deepEqual(files.filter((f) => /\.rs$|Cargo\.toml$/.test(f)), [])
  assert.equal(pkg.scripts.prepack, 'node scripts/build.js', 'npm pack builds the addon first when it is stale')
})

test('npm install of the tarball into an empty folder works without cargo; require and import run a flow', T, () => {
  const cargo = spawnSync('cargo', ['--version'], { env })
  assert.equal(cargo.error && cargo.error.code, 'ENOENT', 'cargo must not be on the PATH of this test')

  // --offline: the package needs nothing from a registry.
  const r = sh('npm', ['install', '--offline', tarball], app)
  assert.equal(r.status, 0, `npm install failed:\n${r.stdout}\n${r.stderr}`)
  const installed = path.join(app, 'node_modules', 'legato')
  assert.ok(fs.existsSync(path.join(installed, binaryName())))
  assert.equal(JSON.parse(fs.readFileSync(path.join(installed, 'package.json'), 'utf8')).version, pkg.version)

  const flow = `
    const f = new Flow({ state: { env: 'prod' } })
    f.step('install', async () => 'deps')
    f.step('build', (ctx) => ctx.results.install + ' built for ' + ctx.state.env, { after: ['install'] })
    const report = await f.run()
    const orch = new Orchestrator()
    const twice = orch.action(async (n) => n * 2)
    console.log(report.tasks.build.result, report.ok, await orch.run(() => twice(21)))`
  const cjs = sh(process.execPath, ['-e', `const { Flow, Orchestrator } = require('legato');(async () => {${flow}})()`], app)
  assert.equal(cjs.status, 0, cjs.stderr)
  assert.equal(cjs.stdout, 'deps built for prod true 42\n')
  const esm = sh(process.execPath, ['--input-type=module', '-e', `import Orchestrator, { Flow } from 'legato'\n${flow}`], app)
  assert.equal(esm.status, 0, esm.stderr)
  assert.equal(esm.stdout, 'deps built for prod true 42\n')
  // The addon loaded is the installed package's own, not the checkout's.
  const where = sh(process.execPath, ['-p', "require.resolve('legato')"], app)
  assert.equal(where.stdout.trim(), path.join(fs.realpathSync(installed), 'index.js'))
})

test('an installed package whose prebuilt addon does not load fails its install script with what to do', T, () => {
  const installed = path.join(app, 'node_modules', 'legato')
  if (!fs.existsSync(installed)) {
    const r = sh('npm', ['install', '--offline', tarball], app)
    assert.equal(r.status, 0, r.stderr)
  }
  // Another platform's build, as far as this one can tell: a file that is no loadable library.
  const addon = path.join(installed, binaryName())
  fs.writeFileSync(addon, 'not a shared library')
  const r = sh(process.execPath, [path.join(installed, 'scripts', 'build.js')], installed)
  assert.equal(r.status, 1)
  assert.match(r.stderr, new RegExp(`no prebuilt native addon for ${process.platform}-${process.arch} loads \\(`))
  assert.match(r.stderr, /npm install \.\/bindings-node/)
  fs.rmSync(addon)
  const missing = sh(process.execPath, [path.join(installed, 'scripts', 'build.js')], installed)
  assert.equal(missing.status, 1)
  assert.match(missing.stderr, new RegExp(`the package holds no ${binaryName().replaceAll('.', '\\.')}`))
})

test('the prebuilt addon needs no install script: an install that skips scripts works too', T, () => {
  // npm's `allowScripts` (warned about since npm 11) and `--ignore-scripts` skip the install
  // script; the loader finds the tarball's addon by itself.
  const bare = path.join(dir, 'bare')
  fs.mkdirSync(bare)
  fs.writeFileSync(path.join(bare, 'package.json'), JSON.stringify({ name: 'bare', private: true }))
  const r = sh('npm', ['install', '--offline', '--ignore-scripts', tarball], bare)
  assert.equal(r.status, 0, r.stderr)
  const run = sh(process.execPath, ['--input-type=module', '-e',
    "import { Flow } from 'legato'\nconst f = new Flow()\nf.step('a', () => 41)\nf.step('b', (ctx) => ctx.results.a + 1, { after: 'a' })\nconsole.log((await f.run()).tasks.b.result)"], bare)
  assert.equal(run.status, 0, run.stderr)
  assert.equal(run.stdout, '42\n')
})
