// ESM entry: `import { Orchestrator, Flow } from 'legato'`, or `import Orchestrator from 'legato'`
// (the default export is Orchestrator, as in the npm orchestrator package).
import legato from './index.js'

export const {
  Flow, Orchestrator, SyncPoint, RunReport, TaskReport, LegatoError, GraphError, CycleError,
  MissingDependencyError, DuplicateTaskError, UnknownTaskError, TaskFailedError, TaskTimeoutError,
  CancelledError, FlowError, HookError, TimeoutError, RetryError, UniqueIdGenerator,
} = legato
export default legato.Orchestrator
