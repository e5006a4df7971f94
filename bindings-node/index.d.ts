/**
 * legato for Node: task orchestration on a Rust core.
 *
 * - {@link Flow}: a declared DAG of steps (dependencies by name, by function or by sync point),
 *   run whole or by targets, with retries, backoff, timeouts, sequences and hooks.
 * - {@link Orchestrator}: wrap functions as actions; each call inside `run(main)` is a tracked
 *   task. A drop-in for the npm `orchestrator` package.
 *
 * Units: milliseconds for durations, epoch milliseconds for times.
 *
 * @packageDocumentation
 */

/** Anything a step or action may return: a value or a Promise of it. */
export type MaybePromise<T> = T | PromiseLike<T>

/** The shared state's bookkeeping fields, as the npm `orchestrator` package keeps them. */
export interface OperationRecord {
  /** The action's name (its function's name, or `anonymous`). */
  name: string
  /** When the call was made, epoch ms. */
  startTime: number
  /** When its last attempt ended, epoch ms (undefined while it runs). */
  endTime: number | undefined
  /** The call's arguments. */
  args: unknown[]
  /** `endTime - startTime`, ms (undefined while it runs). */
  duration: number | undefined
}

/** The bookkeeping an Orchestrator keeps in its state object. */
export interface Bookkeeping {
  /** A unique id of the orchestrator. */
  id: string
  /** When the latest run started, epoch ms (the `time` given to `onProcessBegin`). */
  startTime: number | undefined
  /** When the latest run ended, epoch ms (the `time` given to `onProcessCompletion`). */
  endTime: number | undefined
  /** One record per action call, accumulating across runs. */
  operations: OperationRecord[]
}

/** Backoff between attempts: a fixed delay in ms, or exponential growth. */
export type Backoff =
  | number
  | {
      /** The delay before the first retry, ms. */
      initial: number
      /** How many times longer each next delay is (>= 1; default 2). */
      factor?: number
      /** The cap on any one delay, ms (default one hour). */
      max?: number
      /** Randomize each delay in [0, delay] (default false). */
      jitter?: boolean
    }

/** Options shared by steps and actions. */
export interface TaskOptions {
  /** Extra attempts after a failure: up to `retries + 1` attempts (default 0). */
  retries?: number
  /**
   * The npm `orchestrator` package's retry shape: `attempts` counts every try; `backoff` in ms,
   * doubled per retry when `exponential`. As in that package, an action call whose last attempt
   * failed rejects with a {@link RetryError} (`attempts`, `lastError`); hooks and the report keep
   * the body's own error, and a timeout stays the timeout error.
   */
  retry?: { attempts?: number; backoff?: number; exponential?: boolean }
  /** The wait between attempts. */
  backoff?: Backoff
  /** Whether to retry after this error (default: always, within `retries`). */
  retryIf?: (error: unknown, attempt: number) => boolean
  /**
   * Time limit of each attempt, ms (> 0; beyond `setTimeout`'s 2^31 - 1 ms too: the timer is
   * re-armed, no TimeoutOverflowWarning; `Infinity`: no limit, as for the run's `timeout`). On
   * expiry the attempt's AbortSignal fires with the timeout error the report then holds.
   */
  timeout?: number
  /**
   * Mutual-exclusion keys: two tasks sharing a key never run at the same time. Exactly `uses`
   * (Barista's name, kept as an alias): a list of keys, as in every door.
   */
  sequences?: string[]
  /**
   * Keys the task holds while an attempt runs: at most the key's capacity (the run's
   * `limits`, else 1) tasks holding a key run at once. A task waiting for a key holds no slot
   * and does not block later tasks that can start; waiters for a key start in the order they
   * became ready. A list of strings (a bare string is refused: `uses: ['db']`).
   */
  uses?: readonly string[]
}

/**
 * Run options, accepted by both constructors and checked there by the core's one validation:
 * a wrong type is a `TypeError` (`ERR_INVALID_ARG_TYPE`), a wrong value a `RangeError`
 * (`ERR_OUT_OF_RANGE`), each naming the option (`options.maxParallel: must be a whole number
 * >= 1, got 0`); an unknown option is a `TypeError`.
 */
export interface RunOptions {
  /** At most this many attempts run at once: a whole number >= 1 (default unlimited; `Infinity` too). */
  maxParallel?: number
  /** Stop at the first failure: cancel running tasks, skip the rest (default false). */
  failFast?: boolean
  /** A limit on the whole run, ms (> 0, any size); on expiry everything is cancelled. */
  timeout?: number
  /**
   * Calls (action calls, `ctx.spawn`) nested deeper than this fail at once, without running,
   * with a `RangeError` whose code is `ERR_LEGATO_DEPTH` and message
   * `call depth exceeded 10000 (max_depth)`: a whole number >= 1 (default 10,000).
   */
  maxDepth?: number
  /**
   * Key capacities: at most `limits[key]` tasks that `uses` the key run at once (a key not
   * listed has capacity 1). Each a whole number >= 1: otherwise a `RangeError`
   * (`options.limits.db: must be a whole number >= 1, got 0`).
   */
  limits?: Readonly<Record<string, number>>
  /**
   * The order ready tasks start in when slots are short: `fifo` (default; the order they
   * became ready, declaration order among ties) or `critical_path` (first the task with the
   * longest remaining path to a sink, counting its own `cost`; ties by readiness, then
   * declaration). An unknown name is a `RangeError` with the closest name suggested.
   */
  priority?: Priority
  /**
   * Known costs for `critical_path`: a previous run's report; a step without a `cost` costs
   * its duration there (else the mean of the known costs, or 1 s when none is known).
   */
  costs?: RunReport<any>
}

/** The order ready tasks start in: see {@link RunOptions.priority}. */
export type Priority = 'fifo' | 'critical_path'

/**
 * When a step whose dependencies ended may run (Airflow's trigger rules). A dependency that
 * failed, timed out, was cancelled or was skipped because something upstream failed counts as
 * failed; one skipped by a condition or a trigger rule is a branch not taken.
 * - `all_succeeded` (default): every dependency succeeded; a branch not taken skips the step
 *   (`trigger rule all_succeeded not met`), a failure skips it naming the dependency;
 * - `all_done`: every dependency ended, whatever its status: cleanup and teardown (with
 *   `failFast` too);
 * - `any_succeeded`: every dependency ended and at least one succeeded;
 * - `none_failed`: every dependency succeeded or was a branch not taken.
 */
export type Trigger = 'all_succeeded' | 'all_done' | 'any_succeeded' | 'none_failed'

/** A call nested deeper than the run's `maxDepth` rejects with this (`ERR_LEGATO_DEPTH`). */
export interface DepthError extends RangeError {
  code: 'ERR_LEGATO_DEPTH'
}

/** What a dependency may be: a step name, a step function, or a sync point. */
export type StepRef = string | ((...args: any[]) => unknown) | SyncPoint<any>

/**
 * Options of a Flow step; `Deps` is what `after` holds (inferred: it types `ctx.results`), `Ctx`
 * the step's context as its condition (`when`) gets it.
 */
export interface StepOptions<Deps = StepRef | readonly StepRef[], Ctx = StepContext<any, any>> extends TaskOptions {
  /**
   * What the step runs after: names (possibly defined later), step functions, sync points. The
   * results of these dependencies are typed in the step's `ctx.results` (see {@link Results}).
   */
  after?: Deps
  /** A description shown in drawings and reports. */
  description?: string
  /**
   * A condition, called once when the step is ready (after its `task_ready` hooks, attempt 0)
   * with the step's context (`ctx.results` so far, `ctx.state`). A falsy value skips the step
   * (`skipped`, reason `condition false`: a branch not taken, which leaves the run ok); a
   * throw fails the step with what was thrown (0 attempts). Conditions are synchronous: an
   * `async` function is refused here (a `TypeError`), and one that returns a Promise fails the
   * step with a `TypeError` (compute the value in a step before it and read it from
   * `ctx.results`).
   */
  when?: (ctx: Ctx) => boolean
  /** When the step may run once its dependencies ended (default `all_succeeded`): see {@link Trigger}. */
  trigger?: Trigger
  /** The step's cost for `priority: 'critical_path'`, ms (>= 0). */
  cost?: number
}

/** The type-only mark a step handle carries (no such property exists at run time). */
declare const stepMark: unique symbol

/**
 * What `flow.step(name, fn)` returns: `fn` itself, marked (for the type checker only) with the
 * step's name `N` and result type `R`, so that a step which lists the handle in `after` finds
 * `ctx.results[N]` typed `R`, as Rust's `cx.result::<T>(name)` is.
 */
export type StepHandle<N extends string = string, R = unknown> = {
  readonly [stepMark]?: { readonly name: N; readonly result: R }
}

/**
 * The step names a flow accepts: any string when its `Steps` type is open (the default,
 * `Record<string, any>`), else the names `Steps` declares.
 */
export type StepName<Steps> = string extends keyof Steps ? string : keyof Steps & string

/** The result type a step named `N` must give: `Steps[N]` when declared, else anything. */
export type StepResult<Steps, N extends string> = N extends keyof Steps ? Steps[N] : unknown

/** A dependency of a flow whose step types are `Steps`: a name it declares, a function, a sync point. */
export type DepRef<Steps> = StepName<Steps> | ((...args: any[]) => unknown) | SyncPoint<any>

/** The result types one dependency brings: `{ name: type }`, or nothing when it is not known. */
type DepResults<Steps, D> = D extends string
  ? string extends D
    ? {}
    : D extends keyof Steps
      ? { readonly [K in D]: Steps[K] }
      : {}
  : D extends SyncPoint<infer R>
    ? R
    : D extends { readonly [stepMark]?: infer M }
      ? M extends { readonly name: infer N extends string; readonly result: infer R }
        ? string extends N
          ? {}
          : { readonly [K in N]: R }
        : {}
      : {}

type Intersect<U> = (U extends unknown ? (u: U) => void : never) extends (i: infer I) => void ? I : never

/** The result types a list of dependencies (as given to `after`, `parallel` or `follow`) brings. */
export type DepsResults<Steps, Deps> = Intersect<
  Deps extends readonly unknown[] ? DepResults<Steps, Deps[number]> : DepResults<Steps, Deps>
>

/**
 * A step's `ctx.results` when it runs after `Deps`: each dependency's result, typed (a name
 * `Steps` declares, a step handle, a sync point of those); and, as DESIGN's rule 10 says a step
 * may read every step that succeeded earlier, the other declared steps as possibly `undefined`.
 * With the default, open `Steps` (`Record<string, any>`) every other name is `any`, as before.
 */
export type Results<Steps, Deps = readonly []> = DepsResults<Steps, Deps> & { readonly [K in keyof Steps]?: Steps[K] }

/** A step's function: gets the step context, returns its result (or a Promise of it). */
export type StepFn<State, R = Record<string, any>, Out = unknown> = (ctx: StepContext<State, R>) => Out

/** The context a step's function gets; `R` types `results` (see {@link Results}). */
export interface StepContext<State = Record<string, unknown>, R = Record<string, any>> {
  /** The step's name. */
  readonly name: string
  /** The attempt number, from 1. */
  readonly attempt: number
  /**
   * The results of the steps that succeeded so far, by name: a step's dependencies are always
   * among them. Typed per dependency when they are known (a name the flow's `Steps` type
   * declares, a step handle, a sync point), as Rust's `cx.result::<T>(name)`. A null-prototype view.
   */
  readonly results: R
  /** The flow's shared state. */
  readonly state: State
  /** Fires on this attempt's timeout, on fail-fast and on cancel. */
  readonly signal: AbortSignal
  /**
   * Runs `fn` as a dynamic child task of this step and resolves to its result, or rejects with
   * its own error (a `TaskTimeoutError` on timeout), as an Orchestrator's action call does.
   * The child is a task of the same run: hooks, `retries`/`backoff`/`retryIf`/`timeout`/
   * `sequences` from `options`, its own `ctx` (name, attempt, signal; it may spawn in turn)
   * and an entry in the report whose `parent` is this step. While the step awaits its
   * children it gives its concurrency slot back (recursion under `maxParallel: 1` cannot
   * deadlock), and it gets their outcome once it holds a slot again. Children left unfinished
   * by an attempt that fails are cancelled (their `signal` fires); after a successful attempt
   * they run to their end and the run waits for them.
   */
  spawn<R>(name: string, fn: (ctx: StepContext<State>) => MaybePromise<R>, options?: TaskOptions): Promise<R>
}

/** Task statuses. */
export type Status = 'pending' | 'ready' | 'running' | 'succeeded' | 'failed' | 'timed_out' | 'skipped' | 'cancelled'

/** `onProcessBegin`'s payload. */
export interface ProcessBeginEvent<State> {
  /** When the run started, epoch ms. */
  time: number
  /** The shared state. */
  context: State
}
/** `onProcessCompletion`'s payload. */
export interface ProcessCompletionEvent<State> {
  /** When the run ended, epoch ms. */
  time: number
  /** The run's duration, whole ms. */
  totalDuration: number
  /**
   * The run's report as it stands when the hook is called: every task is finished (made when
   * first read). The run's promise resolves to (or its `FlowError` carries) the final report.
   */
  readonly report: RunReport
  /** The shared state. */
  context: State
}
/** `onTaskReady`'s payload. */
export interface TaskReadyEvent<State> {
  /** The task's name. */
  name: string
  /** The shared state. */
  context: State
}
/** `onTaskBegin`'s payload (an Orchestrator adds the call's record fields). */
export interface TaskBeginEvent<State> extends Partial<Omit<OperationRecord, 'name' | 'startTime'>> {
  /** The task's name. */
  name: string
  /** The attempt about to start, from 1. */
  attempt: number
  /** When it starts (an action: when it was called), epoch ms. */
  startTime: number
  /** The shared state. */
  context: State
}
/** `onTaskRetry`'s payload. */
export interface TaskRetryEvent<State> {
  /** The task's name. */
  name: string
  /** The attempt that failed. */
  attempt: number
  /** Its error. */
  error: unknown
  /** The wait before the next attempt, ms. */
  delay: number
  /** The shared state. */
  context: State
}
/** `onTaskSuccess`'s payload. */
export interface TaskSuccessEvent<State> {
  /** The task's name. */
  name: string
  /** From its first attempt's start to its end, whole ms. */
  duration: number
  /** Its result. */
  result: unknown
  /** The shared state. */
  context: State
}
/** `onTaskFailure`'s payload. */
export interface TaskFailureEvent<State> {
  /** The task's name. */
  name: string
  /** From its first attempt's start to its end, whole ms. */
  duration: number
  /** Its error: the body's own error object, a TaskTimeoutError or a CancelledError. */
  error: unknown
  /** The shared state. */
  context: State
}
/** `onTaskSkip`'s payload. */
export interface TaskSkipEvent<State> {
  /** The task's name. */
  name: string
  /**
   * Why, in the core's words: `dependency "build" failed`, `condition false` (its `when` was
   * false), `trigger rule all_succeeded not met` (a dependency was a branch not taken),
   * `resumed` (it succeeded in the run `flow.run({ resume })` resumes: it is not run again and
   * ends `succeeded`; the only hook it gets), or why the run stopped (`run cancelled`,
   * `fail-fast: task "x" failed`, …).
   */
  reason: string
  /** The shared state. */
  context: State
}
/** `onTaskCompletion`'s payload (an Orchestrator adds the call's record fields). */
export interface TaskCompletionEvent<State> extends Partial<Omit<OperationRecord, 'name' | 'duration'>> {
  /** The task's name. */
  name: string
  /** Its final status. */
  status: Status
  /** From its first attempt's start to its end, whole ms. */
  duration: number
  /** Its result, when it succeeded. */
  result?: unknown
  /** Its error, when it did not. */
  error?: unknown
  /** The shared state. */
  context: State
}

/** A hook: sync or async; a hook that throws fails the run with a {@link HookError}. */
export type Hook<E> = (event: E) => void | PromiseLike<void>

/**
 * The nine lifecycle hooks, chainable, several per event (run in registration order). A run
 * takes the hooks registered when it starts: one added during a run applies from the next run
 * (whether or not its event already had a hook).
 */
export interface Hooks<State> {
  /** The run starts. */
  onProcessBegin(fn: Hook<ProcessBeginEvent<State>>): this
  /** A task's dependencies all succeeded. */
  onTaskReady(fn: Hook<TaskReadyEvent<State>>): this
  /** An attempt is about to start. */
  onTaskBegin(fn: Hook<TaskBeginEvent<State>>): this
  /** An attempt failed and another follows. */
  onTaskRetry(fn: Hook<TaskRetryEvent<State>>): this
  /** A task succeeded. */
  onTaskSuccess(fn: Hook<TaskSuccessEvent<State>>): this
  /** A task failed, timed out or was cancelled. */
  onTaskFailure(fn: Hook<TaskFailureEvent<State>>): this
  /** A task will not run. */
  onTaskSkip(fn: Hook<TaskSkipEvent<State>>): this
  /** A task is finished, whatever its status. */
  onTaskCompletion(fn: Hook<TaskCompletionEvent<State>>): this
  /** The run is finished (always: also after failure or cancellation). */
  onProcessCompletion(fn: Hook<ProcessCompletionEvent<State>>): this
}

/**
 * One task's entry in a report. `R` is the task's result type: a flow's report types the
 * steps its `Steps` type declares (`report.tasks.build.result`); anything else is `unknown`.
 */
export declare class TaskReport<R = unknown> {
  private constructor()
  /** The task's id in the run (tells apart dynamic tasks that share a name). */
  readonly id: number
  /** The task's name. */
  readonly name: string
  /** Its final status. */
  readonly status: Status
  /** Attempts started. */
  readonly attempts: number
  /**
   * Its result, when it succeeded (in the report `flow.run()` resolves to, every task did; a
   * failed run's report, `FlowError.report`, is untyped).
   */
  readonly result: R
  /** Its error, when it failed, timed out or was cancelled (the body's own error object on failure). */
  readonly error: unknown
  /** From its first attempt's start to its end, ms (0 if it never started). */
  readonly duration: number
  /** When its first attempt started, epoch ms. */
  readonly startTime: number | undefined
  /** When it ended, epoch ms. */
  readonly endTime: number | undefined
  /** Why it was skipped (see {@link TaskSkipEvent.reason}); `condition false` and `trigger rule … not met` are branches not taken. */
  readonly skipReason: string | undefined
  /** The names of its dependencies. */
  readonly dependencies: string[]
  /** The task that spawned it (dynamic tasks). */
  readonly parent: string | undefined
  /**
   * Whether it succeeded in the run this one resumed (`flow.run({ resume })`) and was not run
   * again: it is `succeeded` with 0 attempts, its result the one reused.
   */
  readonly resumed: boolean
}

/**
 * The tasks of a report by name: a `TaskReport<Steps[name]>` for each step `Steps` declares,
 * a `TaskReport` (result `unknown`) for any other name (dynamic tasks, an open `Steps`).
 */
export type ReportTasks<Steps> = {
  readonly [K in keyof Steps]: TaskReport<unknown extends Steps[K] ? unknown : Steps[K]>
} & Record<string, TaskReport>

/**
 * The report of a run; `Steps` (a flow's step result types) types `tasks[name].result`. Its own
 * enumerable fields are `ok`, `totalDuration`, `stop` and `startTime`; `util.inspect`
 * (console.log) shows them and the first tasks' statuses.
 */
export declare class RunReport<Steps extends object = Record<string, any>> {
  private constructor()
  /**
   * Whether the run was not stopped and every task succeeded or was skipped by a condition
   * or a trigger rule (a branch not taken): then `run()` resolves with this report.
   */
  readonly ok: boolean
  /** The run's duration, ms. */
  readonly totalDuration: number
  /** When the run started, epoch ms. */
  readonly startTime: number
  /** Why the run stopped early (`fail-fast: task "x" failed`, `run cancelled`, ...). */
  readonly stop: string | undefined
  /**
   * Tasks by name (for a repeated dynamic name, its last call): a null-prototype object, so a
   * task may be named `__proto__`, `constructor` or `hasOwnProperty`.
   */
  readonly tasks: ReportTasks<Steps>
  /** Every task in run order. */
  readonly list: TaskReport[]
  /**
   * The report in the JSON shape shared by every front door and the CLI (what
   * `JSON.stringify(report)` writes; a new object each call), each task's `result` as JSON
   * holds it: what `JSON.stringify` makes of it, or `null` when JSON cannot hold it
   * (`undefined`, a function, a symbol, a BigInt, a cycle, a `toJSON` that throws). Never
   * throws. {@link RunReport.fromJSON} reads the text back.
   */
  toJSON(): Record<string, unknown>
  /** The run as a Mermaid Gantt chart. */
  toMermaid(): string
  /** A self-contained HTML page with the run's timeline. */
  toHTML(title?: string): string
  /**
   * A report read back from its JSON text (`JSON.stringify(report)`, the CLI's `--report`
   * file): every task's status, attempts, times, error (a {@link TaskFailedError},
   * {@link TaskTimeoutError} or {@link CancelledError} with the message the text gives), skip
   * reason and `resumed` as they were, and each result the text holds (its JSON value). Give
   * it to `flow.run({ resume })` to resume that run.
   * @throws SyntaxError with code `ERR_LEGATO_INVALID_REPORT` for a text that is not a
   *   report's JSON, saying what is wrong (`text: not a legato run report: unknown status
   *   "great" of task "a"`); TypeError (`ERR_INVALID_ARG_TYPE`) for one that is not a string.
   */
  static fromJSON(text: string): RunReport
}

/** The options of one run of a flow: `flow.run(targets, options)`. */
export interface FlowRunOptions {
  /** Cancels the run when it aborts (running steps' signals fire; the rest are skipped). */
  signal?: AbortSignal
  /**
   * Resumes a failed run (DESIGN "Resume"): the report of an earlier run of this flow
   * (`FlowError.report`, a report in memory, or one read back with {@link RunReport.fromJSON}).
   * Its steps that succeeded are not run again: they end `succeeded` with 0 attempts and
   * `report.tasks[name].resumed`, hooks see only `onTaskSkip` for them (reason `resumed`), and
   * the steps after them read their results in `ctx.results` (the JS values of a report in
   * memory; the JSON values of one read back). The other steps run as usual; calls
   * (`ctx.spawn`) are not resumed. A report naming a step this flow does not have rejects with
   * an {@link UnknownTaskError} before anything runs; anything but a RunReport, with a
   * TypeError naming `options.resume`.
   */
  resume?: RunReport<any>
}

/** The type-only mark of a sync point's result types (no such property exists at run time). */
declare const syncMark: unique symbol

/**
 * A set of steps to depend on at once (LightFlow's sync point). `R` holds the result types of
 * its steps that are known (see {@link Results}): a step after the point finds them typed.
 */
export declare class SyncPoint<R = {}> {
  private constructor()
  private readonly [syncMark]?: R
  /** The names of the point's steps. */
  readonly names: string[]
  /** Places the point's steps (follow: the first; parallel: all) after `deps`. */
  after(...deps: (StepRef | readonly StepRef[])[]): this
}

/**
 * A declared DAG of steps. `State` is the shared state's type. `Steps`, optional, maps each
 * step's name to its result type (`new Flow<State, { install: string; build: Artifact }>()`):
 * then step names and `after` names must be declared ones, a step's function must return its
 * declared type, `ctx.results` is typed by the step's `after`, and `report.tasks[name].result`
 * by `Steps`. Without it (`Record<string, any>`) any name goes and step handles alone type
 * `ctx.results` (see {@link Results}).
 */
export declare class Flow<State = Record<string, any>, Steps extends object = Record<string, any>> implements Hooks<State> {
  /** A flow with run options; `state` is the shared state (default `{}`). */
  constructor(options?: RunOptions & { state?: State })
  /** The shared state every step (`ctx.state`) and hook (`context`) sees. */
  state: State
  /** The step names, in declaration order. */
  readonly steps: string[]
  /**
   * Adds a step named `name`. Returns `fn` unchanged, typed as a {@link StepHandle} of the
   * step's name and result, so that `after: [handle]` types `ctx.results[name]`.
   * @throws TypeError for a non-function, an unknown option or a bad dependency; RangeError for a bad value;
   *   DuplicateTaskError for a name already taken.
   */
  step<
    N extends StepName<Steps>,
    const D extends DepRef<Steps> | readonly DepRef<Steps>[] = readonly [],
    F extends StepFn<State, Results<Steps, D>, MaybePromise<StepResult<Steps, N>>> = StepFn<State, Results<Steps, D>, MaybePromise<StepResult<Steps, N>>>,
  >(name: N, fn: F, options?: StepOptions<D, StepContext<State, Results<Steps, D>>>): F & StepHandle<N, Awaited<ReturnType<F>>>
  /** Adds a step named after `fn.name`. Returns `fn` unchanged. */
  step<
    const D extends DepRef<Steps> | readonly DepRef<Steps>[] = readonly [],
    F extends StepFn<State, Results<Steps, D>> = StepFn<State, Results<Steps, D>>,
  >(fn: F, options?: StepOptions<D, StepContext<State, Results<Steps, D>>>): F & StepHandle<string, Awaited<ReturnType<F>>>
  /**
   * Chains steps (names or functions; new functions are added): each runs after the one
   * before. The point's result types are those of the steps known (see {@link Results}).
   */
  follow<const P extends readonly (StepName<Steps> | StepFn<State>)[]>(...steps: P): SyncPoint<DepsResults<Steps, P>>
  /** Groups steps that run side by side; the returned sync point can be used in `after`. */
  parallel<const P extends readonly (StepName<Steps> | StepFn<State>)[]>(...steps: P): SyncPoint<DepsResults<Steps, P>>
  /** Adds (or places) a step after every step added so far. Returns `step`. */
  syncAll<F extends StepName<Steps> | StepFn<State>>(step: F, options?: StepOptions): F
  /**
   * Runs every step, or `targets` and their dependencies. Resolves to the report when every
   * step succeeded or was skipped by a condition or a trigger rule (`report.ok`; typed by
   * `Steps`); rejects with a {@link FlowError} (`.report`) otherwise,
   * or with a {@link GraphError} (cycle, missing dependency, unknown target, a `resume`
   * report's step the flow lacks) before anything runs. `options`: see {@link FlowRunOptions}.
   * No targets (`undefined`, `null`, `[]`) runs every step; `''` is an unknown target. A name
   * holding a NUL character (here or in `after`) is refused with a RangeError naming the
   * argument (`ERR_LEGATO_INVALID_NAME`).
   */
  run(targets?: string | ((...args: any[]) => unknown) | readonly (string | ((...args: any[]) => unknown))[] | null, options?: FlowRunOptions): Promise<RunReport<Steps>>
  /**
   * Runs every step with run-time options: `signal` cancels the run, `resume` resumes a
   * failed one (see {@link FlowRunOptions}).
   */
  run(options: FlowRunOptions): Promise<RunReport<Steps>>
  /** The dry run: the levels that would run, in order (each a list of names). */
  plan(targets?: string | string[]): string[][]
  /** The graph as a Mermaid flowchart. */
  toMermaid(targets?: string | string[]): string
  /** The graph as Graphviz DOT. */
  toDot(targets?: string | string[]): string
  /** The graph as an ASCII tree. */
  toAscii(targets?: string | string[]): string

  onProcessBegin(fn: Hook<ProcessBeginEvent<State>>): this
  onTaskReady(fn: Hook<TaskReadyEvent<State>>): this
  onTaskBegin(fn: Hook<TaskBeginEvent<State>>): this
  onTaskRetry(fn: Hook<TaskRetryEvent<State>>): this
  onTaskSuccess(fn: Hook<TaskSuccessEvent<State>>): this
  onTaskFailure(fn: Hook<TaskFailureEvent<State>>): this
  onTaskSkip(fn: Hook<TaskSkipEvent<State>>): this
  onTaskCompletion(fn: Hook<TaskCompletionEvent<State>>): this
  onProcessCompletion(fn: Hook<ProcessCompletionEvent<State>>): this
}

/** Options of an action; `Args` are its parameters (for a `uses` function). */
export interface ActionOptions<Args extends any[] = any[]> extends Omit<TaskOptions, 'uses'> {
  /**
   * Keys each call holds while it runs (see {@link TaskOptions.uses}): a list, or a function of
   * the call's arguments (and `this`) giving that call's keys, as Pynenc limits concurrency
   * per task and arguments: `uses: (userId) => [\`user:${userId}\`]`. It is called once per
   * call, before the call becomes a task (not for a call that finds a cached call's task: it
   * joins that task, which runs under the keys its first call gave); if it throws, or returns
   * anything but an array of strings, that call rejects with the error and no task is made.
   */
  uses?: readonly string[] | ((...args: Args) => readonly string[])
  /** The task's name in hooks and reports (default: the function's name, else `anonymous`). */
  name?: string
  /**
   * Memoize identical calls within a run. Arguments are compared by a typed key: primitives by
   * type and value (`undefined`, `null`, `NaN`, `0n` and `'0'` are all different), plain arrays
   * and plain objects by content; functions, symbols, `Map`, `Set`, `Date` and class instances
   * by identity (the same object hits, an equal copy does not). Cyclic or very large arguments
   * are not cached.
   */
  cache?: boolean
}

/** An action: the wrapped function's parameters, a Promise of its (awaited) result. */
export type Action<F extends (...args: any[]) => any> = (...args: Parameters<F>) => Promise<Awaited<ReturnType<F>>>

/** The results of `parallel` without failFast: each failure's error in its place. */
export type Settled<T extends readonly unknown[]> = { -readonly [K in keyof T]: Awaited<T[K]> | Error }

/** Wraps functions as actions; each call inside `run(main)` is a tracked task. */
export declare class Orchestrator<State extends object = Record<string, any>> implements Hooks<State & Bookkeeping> {
  /**
   * An orchestrator with run options. `state` is the shared state object itself, kept live as
   * Flow keeps it (`getState() === state`); the bookkeeping fields it lacks (`id`, `startTime`,
   * `endTime`, `operations`) are added to it, its own are kept (calls are recorded in
   * `operations` only when it is an array).
   * @throws TypeError (naming `options.state`) when `state` is not an object.
   */
  constructor(options?: RunOptions & { state?: Partial<State> })
  /**
   * Wraps `fn` as an action with fn's name and parameters and a Promise result (sync functions
   * too). Inside a run each call is a tracked task; outside a run it simply calls `fn`.
   * @throws TypeError for a non-function or an unknown option; RangeError for a bad value.
   */
  action<F extends (...args: any[]) => any>(fn: F, options?: ActionOptions<Parameters<F>>): Action<F>
  /**
   * A function that calls action i (or plain function i) with argument i, all at once, and
   * resolves to the results in order. Without `failFast` each failure's error takes its place;
   * with it, the first error cancels the other calls and rejects.
   */
  parallel<const A extends readonly ((arg: any) => any)[]>(
    actions: A,
    options?: { failFast?: false },
  ): (...args: { [K in keyof A]: Parameters<A[K]>[0] }) => Promise<Settled<{ [K in keyof A]: ReturnType<A[K]> }>>
  parallel<const A extends readonly ((arg: any) => any)[]>(
    actions: A,
    options: { failFast: true },
  ): (...args: { [K in keyof A]: Parameters<A[K]>[0] }) => Promise<{ -readonly [K in keyof A]: Awaited<ReturnType<A[K]>> }>
  /** `failFast` known only at run time (a `boolean`): the results may hold errors in place. */
  parallel<const A extends readonly ((arg: any) => any)[]>(
    actions: A,
    options?: { failFast?: boolean },
  ): (...args: { [K in keyof A]: Parameters<A[K]>[0] }) => Promise<Settled<{ [K in keyof A]: ReturnType<A[K]> }>>
  /**
   * Runs `main`; resolves to its value, rejects with its own error (or a {@link HookError}).
   * The process hooks fire around it; `main` starts once `onProcessBegin`'s hooks are done.
   * The run's `timeout`, `options.signal` aborting, or fail-fast stop main: `run()` rejects at
   * once with the run's error (a {@link TaskTimeoutError}, a {@link CancelledError}, the failed
   * call's own error), main's signal fires, and calls in flight end `cancelled`.
   */
  run<R>(main: () => MaybePromise<R>, options?: { signal?: AbortSignal }): Promise<R>
  /** Sets `state[key] = value`; returns this orchestrator. */
  setState<K extends keyof State>(key: K, value: State[K]): this
  /** The live state object, with the bookkeeping fields. */
  getState(): State & Bookkeeping
  /**
   * Inside an action: the AbortSignal of the current call (timeout, fail-fast, cancel). Inside
   * `main`: main's, which fires when the run stops it (run timeout, cancel, fail-fast).
   * @throws LegatoError with code `ERR_LEGATO_OUTSIDE_RUN` outside a run of this orchestrator.
   */
  signal(): AbortSignal
  /** The report of the latest finished run. */
  readonly report: RunReport | undefined

  onProcessBegin(fn: Hook<ProcessBeginEvent<State & Bookkeeping>>): this
  onTaskReady(fn: Hook<TaskReadyEvent<State & Bookkeeping>>): this
  onTaskBegin(fn: Hook<TaskBeginEvent<State & Bookkeeping>>): this
  onTaskRetry(fn: Hook<TaskRetryEvent<State & Bookkeeping>>): this
  onTaskSuccess(fn: Hook<TaskSuccessEvent<State & Bookkeeping>>): this
  onTaskFailure(fn: Hook<TaskFailureEvent<State & Bookkeeping>>): this
  onTaskSkip(fn: Hook<TaskSkipEvent<State & Bookkeeping>>): this
  onTaskCompletion(fn: Hook<TaskCompletionEvent<State & Bookkeeping>>): this
  onProcessCompletion(fn: Hook<ProcessCompletionEvent<State & Bookkeeping>>): this
}

/**
 * Every `code` an error from legato carries (README, "Errors and their codes"):
 * - `ERR_LEGATO_CYCLE`, `ERR_LEGATO_MISSING_DEPENDENCY`, `ERR_LEGATO_DUPLICATE_TASK`,
 *   `ERR_LEGATO_UNKNOWN_TASK`: the graph errors ({@link GraphError}, `ERR_LEGATO_GRAPH`, is
 *   their base class);
 * - `ERR_LEGATO_TASK_FAILED`, `ERR_LEGATO_TIMEOUT`, `ERR_LEGATO_CANCELLED`,
 *   `ERR_LEGATO_FLOW_FAILED`, `ERR_LEGATO_HOOK_FAILED`, `ERR_LEGATO_RETRY`: the classes below;
 * - `ERR_LEGATO_DEPTH`: a `RangeError`, a call nested deeper than `maxDepth`;
 * - `ERR_LEGATO_INVALID_NAME`: a `RangeError`, a task name that is empty, holds a control
 *   character (NUL included) or a lone surrogate, or starts or ends with whitespace (a step's,
 *   a dependency's, a target's, an action's, a spawned child's), naming the argument;
 * - `ERR_LEGATO_INVALID_REPORT`: a `SyntaxError`, a text {@link RunReport.fromJSON} cannot read
 *   as a report (not JSON, a field missing, an unknown status), saying what is wrong;
 * - `ERR_LEGATO_OUTSIDE_RUN`: a {@link LegatoError}, `orchestrator.signal()` outside a run of
 *   that orchestrator, or `ctx.spawn()` in a step's condition (`when`);
 * - `ERR_INVALID_ARG_TYPE` (a `TypeError`: wrong type, unknown option) and `ERR_OUT_OF_RANGE`
 *   (a `RangeError`: wrong value), naming the argument: `options.retries: must be a whole number
 *   from 0 to 4294967294, got -1`;
 * - `ERR_LEGATO_PANIC`, `ERR_LEGATO_INTERNAL`: a bug in legato (a native panic caught before it
 *   crossed, a native object used after it was freed): please report it.
 */
export type ErrorCode =
  | 'ERR_LEGATO_CYCLE'
  | 'ERR_LEGATO_MISSING_DEPENDENCY'
  | 'ERR_LEGATO_DUPLICATE_TASK'
  | 'ERR_LEGATO_UNKNOWN_TASK'
  | 'ERR_LEGATO_GRAPH'
  | 'ERR_LEGATO_TASK_FAILED'
  | 'ERR_LEGATO_TIMEOUT'
  | 'ERR_LEGATO_CANCELLED'
  | 'ERR_LEGATO_FLOW_FAILED'
  | 'ERR_LEGATO_HOOK_FAILED'
  | 'ERR_LEGATO_RETRY'
  | 'ERR_LEGATO_DEPTH'
  | 'ERR_LEGATO_INVALID_NAME'
  | 'ERR_LEGATO_INVALID_REPORT'
  | 'ERR_LEGATO_OUTSIDE_RUN'
  | 'ERR_INVALID_ARG_TYPE'
  | 'ERR_OUT_OF_RANGE'
  | 'ERR_LEGATO_PANIC'
  | 'ERR_LEGATO_INTERNAL'

/** The root of legato's errors. */
export declare class LegatoError extends Error {
  /** A stable code, one of {@link ErrorCode}. */
  code: string
}
/** An error with code `ERR_LEGATO_INVALID_NAME`: a refused task name (see {@link ErrorCode}). */
export interface InvalidNameError extends RangeError {
  code: 'ERR_LEGATO_INVALID_NAME'
}
/** An error in the graph: cycle, missing dependency, duplicate, unknown target (`ERR_LEGATO_GRAPH`: the base class's code, never thrown itself). */
export declare class GraphError extends LegatoError {}
/** `Circular dependency detected: a → b → a` (`ERR_LEGATO_CYCLE`). */
export declare class CycleError extends GraphError {
  code: 'ERR_LEGATO_CYCLE'
}
/** `Task "x" referenced by "y" does not exist` (`ERR_LEGATO_MISSING_DEPENDENCY`). */
export declare class MissingDependencyError extends GraphError {
  code: 'ERR_LEGATO_MISSING_DEPENDENCY'
}
/** `Task "x" is defined twice` (`ERR_LEGATO_DUPLICATE_TASK`). */
export declare class DuplicateTaskError extends GraphError {
  code: 'ERR_LEGATO_DUPLICATE_TASK'
}
/**
 * `Task "x" not found` (`ERR_LEGATO_UNKNOWN_TASK`): a run's unknown target, or a step of a
 * `resume` report that the flow does not have (a report of another flow).
 */
export declare class UnknownTaskError extends GraphError {
  code: 'ERR_LEGATO_UNKNOWN_TASK'
}
/** A task failed (`ERR_LEGATO_TASK_FAILED`). */
export declare class TaskFailedError extends LegatoError {
  code: 'ERR_LEGATO_TASK_FAILED'
}
/**
 * An attempt timed out (`ERR_LEGATO_TIMEOUT`); its `name` is `TimeoutError` and its message,
 * the same in every door, `task "<name>" timed out after 20ms` (durations as legato writes them:
 * `850ms`, `1.25s`), or `run timed out after 100ms` for the run's own timeout.
 */
export declare class TaskTimeoutError extends LegatoError {
  code: 'ERR_LEGATO_TIMEOUT'
}
/** A task was cancelled or skipped (`ERR_LEGATO_CANCELLED`). */
export declare class CancelledError extends LegatoError {
  code: 'ERR_LEGATO_CANCELLED'
}
/** A flow run did not succeed (`ERR_LEGATO_FLOW_FAILED`); `.report` holds everything. */
export declare class FlowError extends LegatoError {
  code: 'ERR_LEGATO_FLOW_FAILED'
  /** The run's report. */
  readonly report: RunReport
}
/** A hook threw (`ERR_LEGATO_HOOK_FAILED`); `cause` is the hook's own error. */
export declare class HookError extends LegatoError {
  code: 'ERR_LEGATO_HOOK_FAILED'
  /** The event whose hook threw, e.g. `task_begin`. */
  readonly event: string
  /** The hook that threw: its function's name, else the method it was registered with (`onTaskBegin`). */
  readonly hook: string
  /** What the hook threw or rejected with, as given (same identity). */
  readonly cause: unknown
}
/**
 * The npm orchestrator package's name for the timeout error's class: the same class as
 * {@link TaskTimeoutError} (`err instanceof TimeoutError` holds for every legato timeout).
 */
export { TaskTimeoutError as TimeoutError }
/**
 * Retries given in the npm orchestrator package's shape (`retry: { attempts }`) ran out
 * (`ERR_LEGATO_RETRY`): `Operation failed after 3 attempts. Last error: <message>`.
 */
export declare class RetryError extends LegatoError {
  code: 'ERR_LEGATO_RETRY'
  constructor(attempts: number, lastError: unknown)
  /** How many attempts were made. */
  readonly attempts: number
  /** The last attempt's own error (same identity). */
  readonly lastError: unknown
  /** The same as `lastError`. */
  readonly cause: unknown
}
/** Unique string ids, as the npm orchestrator package exports: `prefix` + a random UUID. */
export declare class UniqueIdGenerator {
  /** `prefix` is put before every id (default none). */
  constructor(prefix?: string)
  readonly prefix: string
  /** A new unique id. */
  generate(): string
  /** Same as `generate()`. */
  next(): string
}
/** Orchestrator is also the default export, as in the npm orchestrator package. */
export default Orchestrator

// Only what is exported above is public (the type-only marks stay private).
export {}
