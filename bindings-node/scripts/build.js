#!/usr/bin/env node
// Builds the native addon (legato.<platform>.node) unless a prebuilt or up-to-date one is there.
// Runs as the package's `install` script, so `npm install ./bindings-node` works on a machine
// with a Rust toolchain. `--force` rebuilds. Uses @napi-rs/cli when it is installed (development:
// it also regenerates native.d.ts, which `make lint-node` checks against the committed one),
// plain `cargo build` otherwise (an end user's install, where devDependencies are absent).
'use strict'
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { binaryName } = require('../native-name.js')

const root = path.resolve(__dirname, '..')
const force = process.argv.includes('--force')
const target = path.join(root, binaryName())

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

function upToDate() {
  if (!fs.existsSync(target)) return false
  // A prebuilt binary shipped without the sources is always taken as it is.
  if (!fs.existsSync(path.join(root, 'src'))) return true
  const built = fs.statSync(target).mtimeMs
  const inputs = [path.join(root, 'src'), path.join(root, 'Cargo.toml'), path.join(root, 'build.rs'),
    path.join(root, '..', 'core', 'src'), path.join(root, '..', 'core', 'Cargo.toml'),
    path.join(root, '..', 'Cargo.toml')]
  return inputs.every((p) => newest(p) <= built)
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], shell: process.platform === 'win32' })
  if (r.error) throw r.error
  if (r.status !== 0) process.exit(r.status || 1)
  return r
}

if (!force && upToDate()) process.exit(0)

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
  fs.copyFileSync(lib, target)
}
fs.utimesSync(target, new Date(), new Date())
