'use strict'
// Shared by the test files (not a test file itself; `node --test` loads it and finds no test).

/** Runs `fn` and gives back what it threw, or `undefined` when it returned. */
function thrown(fn) {
  try {
    fn()
  } catch (e) {
    return e
  }
  return undefined
}

module.exports = { thrown }
