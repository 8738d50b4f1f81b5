/** Which AddressSpace a Userfaultfd serves: its simulated space, or the real process. */
import { Userfaultfd } from '../userfaultfd';
import { describe, typeError } from '../validate';
import type { AddressSpace } from './address-space';
import { kernelSpace } from './kernel-space';
import { simulatedSpaceOf } from './open';

/**
 * The address space a userfaultfd works on: code written against it (map memory, register it,
 * resolve faults) runs unchanged whether `Userfaultfd.open({ backend: 'auto' })` got the kernel
 * or fell back to the simulated engine.
 */
export function spaceOf(uffd: Userfaultfd): AddressSpace {
  if (!(uffd instanceof Userfaultfd)) {
    throw typeError(`The "uffd" argument must be a Userfaultfd. Received ${describe(uffd)}`);
  }
  return simulatedSpaceOf(uffd) ?? kernelSpace();
}
