/** Argument parsing shared by the CLI commands: node's parseArgs plus help text. */
import { parseArgs, type ParseArgsConfig } from 'node:util';

export class UsageError extends Error {}

export interface CommandSpec<O extends NonNullable<ParseArgsConfig['options']>> {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  readonly options: O;
  readonly help: Readonly<Record<keyof O & string, string>>;
}

export function parse<O extends NonNullable<ParseArgsConfig['options']>>(spec: CommandSpec<O>, argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      options: { ...spec.options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n\n${helpText(spec)}`);
  }
}

export function helpText<O extends NonNullable<ParseArgsConfig['options']>>(spec: CommandSpec<O>): string {
  const lines = [`medledger ${spec.name} — ${spec.summary}`, '', `Usage: ${spec.usage}`, '', 'Options:'];
  for (const [name, option] of Object.entries(spec.options)) {
    const flag = `--${name}${option.type === 'string' ? ' <value>' : ''}`;
    lines.push(`  ${flag.padEnd(26)} ${spec.help[name as keyof O & string]}`);
  }
  lines.push(`  ${'-h, --help'.padEnd(26)} show this help`);
  return lines.join('\n');
}

/** Help of `--passphrase-file` for commands that open an existing node's keystore (see data-dir.ts). */
export const PASSPHRASE_FILE_HELP =
  'file holding the keystore passphrase (default $MEDLEDGER_KEY_PASSPHRASE, else DATA/keystore.passphrase)';

/** Shared defaults: data directory and port from flags, then the environment, then built-ins. */
export function dataDirOf(value: string | undefined): string {
  return value ?? process.env['MEDLEDGER_DATA'] ?? './data';
}

export function nodeUrlOf(value: string | undefined): string {
  return value ?? process.env['MEDLEDGER_NODE'] ?? `http://127.0.0.1:${process.env['PORT'] ?? 8080}`;
}
