#!/usr/bin/env node
/**
 * The `userfaultfd` command (package.json "bin"): `npx userfaultfd doctor [--json]`.
 * Exit status: 0 when userfaultfd works here, 1 when it does not, 2 on a usage error.
 */
import { doctor, formatReport } from './doctor';

const USAGE = `usage: userfaultfd doctor [--json]

  doctor     report whether userfaultfd works in this process and how to fix it:
             kernel, page size, open paths, sysctl, capabilities, seccomp,
             /dev/userfaultfd, features. Read-only.
  --json     machine-readable report on stdout
  --help     this text
  --version  the package version`;

function main(argv: string[]): number {
  const args = argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (args.includes('--version')) {
    process.stdout.write(`${doctorVersion()}\n`);
    return 0;
  }
  const [cmd, ...rest] = args;
  if (cmd !== 'doctor' || rest.some((a) => a !== '--json')) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const report = doctor();
  process.stdout.write(
    rest.includes('--json') ? `${JSON.stringify(report, null, 2)}\n` : `${formatReport(report)}\n`,
  );
  return report.ok ? 0 : 1;
}

function doctorVersion(): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('../package.json') as { version: string }).version;
}

process.exitCode = main(process.argv);
