#!/usr/bin/env node
// The native addon (legato.<platform>.node): takes the prebuilt one, else builds it from source.
// Runs as the package's `install` script and as its `prepack` script. `--force` rebuilds.
//
// - In a legato checkout (`npm install ./bindings-node`, `make build-node`, `npm pack`): builds
//   the addon in release (profile release-node) unless it is newer than every Rust source, so
//   the tarball `npm pack` makes carries this platform's addon.
// - In an installed package (`npm install legato-<version>.tgz`): a prebuilt addon that loads is
//   taken as it is, without cargo. When none loads (another platform), the install fails with
//   what to do: build from source in a checkout (the crate depends on the workspace's core).
//
// Uses @napi-rs/cli when it is installed (development: it also regenerates native.d.ts, which
// `make lint-node` checks against the committed one), plain `cargo build` otherwise.
'use strict'
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { binaryName } = require('../native-name.js')

const root = path.resolve(__dirname, '..')
const force = process.argv.includes('--force')
const target = path.join(root, binaryName())
/** Whether this is the package inside a legato checkout: the crate and the core beside it. */
const inCheckout = fs.existsSync(path.join(root, 'Cargo.toml')) && fs.existsSync(path.join(root, '..', 'core', 'Cargo.toml'))

function newest(p) {
  let t = 0
  let st
  try { st = fs.statSync(p) } catch { return 0 }
  if (!st.isDirectory()) return st.mtimeMs
  for (const e of fs.readdirSync(p)) {
    if (e === 'target' || e === 'node_modules' || e.startsWith('.')) continue
    t = Math.max(t, newest(path.join(p, e)))
  }
  return t
}

/** In a checkout: whether the addon is newer than every Rust source it is built from. */
function upToDate() {
  if (!fs.existsSync(target)) return false
  const built = fs.statSync(target).mtimeMs
  const inputs = [path.join(root, 'src'), path.join(root, 'Cargo.toml'), path.join(root, 'build.rs'),
    path.join(root, '..', 'core', 'src'), path.join(root, '..', 'core', 'Cargo.toml'),
    path.join(root, '..', 'Cargo.toml')]
  return inputs.every((p) => newest(p) <= built)
}

/** Installed: null when the prebuilt addon loads, else why not (the loader's message). */
function prebuiltFails() {
  if (!fs.existsSync(target)) return `the package holds no ${binaryName()}`
  try {
    require(target)
    return null
  } catch (e) {
    return e.message
  }
}

if (!force) {
  if (inCheckout) {
    if (upToDate()) process.exit(0)
  } else {
    // The package's crate builds only inside the workspace (it depends on ../core), so an
    // installed package without a loadable addon says how to build one from a checkout.
    const why = prebuiltFails()
    if (why === null) process.exit(0)
    console.error(`legato: no prebuilt native addon for ${process.platform}-${process.arch} loads (${why}). ` +
      'Build it from source: in a checkout of the legato repository (https://github.com/legato-rs/legato), ' +
      'with a Rust toolchain (https://rustup.rs), run `npm install ./bindings-node` or `npm pack` in bindings-node.')
    process.exit(1)
  }
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], shell: process.platform === 'win32' })
  if (r.error) throw r.error
  if (r.status !== 0) process.exit(r.status || 1)
  return r
}


/**
 * The napi CLI's entry, from its package.json's `bin` (the package's `exports` hide its files
 * from `require.resolve`); null when @napi-rs/cli is not installed (an end user's install).
 */
function napiCliEntry() {
  let pkgJson
  try { pkgJson = require.resolve('@napi-rs/cli/package.json', { paths: [root] }) } catch { return null }
  const { bin } = JSON.parse(fs.readFileSync(pkgJson, 'utf8'))
  const rel = typeof bin === 'string' ? bin : bin && bin.napi
  if (typeof rel !== 'string') {
    console.error(`legato: ${pkgJson} names no \`napi\` entry in its \`bin\``)
    process.exit(1)
  }
  return path.resolve(path.dirname(pkgJson), rel)
}

const napiCli = napiCliEntry()

if (napiCli) {
  run(process.execPath, [napiCli, 'build', '--profile', 'release-node', '--platform', '--no-js', '--dts', 'native.d.ts'])
} else {
  // No napi CLI: build with cargo and copy the library where the loader looks for it.
  const r = spawnSync('cargo', ['build', '--profile', 'release-node', '--lib', '--message-format=json-render-diagnostics'],
    { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 28 })
  if (r.error) {
    console.error('legato: building the native addon needs a Rust toolchain (https://rustup.rs): ' + r.error.message)
    process.exit(1)
  }
  if (r.status !== 0) process.exit(r.status || 1)
  let lib = null
  for (const line of r.stdout.toString().split('\n')) {
    if (!line.startsWith('{')) continue
    const m = JSON.parse(line)
    if (m.reason === 'compiler-artifact' && m.target && m.target.name === 'legato_node') {
      lib = m.filenames.find((f) => /\.(so|dylib|dll)$/.test(f))
    }
  }
  if (!lib) { console.error('legato: cargo built no library'); process.exit(1) }
  // Copied beside and renamed over, so that a process which has the old addon loaded keeps it intact.
  const tmp = `${target}.${process.pid}.tmp`
  fs.copyFileSync(lib, tmp)
  fs.renameSync(tmp, target)
}
fs.utimesSync(target, new Date(), new Date())
