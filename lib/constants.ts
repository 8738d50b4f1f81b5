/** The addon's constants (native/constants.cc), frozen; loaded on first use. */
import { native } from './binding';

let frozen: Readonly<Record<string, number>> | undefined;

export function constants(): Readonly<Record<string, number>> {
  if (frozen === undefined) {
    let table: Readonly<Record<string, number>>;
    try {
      table = native().constants;
    } catch {
      // No addon (not Linux, no build): the uffd uAPI numbers still work for the simulated
      // backend; the mm syscalls need the addon anyway.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      table = (require('./engine/uapi') as typeof import('./engine/uapi')).UAPI_CONSTANTS;
    }
    frozen = Object.freeze({ ...table });
  }
  return frozen;
}

/** A constant by name; throws if the addon does not export it (a build/spec mismatch). */
export function k(name: string): number {
  const v = constants()[name];
  if (v === undefined) throw new Error(`addon constant ${name} is missing`);
  return v;
}
