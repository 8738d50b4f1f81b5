'use strict';
// Kernel tests run for real; anything that could hang runs in a child process with a hard
// timeout (test/helpers/kernel.ts, childRun). Workers load dist/, which `npm test` builds first.
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  testTimeout: 60000,
  maxWorkers: 2,
};
