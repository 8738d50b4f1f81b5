// The JS-thread fault watchdog: the JS thread reads registered memory it serves itself. The
// report must be loud (stderr names the address and the rule); with policy 'resolve' the thread
// is un-wedged and the child exits. Children are killed once the report is complete.
import { scenario } from './helpers';

function pageOf(stdout: string): string {
  const m = /PAGE (0x[0-9a-f]+)/.exec(stdout);
  if (m === null) throw new Error(`no PAGE line in ${stdout}`);
  return m[1]!;
}

describe('JS-thread fault watchdog', () => {
  test("policy 'report': a loud DEADLOCK report naming the address, the rule and the fix", async () => {
    const r = await scenario('watchdog', ['report'], { killWhen: 'action:', timeoutMs: 8000 });
    expect(r.timedOut).toBe(false); // killed by us once the report appeared, not by the timeout
    expect(r.stderr).toContain('userfaultfd: DEADLOCK');
    expect(r.stderr).toContain(`faulted on address ${pageOf(r.stdout)}`);
    expect(r.stderr).toMatch(/The rule: never touch registered memory/);
    expect(r.stderr).toMatch(/Worker \(Mapping\.attach\), a native thread \(touch\(\)/);
    expect(r.stdout).not.toContain('READ');
  });

  test("policy 'resolve': reported, then un-wedged with a zero page; the child exits", async () => {
    const r = await scenario('watchdog', ['resolve'], { timeoutMs: 8000 });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('READ 0');
    expect(r.stderr).toContain(`faulted on address ${pageOf(r.stdout)}`);
    expect(r.stderr).toContain('a ZERO page was mapped');
  });

  test('a native resolver forwarding the JS thread’s own fault reports it too', async () => {
    const r = await scenario('watchdog', ['resolve', 'resolver'], { timeoutMs: 8000 });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('READ 0');
    expect(r.stderr).toContain(`faulted on address ${pageOf(r.stdout)}`);
  });
});
