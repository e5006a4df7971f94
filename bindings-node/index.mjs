// ESM entry: `import { Orchestrator, Flow } from 'legato'`.
import legato from './index.js'

export const {
  Flow, Orchestrator, SyncPoint, RunReport, TaskReport, LegatoError, GraphError, CycleError,
  MissingDependencyError, DuplicateTaskError, UnknownTaskError, TaskFailedError, TaskTimeoutError,
  CancelledError, FlowError, HookError,
} = legato
export default legato
