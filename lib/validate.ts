/**
 * Argument checks, made before any syscall. Only values that are not what the API takes are
 * refused here (TypeError for a wrong type, RangeError for a number that is not a safe,
 * non-negative integer, TypeError for an unknown option). Alignment, zero lengths, ranges and
 * mode combinations are the kernel's to judge, so they reach it and come back as UffdError.
 */

function typeError(message: string, code = 'ERR_INVALID_ARG_TYPE'): TypeError {
  const e = new TypeError(message);
  (e as TypeError & { code: string }).code = code;
  return e;
}

function rangeError(message: string): RangeError {
  const e = new RangeError(message);
  (e as RangeError & { code: string }).code = 'ERR_OUT_OF_RANGE';
  return e;
}

/** An address or length: a safe non-negative integer Number, or a BigInt in that range. */
export function toU53(value: unknown, name: string): number {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw rangeError(
        `The value of "${name}" is out of range. It must be a safe non-negative integer. Received ${String(value)}`,
      );
    }
    return value;
  }
  if (typeof value === 'bigint') {
    if (value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw rangeError(
        `The value of "${name}" is out of range. It must be >= 0 and <= 2^53-1. Received ${value}n`,
      );
    }
    return Number(value);
  }
  throw typeError(
    `The "${name}" argument must be of type number or bigint. Received ${describe(value)}`,
  );
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return `an instance of ${value.constructor?.name ?? 'Object'}`;
  if (typeof value === 'function') return 'a function';
  return `type ${typeof value} (${String(value).slice(0, 32)})`;
}

/** Checks an options bag: an object (or undefined) with only the listed keys. */
export function checkOptions<T extends object>(
  opts: unknown,
  name: string,
  allowed: readonly string[],
): Partial<T> {
  if (opts === undefined) return {};
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) {
    throw typeError(`The "${name}" argument must be an object. Received ${describe(opts)}`);
  }
  for (const key of Object.keys(opts)) {
    if (!allowed.includes(key)) {
      throw typeError(
        `The "${name}" argument has an unknown option "${key}" (allowed: ${allowed.join(', ')})`,
        'ERR_INVALID_ARG_VALUE',
      );
    }
  }
  return opts as Partial<T>;
}

export function toBool(value: unknown, name: string): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') {
    throw typeError(`The "${name}" option must be a boolean. Received ${describe(value)}`);
  }
  return value;
}

export function toFd(value: unknown, name = 'fd'): number {
  if (typeof value !== 'number') {
    throw typeError(`The "${name}" argument must be of type number. Received ${describe(value)}`);
  }
  if (!Number.isInteger(value) || value < 0 || value > 0x7fffffff) {
    throw rangeError(`The value of "${name}" is out of range. Received ${value}`);
  }
  return value;
}

export function toChoice<T extends string>(value: unknown, name: string, choices: readonly T[]): T {
  if (typeof value !== 'string' || !(choices as readonly string[]).includes(value)) {
    throw typeError(
      `The "${name}" argument must be one of ${choices.map((c) => `'${c}'`).join(', ')}. Received ${describe(value)}`,
      'ERR_INVALID_ARG_VALUE',
    );
  }
  return value as T;
}

export { typeError, rangeError };
