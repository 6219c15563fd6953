/** The `medledger` command. */
import { UsageError } from './args.js';
import { demoSpec, runDemo } from './commands/demo.js';
import { initSpec, runInit } from './commands/init.js';
import { keysSpec, runKeys } from './commands/keys.js';
import { networkSpec, runNetwork } from './commands/network.js';
import { runStart, startSpec } from './commands/start.js';
import { runToken, tokenSpec } from './commands/token.js';
import { accountSpec, runAccount } from './commands/account.js';
import { runVerify, verifySpec } from './commands/verify.js';
import { patientSpec, runPatient } from './commands/patient.js';
import { governanceSpec, runGovernance } from './commands/governance.js';
import { deviceSpec, runDevice } from './commands/device.js';
import { runVault, vaultSpec } from './commands/vault.js';

const COMMANDS: Record<string, { summary: string; run: (argv: string[]) => number | Promise<number> }> = {
  init: { summary: initSpec.summary, run: runInit },
  start: { summary: startSpec.summary, run: runStart },
  demo: { summary: demoSpec.summary, run: runDemo },
  keys: { summary: keysSpec.summary, run: runKeys },
  verify: { summary: verifySpec.summary, run: runVerify },
  account: { summary: accountSpec.summary, run: runAccount },
  token: { summary: tokenSpec.summary, run: runToken },
  network: { summary: networkSpec.summary, run: runNetwork },
  patient: { summary: patientSpec.summary, run: runPatient },
  governance: { summary: governanceSpec.summary, run: runGovernance },
  device: { summary: deviceSpec.summary, run: runDevice },
  vault: { summary: vaultSpec.summary, run: runVault },
};

function usage(): string {
  const lines = [
    'medledger — a verifiable ledger network for health records',
    '',
    'Usage: medledger <command> [options]',
    '',
    'Commands:',
  ];
  for (const [name, command] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(8)} ${command.summary}`);
  lines.push('', 'Run `medledger <command> --help` for its options.');
  return lines.join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    console.error(`unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  return command.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError) {
      console.error(error.message);
      process.exitCode = 2;
    } else {
      console.error(`medledger: ${error instanceof Error ? error.message : String(error)}`);
      process.exitCode = 1;
    }
  },
);
