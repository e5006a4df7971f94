'use strict'
// Task names: the core's one rule (non-empty, no control characters, no whitespace at either
// end), plus what only JS can see before a name crosses: a NUL (names cross NUL-joined, so
// one would split a name in two) and a lone surrogate (a string that is not well-formed
// UTF-16 would cross as U+FFFD, silently another name). The core checks the rest (declared
// steps when added, dynamic tasks' names in optionsNew). Every refusal is a RangeError with
// code ERR_LEGATO_INVALID_NAME whose message names the argument.

const IS_WELL_FORMED = typeof String.prototype.isWellFormed === 'function'
// With the `u` flag a surrogate range matches only a surrogate that is not half of a pair.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u

function invalid(argument, name, reason) {
  // JSON.stringify shows control characters and lone surrogates escaped; NUL as \0.
  const shown = JSON.stringify(name).replaceAll('\\u0000', '\\0')
  const e = new RangeError(`${argument}: Invalid task name ${shown}: ${reason}`)
  e.code = 'ERR_LEGATO_INVALID_NAME'
  return e
}

/** Refuses a name holding a NUL or a lone surrogate (the core checks the rest). */
function checkName(argument, name) {
  if (name.indexOf('\0') !== -1) throw invalid(argument, name, 'a task name must not contain NUL characters')
  if (IS_WELL_FORMED ? !name.isWellFormed() : LONE_SURROGATE.test(name)) {
    throw invalid(argument, name, 'a task name must not contain lone surrogates (it is not well-formed UTF-16)')
  }
}

/** The core refused a name (`Invalid task name ...`): its message names `argument` first. */
function named(argument, err) {
  if (err && err.code === 'ERR_LEGATO_INVALID_NAME' && !err.message.startsWith(`${argument}: `)) {
    err.message = `${argument}: ${err.message}`
  }
  return err
}

module.exports = { checkName, named }
