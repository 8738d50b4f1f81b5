/**
 * The JS-thread fault watchdog (native/watchdog.cc).
 *
 * THE RULE: the JS thread must never touch a missing page of memory registered with a
 * userfaultfd it serves itself. It would sleep in the kernel forever, silently: it is the thread
 * that should resolve the fault. While this environment has a userfaultfd open, a native thread
 * checks whether the environment's JS thread has been asleep in `handle_userfault` for
 * `thresholdMs`; if so it reads that uffd's pending messages, finds the one whose THREAD_ID is
 * the JS thread (the `threadId` feature, on by default), and writes to stderr the address, the
 * rule and the fix. Then it applies the policy:
 *
 * - `'report'` (default): nothing else. A real self-deadlock stays a hang, now a loud one; a
 *   fault that another process or thread is merely slow to serve is handed back untouched.
 * - `'resolve'`: un-wedge the thread: a zero page for a missing fault, CONTINUE for a minor
 *   fault, write protection dropped for a wp fault. The program continues with a zero page
 *   where a server would have put data: for diagnosis, not production.
 * - `'poison'`: UFFDIO_POISON: the JS thread takes SIGBUS and the process dies (fail-loud).
 * - `'off'`: no watching (e.g. another process serves this process's uffd and may be slow).
 *
 * A native resolver reports JS-thread faults it would have to forward to JS the same way, at
 * once. If this uffd is served by another process (sent with `sendFd`, taken with
 * `pidfdGetfd`), `sendFd` stops watching it; for `pidfdGetfd` call
 * `watchJsThreadFaults({ policy: 'off' })` in the process that owns the memory.
 */
import { native } from './binding';
import { checkOptions, toChoice, toU53 } from './validate';

export type JsThreadFaultPolicy = 'report' | 'resolve' | 'poison' | 'off';
export const JS_THREAD_FAULT_POLICIES: readonly JsThreadFaultPolicy[] = [
  'off',
  'report',
  'resolve',
  'poison',
];

export interface WatchdogOptions {
  /** What to do once a self-deadlock is found (default 'report'). */
  policy?: JsThreadFaultPolicy;
  /** How long the JS thread must have slept in handle_userfault (default 1000, minimum 100). */
  thresholdMs?: number;
}

/** Configures the watchdog for this environment (main thread or Worker). */
export function watchJsThreadFaults(options: WatchdogOptions): void {
  const o = checkOptions<WatchdogOptions>(options, 'options', ['policy', 'thresholdMs']);
  const policy = toChoice(o.policy ?? 'report', 'policy', JS_THREAD_FAULT_POLICIES);
  const threshold = o.thresholdMs === undefined ? 1000 : toU53(o.thresholdMs, 'thresholdMs');
  native().watchdogConfigure(
    JS_THREAD_FAULT_POLICIES.indexOf(policy),
    Math.min(threshold, 0x7fffffff),
  );
}

/** @internal this environment's JS thread serves fd. */
export function watchFd(fd: number): void {
  native().watchdogWatch(fd);
}

/** @internal fd is closed, or served elsewhere. */
export function unwatchFd(fd: number): void {
  native().watchdogUnwatch(fd);
}

/** @internal a native resolver reads fd (true) or not any more (false). */
export function skipFd(fd: number, skip: boolean): void {
  native().watchdogSkip(fd, skip);
}

/** The kernel tid of this environment's JS thread (as in a pagefault event's threadId). */
export function jsThreadId(): number {
  return native().watchdogJsTid();
}
