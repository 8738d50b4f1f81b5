// Faults of other processes: a uffd passed over a Unix socket (SCM_RIGHTS), taken with
// pidfd_getfd, and Firecracker's snapshot-restore handshake against a C peer playing the VMM.
import { execFileSync } from 'child_process';
import { existsSync, mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import {
  guestRegionOf,
  parseGuestRegionMappings,
  receiveFd,
  sendFd,
  socketPair,
  closeFd,
} from '../../lib';
import { ok, scenario } from './helpers';

describe('two processes', () => {
  test('the owner sends its uffd over a socketpair; we serve its JS thread faults', async () => {
    expect(ok(await scenario('two-process'))).toEqual({
      fds: 1,
      payloadPages: 8,
      via: 'fd',
      faults: 8,
      childCode: 0,
      childSignal: null,
      childSaid: 'CHILD OK 8',
    });
  });

  test('pidfd_getfd: we take the owner’s uffd and serve it', async () => {
    expect(ok(await scenario('pidfd'))).toEqual({
      code: 0,
      said: ['CHILD OK'],
      faults: 4,
      gone: 'ESRCH',
    });
  });

  test('sendFd/receiveFd in one process: payload, fd, end of stream, timeout', async () => {
    const [a, b] = socketPair();
    const [x, y] = socketPair();
    expect(await sendFd(a, x, 'hello')).toBe(5);
    const m = await receiveFd(b);
    expect(m.payload.toString()).toBe('hello');
    expect(m.fds).toHaveLength(1);
    expect(m.fd).not.toBe(x);
    // The received fd is the same socket: data written to y arrives on it.
    expect(await sendFd(y, m.fd!, 'via copy')).toBe(8);
    const viaCopy = await receiveFd(m.fd!);
    expect(viaCopy.payload.toString()).toBe('via copy');
    for (const fd of [...viaCopy.fds, m.fd!, x, y]) closeFd(fd);
    await expect(receiveFd(b, { timeout: 20 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    closeFd(a);
    expect(await receiveFd(b)).toMatchObject({ end: true, fds: [], fd: undefined });
    closeFd(b);
    await expect(receiveFd(b)).rejects.toMatchObject({ code: 'EBADF' });
  });
});

describe('Firecracker handshake', () => {
  let dir: string;
  let peer: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'uffd-fc-'));
    peer = join(dir, 'fc-vmm');
    // test/vm stages a static build for the guest arch (the guests have no compiler)
    const prebuilt = join(__dirname, 'peers', `fc-vmm.${process.arch}`);
    if (existsSync(prebuilt)) peer = prebuilt;
    else execFileSync('cc', ['-O2', '-Wall', '-o', peer, join(__dirname, 'peers', 'fc-vmm.c')]);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('a C VMM peer: regions parsed, every byte served from the snapshot, REMOVE -> zeros', async () => {
    const r = ok<Record<string, unknown>>(await scenario('firecracker', [peer, dir]));
    expect(r).toEqual({
      regions: [
        { size: 8, offset: 0, page: true },
        { size: 4, offset: 8, page: true },
      ],
      vmm: 'VMM pages=12 bad=0 nonzero_after_remove=0',
      code: 0,
      signal: null,
      stats: { faults: 13, handled: 13, eexist: 0, retries: 0, failed: 0, events: 1 },
    });
  });

  test('parseGuestRegionMappings: exact field names, page_size_kib, errors', () => {
    const one = { base_host_virt_addr: 0x7f0000000000, size: 8192, offset: 4096, page_size: 4096 };
    expect(parseGuestRegionMappings(JSON.stringify([one]))).toEqual([one]);
    const { page_size: _ps, ...old } = one;
    expect(parseGuestRegionMappings(JSON.stringify([{ ...old, page_size_kib: 4 }]))).toEqual([one]);
    for (const bad of [
      '{',
      '{}',
      '[1]',
      JSON.stringify([{ ...one, size: -1 }]),
      JSON.stringify([{ ...one, page_size: 3000 }]),
    ]) {
      expect(() => parseGuestRegionMappings(bad)).toThrow(
        expect.objectContaining({ code: 'ERR_UFFD_HANDSHAKE' }),
      );
    }
    expect(guestRegionOf([one], one.base_host_virt_addr + 4097)).toEqual({
      mapping: one,
      fileOffset: 8193,
    });
    expect(guestRegionOf([one], one.base_host_virt_addr + 8192)).toBeUndefined();
  });
});
