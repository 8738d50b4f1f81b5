'use strict';
// Kernel tests run for real; anything that could hang runs in a child process with a hard
// timeout (test/helpers/kernel.ts, childRun). Workers load dist/, which `npm test` builds first.
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  // UFFD_TEST_TIME_SCALE: see test/helpers/time.ts (QEMU guests run slower).
  testTimeout: 60000 * Math.max(1, Number(process.env.UFFD_TEST_TIME_SCALE) || 1),
  maxWorkers: 2,
};
