'use strict'
// The nine hooks, chainable, several per event, in registration order.
const { describe } = require('./options.js')
const errors = require('./errors.js')

const HOOKS = ['onProcessBegin', 'onTaskReady', 'onTaskBegin', 'onTaskRetry', 'onTaskSuccess',
  'onTaskFailure', 'onTaskSkip', 'onTaskCompletion', 'onProcessCompletion']

/** Adds `onProcessBegin(fn)` ... `onProcessCompletion(fn)` to a class whose instances have `_hooks`. */
function addHookMethods(C) {
  HOOKS.forEach((m, kind) => {
    Object.defineProperty(C.prototype, m, {
      value: function (fn) {
        if (typeof fn !== 'function') throw errors.typeError('fn', `must be a function, got ${describe(fn)}`)
        this._hooks[kind].push(fn)
        return this
      },
      writable: true,
      configurable: true,
    })
  })
}

function newHooks() {
  return [[], [], [], [], [], [], [], [], []]
}

module.exports = { HOOKS, addHookMethods, newHooks }
