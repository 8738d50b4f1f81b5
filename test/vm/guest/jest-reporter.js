'use strict';
// A jest reporter for the guests: appends one JSON line per suite as it starts and as it ends to
// $UFFD_JEST_NDJSON, so that when a suite hangs (a JS thread blocked in a userfault cannot be
// timed out by jest) and the runner kills jest at its deadline, the results of every suite that
// finished survive and the ones that never finished are named.
const fs = require('node:fs');
const path = require('node:path');

class NdjsonReporter {
  constructor(globalConfig) {
    this.file = process.env.UFFD_JEST_NDJSON || '/tmp/jest-results.ndjson';
    this.rootDir = globalConfig.rootDir;
  }

  write(obj) {
    fs.appendFileSync(this.file, `${JSON.stringify(obj)}\n`);
  }

  onTestFileStart(test) {
    this.write({ event: 'start', suite: path.relative(this.rootDir, test.path), t: Date.now() });
  }

  // Progress within a suite, so the runner can tell a slow suite from a hung one.
  onTestCaseResult(test, testCaseResult) {
    this.write({
      event: 'case',
      suite: path.relative(this.rootDir, test.path),
      title: testCaseResult.fullName,
      status: testCaseResult.status,
      t: Date.now(),
    });
  }

  onTestResult(test, result) {
    this.write({
      event: 'result',
      suite: path.relative(this.rootDir, test.path),
      t: Date.now(),
      pass: result.numPassingTests,
      fail: result.numFailingTests + (result.testExecError ? 1 : 0),
      skipped: result.numPendingTests + result.numTodoTests,
      failed: result.testResults.filter((a) => a.status === 'failed').map((a) => a.fullName),
      error: result.testExecError ? String(result.testExecError.message).slice(0, 500) : undefined,
    });
  }
}

module.exports = NdjsonReporter;
