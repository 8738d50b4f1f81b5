// uffd.serve(): handler failures resolved by policy and surfaced, EEXIST woken, EAGAIN from an
// unread event retried without a new message. Kernel scenarios in child processes.
import { poisonTest } from '../helpers/kernel-version';
import { ok, scenario } from './helpers';

describe('serve()', () => {
  // the default failure policy is UFFDIO_POISON (6.6+): before it the row asserts the EINVAL
  poisonTest(
    'a failing handler: poison (default) + onError, zeropage policy, done rejects',
    async () => {
      expect(ok(await scenario('serve-errors'))).toEqual({
        poison: {
          outcome: [0, 'SIGBUS', 'SIGBUS'],
          errors: [
            ['ERR_UFFD_HANDLER', 'sync boom', 1],
            ['ERR_UFFD_HANDLER', 'async boom', 2],
          ],
          stats: { faults: 3, handled: 1, eexist: 0, retries: 0, failed: 2, events: 0 },
        },
        zeropage: { signal: null, sum: 0, failed: 1 },
        noOnError: {
          signal: 'SIGBUS',
          rejected: { code: 'ERR_UFFD_HANDLER', cause: 'TypeError', message: true },
        },
        busy: 'ERR_UFFD_ITERATOR_BUSY',
      });
    },
  );

  test('concurrency: at most N handlers at once, and N do run together', async () => {
    expect(ok(await scenario('serve-concurrency'))).toEqual({
      four: { max: 4, handled: 8 },
      one: { max: 1, handled: 8 },
    });
  });

  test('EEXIST from the handler (a racing resolution): the page is woken', async () => {
    expect(ok(await scenario('serve-eexist'))).toEqual({
      sum: 0x5a, // the winner's byte
      stats: { faults: 1, handled: 0, eexist: 1, retries: 0, failed: 0, events: 0 },
    });
  });

  test('EAGAIN while a REMOVE is unread: the event is read, the fault retried', async () => {
    const r = ok<{
      sum: number;
      attempts: number[];
      events: string[];
      stats: Record<string, number>;
    }>(await scenario('serve-eagain'));
    expect(r.sum).toBe(0);
    expect(r.events).toEqual(['remove']);
    expect(r.attempts[0]).toBe(0);
    expect(r.attempts.length).toBeGreaterThanOrEqual(2); // at least one EAGAIN, then success
    expect(r.stats).toMatchObject({ faults: 1, handled: 1, failed: 0, events: 1 });
    expect(r.stats.retries).toBe(r.attempts.length - 1);
  });
});
