/** The addon's constants (native/constants.cc), frozen; loaded on first use. */
import { native } from './binding';

let frozen: Readonly<Record<string, number>> | undefined;

export function constants(): Readonly<Record<string, number>> {
  frozen ??= Object.freeze({ ...native().constants });
  return frozen;
}

/** A constant by name; throws if the addon does not export it (a build/spec mismatch). */
export function k(name: string): number {
  const v = constants()[name];
  if (v === undefined) throw new Error(`addon constant ${name} is missing`);
  return v;
}
