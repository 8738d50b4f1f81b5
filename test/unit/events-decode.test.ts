// The uffd_msg decoder is pure: checked here on synthetic messages laid out as in spec §1.3.
import { decodeMessages, MSG_SIZE } from '../../lib/events';

function msg(event: number, fill: (v: DataView) => void): Uint8Array {
  const b = new Uint8Array(MSG_SIZE);
  const v = new DataView(b.buffer);
  v.setUint8(0, event);
  fill(v);
  return b;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.length * MSG_SIZE);
  parts.forEach((p, i) => out.set(p, i * MSG_SIZE));
  return out;
}

describe('decodeMessages', () => {
  test('pagefault: flags, address, ptid', () => {
    const b = msg(0x12, (v) => {
      v.setBigUint64(8, 1n, true); // WRITE
      v.setBigUint64(16, 0x7f0000001000n, true);
      v.setUint32(24, 4242, true);
    });
    expect(decodeMessages(b, 1, true)).toEqual([
      {
        type: 'pagefault',
        address: 0x7f0000001000,
        kind: 'missing',
        write: true,
        threadId: 4242,
        flags: 1,
      },
    ]);
    // Without the threadId feature the ptid bytes are not reported.
    expect(decodeMessages(b, 1, false)[0]).not.toHaveProperty('threadId');
  });

  test('pagefault kinds: WP (1<<1) and MINOR (1<<2)', () => {
    const wp = msg(0x12, (v) => v.setBigUint64(8, 3n, true));
    const minor = msg(0x12, (v) => v.setBigUint64(8, 4n, true));
    const [a, b] = decodeMessages(concat(wp, minor), 2, false);
    expect(a).toMatchObject({ kind: 'wp', write: true });
    expect(b).toMatchObject({ kind: 'minor', write: false });
  });

  test('fork, remap, remove, unmap payloads', () => {
    const fork = msg(0x13, (v) => v.setUint32(8, 17, true));
    const remap = msg(0x14, (v) => {
      v.setBigUint64(8, 0x1000n, true);
      v.setBigUint64(16, 0x9000n, true);
      v.setBigUint64(24, 0x8000n, true);
    });
    const remove = msg(0x15, (v) => {
      v.setBigUint64(8, 0x2000n, true);
      v.setBigUint64(16, 0x3000n, true);
    });
    const unmap = msg(0x16, (v) => {
      v.setBigUint64(8, 0x4000n, true);
      v.setBigUint64(16, 0x6000n, true);
    });
    expect(decodeMessages(concat(fork, remap, remove, unmap), 4, false)).toEqual([
      { type: 'fork', fd: 17 },
      { type: 'remap', from: 0x1000, to: 0x9000, len: 0x8000 },
      { type: 'remove', start: 0x2000, end: 0x3000 },
      { type: 'unmap', start: 0x4000, end: 0x6000 },
    ]);
  });

  test('unknown event types are kept, with their raw bytes', () => {
    const b = msg(0x17, (v) => v.setUint8(8, 0xab));
    const [ev] = decodeMessages(b, 1, false);
    expect(ev).toMatchObject({ type: 'unknown', event: 0x17 });
    expect((ev as { raw: Uint8Array }).raw[8]).toBe(0xab);
  });

  test('decodes only `count` messages of a larger buffer', () => {
    const b = concat(
      msg(0x15, () => undefined),
      msg(0x16, () => undefined),
    );
    expect(decodeMessages(b, 1, false)).toHaveLength(1);
  });
});
