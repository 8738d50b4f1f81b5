/**
 * The simulated engine (issue 4): a pure-TypeScript model of the mm state userfaultfd's checks
 * depend on, and the AddressSpace vocabulary shared with the real process. Nothing here loads
 * the addon at module load time.
 */
export type {
  AddressSpace,
  ForkedChild,
  PageInfo,
  SpaceAdvice,
  SpaceMmapOptions,
  SpaceMremapOptions,
  SpaceProt,
  VmaInfo,
} from './address-space';
export { SimulatedSpace, SimMachine } from './space';
export type { SimulatedSpaceOptions, Profile } from './space';
export { SimRawUffd } from './sim-raw';
export { SimKernel } from './sys';
export { openSimulated, openOnSpace, simulatedProcess, simulatedSpaceOf } from './open';
export { kernelSpace } from './kernel-space';
export { spaceOf } from './space-of';
