/**
 * Shared helpers for the reliability tests. Anything that could hang, crash or leak runs in a
 * child process (`runNode`) with a hard timeout, so a deadlock is a killed child and a crash is a
 * signal exit, never a stuck or dead jest worker. Children load dist/ (built by `npm test`).
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scaledMs } from '../helpers/time';

export const root = join(__dirname, '..', '..');
export const dist = join(root, 'dist');
export const fixtures = join(__dirname, 'fixtures');

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface RunOptions {
  args?: string[];
  execArgv?: string[];
  env?: NodeJS.ProcessEnv;
  /** Hard limit: the child is SIGKILLed after this (default 30 s). */
  timeoutMs?: number;
  /** Run the child through this wrapper command (e.g. ['setpriv', '--reuid=65534', ...]). */
  wrapper?: string[];
  cwd?: string;
}

/** Runs `node [execArgv] script [args]` and collects its output. Never rejects. */
export function runNode(script: string, options: RunOptions = {}): Promise<ChildResult> {
  const argv = [...(options.execArgv ?? []), script, ...(options.args ?? [])];
  const [cmd, ...pre] = options.wrapper ?? [];
  const file = cmd ?? process.execPath;
  const fullArgs = cmd === undefined ? argv : [...pre, process.execPath, ...argv];
  return new Promise((resolve) => {
    const child = spawn(file, fullArgs, {
      cwd: options.cwd ?? root,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // A command that cannot be spawned (a wrapper missing here, ENOENT) emits 'error' before
    // 'close'. Unhandled, it was thrown out of the emitter and 'close' never resolved the
    // promise: the test hung until jest's timeout (seen in a guest without setpriv).
    child.on('error', (e: Error) => (stderr += `spawn ${file}: ${e.message}\n`));
    const timer = setTimeout(
      () => {
        timedOut = true;
        // Where every thread of the child (and of what it spawned) sleeps, read before the kill:
        // a hang in a guest is otherwise only "timedOut: true".
        const report = child.pid === undefined ? '' : hangReport(child.pid);
        stderr += report;
        process.stderr.write(report);
        child.kill('SIGKILL');
      },
      scaledMs(options.timeoutMs ?? 30000),
    );
    // 'close' waits for the child's stdio too, which a process it spawned may hold open (a
    // fixture's server inherits its stderr): a fixture that died before killing its server left
    // the test waiting for jest's own timeout (seen in a 6.1 guest, where arming FailLoud threw).
    // Once the child has exited, its output gets a grace period, then the pipes are cut.
    child.on('exit', () => {
      setTimeout(() => {
        if (child.stdout.destroyed && child.stderr.destroyed) return;
        stderr += '\n[runNode: the child exited; a descendant still held its stdio open]\n';
        child.stdout.destroy();
        child.stderr.destroy();
      }, scaledMs(5000)).unref();
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

/** The pids of pid's descendants, from /proc/<pid>/task/<tid>/children (CONFIG_PROC_CHILDREN). */
function descendants(pid: number): number[] {
  const out: number[] = [];
  const walk = (p: number) => {
    for (const tid of listOr(`/proc/${p}/task`)) {
      const kids = readOr(`/proc/${p}/task/${tid}/children`).trim();
      for (const k of kids === '' ? [] : kids.split(/\s+/).map(Number)) {
        out.push(k);
        walk(k);
      }
    }
  };
  walk(pid);
  return out;
}

/** The entries of a /proc directory, or none once the process is gone. */
function listOr(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}

function readOr(path: string, or = ''): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return or;
  }
}

/**
 * Each thread of pid and its descendants: name, state, wchan and (as root) the kernel stack,
 * from /proc. What a hard timeout prints before it kills the child.
 */
export function hangReport(pid: number): string {
  const lines = [`\n[runNode: hard timeout; the threads of ${pid} and its descendants]`];
  for (const p of [pid, ...descendants(pid)]) {
    const cmd = readOr(`/proc/${p}/cmdline`).split('\0').join(' ').trim().slice(0, 120);
    lines.push(`pid ${p}: ${cmd}`);
    const tids = listOr(`/proc/${p}/task`);
    if (tids.length === 0) lines.push('  (gone)');
    for (const tid of tids) {
      const t = `/proc/${p}/task/${tid}`;
      const status = readOr(`${t}/status`);
      const field = (k: string) => new RegExp(`^${k}:\\s*(.*)$`, 'm').exec(status)?.[1] ?? '?';
      lines.push(
        `  tid ${tid} ${field('Name')} state ${field('State')} wchan ${readOr(`${t}/wchan`, '?')}` +
          ` SigPnd ${field('SigPnd')} ShdPnd ${field('ShdPnd')} SigBlk ${field('SigBlk')}`,
      );
      const stack = readOr(`${t}/stack`).trim();
      if (stack !== '') lines.push(...stack.split('\n').map((l) => `    ${l}`));
    }
    // Each userfaultfd it holds: "pending" faults nobody has read, "total" still unresolved.
    for (const fd of listOr(`/proc/${p}/fd`)) {
      let target = '';
      try {
        target = readlinkSync(`/proc/${p}/fd/${fd}`);
      } catch {
        continue;
      }
      if (!target.includes('userfaultfd')) continue;
      const info = readOr(`/proc/${p}/fdinfo/${fd}`).replace(/\s+/g, ' ').trim();
      lines.push(`  fd ${fd} ${target}: ${info}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/**
 * A jest timeout for a test whose child processes run with these hard timeouts (unscaled, as
 * passed to runNode): their sum scaled like the children's, plus a margin. Explicit jest
 * timeouts are not scaled by the config (only the default is), so a child's hard timeout in a
 * guest (UFFD_TEST_TIME_SCALE=4) outlasted the test's (a 60 s fixture limit, 240 s, under a
 * 90 s test): a hang then surfaced as jest's timeout, without the child's output.
 */
export function testTimeoutFor(...childMs: number[]): number {
  return scaledMs(childMs.reduce((a, b) => a + b, 0) + 30_000);
}

/** Runs a fixture under test/reliability/fixtures. */
export function runFixture(name: string, options: RunOptions = {}): Promise<ChildResult> {
  return runNode(join(fixtures, name), options);
}

/** The JSON lines a child printed (lines starting with '{'). */
export function jsonLines<T = Record<string, unknown>>(stdout: string): T[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as T);
}

/** The last JSON line a child printed, or a descriptive error with its output. */
export function lastJson<T = Record<string, unknown>>(r: ChildResult): T {
  const lines = jsonLines<T>(r.stdout);
  const last = lines[lines.length - 1];
  if (last === undefined) {
    throw new Error(
      `child printed no JSON (code ${r.code}, signal ${r.signal}, timedOut ${r.timedOut})\n` +
        `stdout:\n${r.stdout.slice(-3000)}\nstderr:\n${r.stderr.slice(-3000)}`,
    );
  }
  return last;
}

/** A readable summary for assertion messages. */
export function describeChild(r: ChildResult): string {
  return `code=${r.code} signal=${r.signal} timedOut=${r.timedOut}\nstdout:\n${r.stdout.slice(
    -4000,
  )}\nstderr:\n${r.stderr.slice(-4000)}`;
}

/**
 * Compiles a C helper from test/reliability/fixtures/<name>.c into a cache directory keyed by
 * the source's hash, and returns the binary's path. The QEMU guests have no compiler: there
 * test/vm/suite.js has built <name>.<arch> beside the source, which is used instead.
 */
export function compileC(name: string, extraFlags: string[] = []): string {
  const prebuilt = join(fixtures, `${name}.${process.arch}`);
  if (extraFlags.length === 0 && existsSync(prebuilt)) return prebuilt;
  const src = join(fixtures, `${name}.c`);
  const text = readFileSync(src, 'utf8');
  const hash = createHash('sha256')
    .update(text)
    .update(extraFlags.join(' '))
    .digest('hex')
    .slice(0, 16);
  const dir = join(tmpdir(), 'userfaultfd-test-bin');
  mkdirSync(dir, { recursive: true });
  const out = join(dir, `${name}-${hash}`);
  if (!existsSync(out)) {
    const tmp = `${out}.${process.pid}.tmp`;
    const r = spawnSync('cc', ['-O2', '-Wall', '-Wextra', '-o', tmp, src, ...extraFlags], {
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(`cc ${name}.c failed:\n${r.stderr}`);
    renameSync(tmp, out); // atomic: a concurrent test never runs a half-written binary
  }
  return out;
}

/** Open fds, threads and RSS of this process (for leak checks in-process). */
export function procStats(): { fds: number; threads: number; rssKb: number } {
  const status = readFileSync('/proc/self/status', 'utf8');
  const rss = /VmRSS:\s+(\d+)/.exec(status);
  return {
    fds: readdirSync('/proc/self/fd').length,
    threads: readdirSync('/proc/self/task').length,
    rssKb: rss ? Number(rss[1]) : 0,
  };
}

/** Writes a small script to a temp file (for one-off children) and returns its path. */
export function tempScript(name: string, body: string): string {
  const dir = join(tmpdir(), 'userfaultfd-test-scripts');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}-${process.pid}.js`);
  writeFileSync(file, body);
  return file;
}

/** Whether this process runs as root (the privilege tests switch users from root). */
export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/**
 * Whether this run preloads AddressSanitizer (npm run test:asan). ASan's allocator keeps freed
 * memory in a quarantine and maps shadow memory, so RSS and mapping counts say nothing about
 * leaks there: leak tests keep their fd and thread checks and skip those two.
 */
export const underAsan = /libasan/.test(process.env.LD_PRELOAD ?? '');
