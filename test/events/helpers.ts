/**
 * Runs a scenario script (test/events/scenarios/*.js) in its own `node` process with a hard
 * timeout: a fault nobody serves hangs the thread that made it, so a bug here must end as a
 * killed child, never as a hung jest worker. The scenario prints `RESULT <json>`.
 */
import { spawn } from 'child_process';
import { join } from 'path';
import { scaledMs } from '../helpers/time';

export interface ChildRun<T = unknown> {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** The parsed RESULT line, if the scenario printed one. */
  result: T | undefined;
}

export interface RunOptions {
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** Kill the child as soon as its stderr (or stdout) contains this text. */
  killWhen?: string;
  cwd?: string;
}

export const ROOT = join(__dirname, '..', '..');

export function runNode<T = unknown>(
  args: string[],
  options: RunOptions = {},
): Promise<ChildRun<T>> {
  const timeoutMs = scaledMs(options.timeoutMs ?? 15000);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      cwd: options.cwd ?? ROOT,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    const check = (): void => {
      if (options.killWhen !== undefined && (stderr + stdout).includes(options.killWhen)) {
        child.kill('SIGKILL');
      }
    };
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      check();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      check();
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = stdout.split('\n').find((l) => l.startsWith('RESULT '));
      const result = line === undefined ? undefined : (JSON.parse(line.slice(7)) as T);
      resolve({ code, signal, stdout, stderr, timedOut, result });
    });
  });
}

/** Runs test/events/scenarios/<name>.js with args; see runNode. */
export function scenario<T = unknown>(
  name: string,
  args: string[] = [],
  options: RunOptions = {},
): Promise<ChildRun<T>> {
  return runNode<T>([join(__dirname, 'scenarios', `${name}.js`), ...args], options);
}

/** Asserts a clean run and returns its RESULT (with the child's output in the failure message). */
export function ok<T>(run: ChildRun<T>): T {
  if (run.code !== 0 || run.timedOut || run.result === undefined) {
    throw new Error(
      `scenario failed: code=${run.code} signal=${run.signal} timedOut=${run.timedOut}\n` +
        `--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`,
    );
  }
  return run.result;
}
