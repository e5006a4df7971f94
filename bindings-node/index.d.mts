// The ESM entry's types: everything index.d.ts declares, and Orchestrator as the default export.
export * from './index.js'
export { Orchestrator as default } from './index.js'
