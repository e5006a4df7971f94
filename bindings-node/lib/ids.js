'use strict'
// UniqueIdGenerator: the npm orchestrator package exports one; its README does not say what it
// does, so this is the small class its users reach for: unique string ids, optionally prefixed.
const { randomUUID } = require('node:crypto')
const { typeError } = require('./errors.js')
const { describe } = require('./options.js')

class UniqueIdGenerator {
  /** `prefix` is put before every id (default none). */
  constructor(prefix = '') {
    if (typeof prefix !== 'string') {
      throw typeError('prefix', `must be a string, got ${describe(prefix)}`)
    }
    this.prefix = prefix
  }

  /** A new id, unique across generators and processes: `prefix` + a random UUID. */
  generate() {
    return this.prefix + randomUUID()
  }

  /** Same as {@link generate}. */
  next() {
    return this.generate()
  }
}

module.exports = { UniqueIdGenerator }
