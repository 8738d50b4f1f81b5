/**
 * The addon's SIGSEGV/SIGBUS handler (native/threads.cc) guards touch()'s accesses and passes
 * every other signal on. A process that then dies of the signal must still die of it (never
 * swallow it), and says where: fault address, pc, thread and frames on stderr. Each case runs
 * in a child (test/reliability/fixtures/fatal-signal.js), with V8's WebAssembly trap handler
 * (installed before ours, so ours chains to it) and without it (ours chains to the default).
 */
import { jsonLines, runFixture } from './helpers';

interface Printed {
  address?: number;
  survived?: unknown;
}

describe.each([
  ['with', []],
  ['without', ['--disable-wasm-trap-handler']],
])('fatal signals, %s the wasm trap handler', (_, execArgv) => {
  test('a fault on the JS thread: dies of SIGSEGV, reporting the address, pc, thread and frames', async () => {
    const r = await runFixture('fatal-signal.js', { args: ['fault'], execArgv });
    expect(r.timedOut).toBe(false);
    expect(r.signal).toBe('SIGSEGV');
    const printed = jsonLines<Printed>(r.stdout);
    expect(printed.some((p) => 'survived' in p)).toBe(false);
    const address = printed[0]!.address!;
    const m =
      /userfaultfd: fatal SIGSEGV \(si_code (\d+)\) at address 0x([0-9a-f]+), pc 0x([0-9a-f]+), thread (\d+) "([^"]*)"/.exec(
        r.stderr,
      );
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBe(2); // SEGV_ACCERR: a PROT_NONE page
    expect(parseInt(m![2]!, 16)).toBe(address);
    expect(parseInt(m![3]!, 16)).toBeGreaterThan(0);
    expect(Number(m![4])).toBeGreaterThan(0);
    expect(m![5]).toBe('node');
    // backtrace_symbols_fd frames: "module(+offset)[address]", the handler's own first (the
    // addon is build/Release/userfaultfd.node or a prebuild, userfaultfd.glibc.node).
    expect(r.stderr).toMatch(/userfaultfd[.\w]*\.node\(\+0x[0-9a-f]+\)\[0x[0-9a-f]+\]/);
  });

  test('kill(SIGSEGV) from outside (si_code SI_USER) is not swallowed: the process dies of it', async () => {
    const r = await runFixture('fatal-signal.js', { args: ['kill'], execArgv });
    expect(r.timedOut).toBe(false);
    expect(jsonLines<Printed>(r.stdout).some((p) => 'survived' in p)).toBe(false);
    expect(r.signal).toBe('SIGSEGV');
    // Not a fault: no report.
    expect(r.stderr).not.toMatch(/userfaultfd: fatal/);
  });
});
