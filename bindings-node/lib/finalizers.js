'use strict'
// Lets the finalizers that free native memory run in loops that await only promises.
//
// Native objects owned by JS ones (a flow's definition, registered task options, a run's
// report) are freed by finalizers when their owners are collected. Node runs those finalizers
// in tasks of their own, never between microtasks: a loop that defines, runs and drops flows
// or orchestrators while awaiting only promises would never let them run, and its native
// memory would grow without bound (400 runs of a W1-sized flow: 978 MB; 200,000 orchestrator
// runs of two actions: 515 MB and growing). So a run that ends after `TURN_EVERY` such objects
// (steps, options, reports) were made settles a macrotask later, through `setImmediate`, and
// the finalizers run first (the same loops: 149 MB; bounded).

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
 * since a settlement last waited, so that the finalizers queued meanwhile run first.
 */
function settleAfterFinalizers(settle, value) {
  if (made < TURN_EVERY) return settle(value)
  made = 0
  setImmediate(settle, value)
}

module.exports = { held, settleAfterFinalizers }
