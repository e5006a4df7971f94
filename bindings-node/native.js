'use strict'
// Loads the native layer (built by scripts/build.js / `napi build --platform`).
const path = require('node:path')
const { binaryName } = require('./native-name.js')
const file = path.join(__dirname, binaryName())
try {
  module.exports = require(file)
} catch (e) {
  const err = new Error(`legato: cannot load its native addon ${file} (${e.message}). ` +
    'Reinstall the package with a Rust toolchain available, or run `npm run build` in it.')
  err.code = 'ERR_LEGATO_NATIVE'
  err.cause = e
  throw err
}
