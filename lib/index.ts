/**
 * userfaultfd for Node.js: the public API.
 *
 * ```ts
 * import { Userfaultfd, Mapping, UffdError, probe, pageSize } from 'userfaultfd'
 * ```
 */
import { systemPageSize } from './mm';
import { auxvPageSize } from './auxv';

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
export { FaultServer } from './serve';
export type { FaultHandler, ServeOptions, ServeContext, ServeStats, NonFaultEvent } from './serve';
export { NativeResolver } from './resolver';
export type { ResolverOptions, ResolverRange, ResolverPolicy, ResolverCounters } from './resolver';
export { watchJsThreadFaults, jsThreadId } from './watchdog';
export type { JsThreadFaultPolicy, WatchdogOptions } from './watchdog';
export { sendFd, receiveFd, socketPair, socketFd, closeFd, pidfdGetfd } from './fdpass';
export type { SocketLike, SendFdOptions, ReceiveFdOptions, ReceivedMessage } from './fdpass';
export {
  receiveFirecrackerHandshake,
  parseGuestRegionMappings,
  guestRegionOf,
  serveGuestMemory,
} from './firecracker';
export type { GuestRegionUffdMapping, FirecrackerHandshake } from './firecracker';
export { FEATURE_BITS, IOCTL_BITS, featureNames, ioctlNames } from './features';
export type { FeatureName, IoctlName } from './features';
export * as mm from './mm';
export type { Prot, Advice } from './mm';
export { constants } from './constants';
export { SimulatedSpace, kernelSpace, spaceOf } from './engine';
export type {
  AddressSpace,
  ForkedChild,
  PageInfo,
  SimulatedSpaceOptions,
  SpaceAdvice,
  SpaceMmapOptions,
  SpaceMremapOptions,
  SpaceProt,
  VmaInfo,
} from './engine';
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
    // Addon unavailable (only the simulated engine can run here): ask the kernel through
    // /proc/self/auxv; 4096 only where even that is unreadable (not Linux).
    cachedPageSize = auxvPageSize() ?? 4096;
  }
  return cachedPageSize;
})();
export { doctor, formatReport } from './doctor';
export type { DoctorReport, DoctorCheck, CheckStatus } from './doctor';
export type { Addr } from './raw';
export type { KnownFeatureName, KnownIoctlName } from './features';
export type { DecodedMessage } from './events';
