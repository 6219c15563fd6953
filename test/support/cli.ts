/** The `medledger` command run as a child process, as an operator would run it. */
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file runs from dist/test/support). */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const BIN = join(ROOT, 'bin', 'medledger.js');

export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Settings a developer's shell may hold that would point a test's command somewhere else. */
const INHERITED = [
  'MEDLEDGER_DATA',
  'MEDLEDGER_NODE',
  'MEDLEDGER_TOKEN',
  'MEDLEDGER_KEY_PASSPHRASE',
  'MEDLEDGER_PATIENT_PASSPHRASE',
  'PORT',
  'HOST',
];

/** This process's environment without MedLedger settings, plus `extra` (undefined: left unset). */
export function cliEnv(extra: Readonly<Record<string, string | undefined>> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of INHERITED) delete env[name];
  for (const [name, value] of Object.entries(extra)) if (value !== undefined) env[name] = value;
  return env;
}

/** Runs `medledger ARGS` to completion (a minute at most); never throws on a non-zero exit. */
export function runCli(
  args: readonly string[],
  options: { readonly env?: Readonly<Record<string, string | undefined>>; readonly cwd?: string } = {},
): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: options.cwd ?? ROOT, env: cliEnv(options.env), timeout: 60_000, killSignal: 'SIGKILL' },
      (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr });
      },
    );
  });
}

/** A run's exit code and output, for assertion messages. */
export const showRun = (r: CliRun): string => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
