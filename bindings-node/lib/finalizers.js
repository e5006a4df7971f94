'use strict'
// Lets the finalizers that free native memory run in loops that await only promises.
//
// Native objects owned by JS ones (a flow's definition, registered task options, a run's
// report) are freed by finalizers when their owners are collected. Node runs those finalizers
// in tasks of their own, never between microtasks: a loop that defines, runs and drops flows
// or orchestrators while awaiting only promises would never let them run, and its native
// memory would grow without bound (400 runs of a W1-sized flow: 978 MB; 200,000 orchestrator
// runs of two actions: 515 MB and growing). So a run that ends after `TURN_EVERY` such objects
// (steps, options, reports) were made settles an immediate later, and the finalizers run first
// (the same loops: at most 149 MB and 222 MB).

/**
 * The real `setImmediate`, taken when this module loads: fake timers (sinon's, jest's) replace
 * the global one and `node:timers`' later, and a settlement deferred to a faked immediate would
 * wait for the test's clock. Loaded under fake timers already, runs settle at once, as before.
 */
const immediate = require('node:timers').setImmediate
const faked = immediate.clock !== undefined || immediate._isMockFunction === true

/** Native objects made since a run last settled a macrotask later. */
let made = 0
/** How many may be made before a run's settlement waits for a macrotask. */
const TURN_EVERY = 65536

/** Counts `n` native objects made that a finalizer frees. */
function held(n) {
  made += n
}

/**
 * Calls `settle(value)` now, or from an immediate when `TURN_EVERY` native objects were made
 * since a settlement last waited, so that the finalizers queued meanwhile run first. (A message
 * to ourselves would not do: Node drains the messages posted while it delivers one before its
 * next immediates.)
 */
function settleAfterFinalizers(settle, value) {
  if (made < TURN_EVERY || faked) return settle(value)
  made = 0
  immediate(settle, value)
}

module.exports = { held, settleAfterFinalizers }
