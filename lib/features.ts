/**
 * Names for UFFD_FEATURE_* bits and the ioctl bits of uffdio_api.ioctls / uffdio_register.ioctls
 * (spec §1.4, §1.5). Bits this code does not know are kept as 'bitN' / 'ioctlN', never dropped:
 * a newer kernel's extra bits must not break anything (userfaultfd-rs #61 broke on POISON).
 */

export const FEATURE_BITS = {
  pagefaultFlagWp: 0,
  eventFork: 1,
  eventRemap: 2,
  eventRemove: 3,
  missingHugetlbfs: 4,
  missingShmem: 5,
  eventUnmap: 6,
  sigbus: 7,
  threadId: 8,
  minorHugetlbfs: 9,
  minorShmem: 10,
  exactAddress: 11,
  wpHugetlbfsShmem: 12,
  wpUnpopulated: 13,
  poison: 14,
  wpAsync: 15,
  move: 16,
} as const;

export type KnownFeatureName = keyof typeof FEATURE_BITS;
export type FeatureName = KnownFeatureName | `bit${number}`;

/** Feature bits that change the kernel's behaviour when requested (spec §1.4). */
export const BEHAVIOUR_FEATURES: readonly KnownFeatureName[] = [
  'eventFork',
  'eventRemap',
  'eventRemove',
  'eventUnmap',
  'sigbus',
  'threadId',
  'exactAddress',
  'wpUnpopulated',
  'wpAsync',
];

export const IOCTL_BITS = {
  register: 0x00,
  unregister: 0x01,
  wake: 0x02,
  copy: 0x03,
  zeropage: 0x04,
  move: 0x05,
  writeProtect: 0x06,
  continue: 0x07,
  poison: 0x08,
  api: 0x3f,
} as const;

export type KnownIoctlName = keyof typeof IOCTL_BITS;
export type IoctlName = KnownIoctlName | `ioctl${number}`;

const featureByBit = new Map<number, KnownFeatureName>(
  Object.entries(FEATURE_BITS).map(([n, b]) => [b, n as KnownFeatureName]),
);
const ioctlByBit = new Map<number, KnownIoctlName>(
  Object.entries(IOCTL_BITS).map(([n, b]) => [b, n as KnownIoctlName]),
);

function bitsOf(mask: bigint): number[] {
  const out: number[] = [];
  for (let b = 0; b < 64; b++) if ((mask >> BigInt(b)) & 1n) out.push(b);
  return out;
}

export function featureNames(mask: bigint): FeatureName[] {
  return bitsOf(mask).map((b) => featureByBit.get(b) ?? (`bit${b}` as const));
}

export function ioctlNames(mask: bigint): IoctlName[] {
  return bitsOf(mask).map((b) => ioctlByBit.get(b) ?? (`ioctl${b}` as const));
}

/** The bit of a feature name ('move' -> 16, 'bit17' -> 17); undefined for an unknown name. */
export function featureBit(name: string): number | undefined {
  if (Object.prototype.hasOwnProperty.call(FEATURE_BITS, name)) {
    return FEATURE_BITS[name as KnownFeatureName];
  }
  const m = /^bit([0-9]|[1-5][0-9]|6[0-3])$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

export function featureMask(names: Iterable<string>): bigint {
  let mask = 0n;
  for (const n of names) {
    const b = featureBit(n);
    if (b !== undefined) mask |= 1n << BigInt(b);
  }
  return mask;
}
