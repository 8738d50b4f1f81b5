import { UffdError, errnoName, errnoOf } from '../../lib/errors';
import { featureBit, featureMask, featureNames, ioctlNames } from '../../lib/features';
import { checkOptions, toU53 } from '../../lib/validate';

describe('UffdError', () => {
  test('shaped like a Node fs error', () => {
    const e = UffdError.fromErrno(-17, {
      syscall: 'ioctl',
      request: 'UFFDIO_COPY',
      bytesDone: 0,
      field: -17,
    });
    expect(e).toBeInstanceOf(Error);
    expect(e.code).toBe('EEXIST');
    expect(e.errno).toBe(-17);
    expect(e.syscall).toBe('ioctl');
    expect(e.request).toBe('UFFDIO_COPY');
    expect(e.message).toBe('EEXIST: file already exists, ioctl UFFDIO_COPY');
    expect(e.field).toBe(-17);
  });

  test('positive errno is normalised to negative', () => {
    expect(UffdError.fromErrno(11).errno).toBe(-11);
    expect(errnoName(11)).toBe('EAGAIN');
    expect(errnoOf('ENOENT')).toBe(-2);
  });
});

describe('feature and ioctl names', () => {
  test('MOVE is bit 16 and WP_ASYNC bit 15 (spec §1.4)', () => {
    expect(featureBit('move')).toBe(16);
    expect(featureBit('wpAsync')).toBe(15);
    expect(featureNames(0x1ffffn)).toHaveLength(17);
  });

  test('unknown bits are kept as bitN / ioctlN, not dropped', () => {
    expect(featureNames((1n << 17n) | 1n)).toEqual(['pagefaultFlagWp', 'bit17']);
    expect(featureMask(['bit17', 'move'])).toBe((1n << 17n) | (1n << 16n));
    // UFFD_API_IOCTLS on 6.18 (spec §1.2) and a 7.x-only bit.
    expect(ioctlNames(0x8000000000000003n)).toEqual(['register', 'unregister', 'api']);
    expect(ioctlNames(1n << 9n)).toEqual(['ioctl9']);
  });
});

describe('argument validation', () => {
  test('addresses: safe non-negative integers or bigint', () => {
    expect(toU53(4096, 'a')).toBe(4096);
    expect(toU53(4096n, 'a')).toBe(4096);
    expect(() => toU53(-1, 'a')).toThrow(RangeError);
    expect(() => toU53(1.5, 'a')).toThrow(RangeError);
    expect(() => toU53(NaN, 'a')).toThrow(RangeError);
    expect(() => toU53(2 ** 53, 'a')).toThrow(RangeError);
    expect(() => toU53(1n << 63n, 'a')).toThrow(RangeError);
    expect(() => toU53('4096', 'a')).toThrow(TypeError);
    expect(() => toU53(null, 'a')).toThrow(TypeError);
  });

  test('unknown options are a TypeError', () => {
    expect(() => checkOptions({ dontwake: true }, 'options', ['dontWake'])).toThrow(TypeError);
    expect(() => checkOptions(5, 'options', ['dontWake'])).toThrow(TypeError);
    expect(checkOptions(undefined, 'options', ['dontWake'])).toEqual({});
  });
});
