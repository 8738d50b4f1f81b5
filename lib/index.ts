/**
 * userfaultfd for Node.js: the public API.
 *
 * ```ts
 * import { Userfaultfd, Mapping, UffdError, probe, pageSize } from 'userfaultfd'
 * ```
 */
import { systemPageSize } from './mm';

export { Userfaultfd, queryFeatures } from './userfaultfd';
export type { OpenOptions, RegisterModes, OpenVia, Backend } from './userfaultfd';
export { Mapping } from './mapping';
export type { AnonymousOptions, MemfdOptions } from './mapping';
export { UffdError, errnoName, errnoOf, isUffdError } from './errors';
export type { PackageErrorCode, UffdErrorDetails } from './errors';
export { probe, fixFor } from './probe';
export type { ProbeResult, ProbePath } from './probe';
export { touch, readMemory, writeMemory } from './touch';
export type { TouchOptions, TouchResult } from './touch';
export { decodeMessages, MSG_SIZE } from './events';
export type {
  UffdEvent,
  PagefaultEvent,
  ForkEvent,
  RemapEvent,
  RemoveEvent,
  UnmapEvent,
  UnknownEvent,
  EventsOptions,
} from './events';
export { FEATURE_BITS, IOCTL_BITS, featureNames, ioctlNames } from './features';
export type { FeatureName, IoctlName } from './features';
export * as mm from './mm';
export type { Prot, Advice } from './mm';
export { constants } from './constants';
export { FailLoud, poisonMissing } from './fail-loud';
export type {
  FailLoudAction,
  FailLoudOptions,
  FailInfo,
  FailReason,
  PoisonResult,
} from './fail-loud';

let cachedPageSize: number | undefined;

/** The system page size (from sysconf; never assumed to be 4096). */
export const pageSize: number = (() => {
  try {
    cachedPageSize ??= systemPageSize();
  } catch {
    cachedPageSize = 4096; // addon unavailable: only the simulated engine can run here
  }
  return cachedPageSize;
})();
