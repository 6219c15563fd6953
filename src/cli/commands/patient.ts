/**
 * `medledger patient`: the patient's side on the command line, with the client SDK (src/client)
 * exactly as the web app uses it — the key lives on the patient's machine in the passphrase backup
 * format (the node could store the same file and still not open it), and every transaction is
 * signed here and submitted to a node's ledger API.
 */
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { createPatientKeys } from '../../client/rotation.js';
import { encodeKeyBackup, grantTypes, LedgerClient, NobleSigner, openKeyBackup, parseKeyBackup } from '../../client/index.js';
import { signBackupUpload } from '../../client/backup-upload.js';
import { Identity, randomPseudonym } from '../../client/identity.js';
import { hexOf } from '../../client/encoding.js';
import { CONSENT_PURPOSES, type ConsentPurpose } from '../../ledger/payloads/consent.js';
import { ID_PATTERNS } from '../../ledger/payloads/participant.js';
import type { TxPayload } from '../../ledger/tx.js';
import { helpText, nodeUrlOf, parse, UsageError } from '../args.js';

export const patientSpec = {
  name: 'patient',
  summary: "a patient's key, consents and erasure requests, signed on this machine",
  usage: [
    'medledger patient keygen --patient PAT --key FILE [--kit FILE]',
    '       medledger patient backup  --key FILE [--node URL]',
    '       medledger patient grant   --key FILE --to ORG|PRAC [--types T1,T2] [--purpose TREAT|HRESCH|PUBHLTH] [--until ISO-TIME] [--node URL]',
    '       medledger patient revoke  --key FILE --consent CNS [--node URL]',
    '       medledger patient erase   --key FILE --custodian ORG [--node URL]',
  ].join('\n'),
  options: {
    patient: { type: 'string' },
    key: { type: 'string' },
    kit: { type: 'string' },
    node: { type: 'string' },
    to: { type: 'string' },
    types: { type: 'string' },
    purpose: { type: 'string' },
    until: { type: 'string' },
    consent: { type: 'string' },
    custodian: { type: 'string' },
    'passphrase-file': { type: 'string' },
  },
  help: {
    patient: 'keygen: your pseudonym (pat_…), as your organization enrolled you',
    key: 'your key file (a passphrase-encrypted key backup); keygen writes it',
    kit: 'keygen: where to write the recovery kit (default: print it)',
    node: 'the node (default $MEDLEDGER_NODE or http://127.0.0.1:$PORT|8080)',
    to: 'grant: the organization (org_…) or practitioner (prac_…) you grant access',
    types:
      'grant: resource types covered, comma-separated (default: the whole record; DocumentReference brings Binary, its attachments)',
    purpose: 'grant: TREAT (default), HRESCH (research) or PUBHLTH (public health)',
    until: 'grant: when the consent ends (ISO time; default: until revoked)',
    consent: 'revoke: the consent id (cns_…)',
    custodian: 'erase: the organization that holds the records to erase',
    'passphrase-file': 'file holding your key passphrase (default $MEDLEDGER_PATIENT_PASSPHRASE)',
  },
} as const;

type Values = ReturnType<typeof parse<typeof patientSpec.options>>['values'];

function passphraseOf(values: Values): string {
  const file = values['passphrase-file'];
  const passphrase = file !== undefined ? readFileSync(file, 'utf8').trim() : process.env['MEDLEDGER_PATIENT_PASSPHRASE'];
  if (!passphrase) throw new UsageError('no passphrase: set MEDLEDGER_PATIENT_PASSPHRASE or pass --passphrase-file');
  return passphrase;
}

const newId = (prefix: 'cns' | 'ers'): string => randomPseudonym(prefix, randomBytes(17));

/** Opens the key file and the ledger view of its patient: a signer at the right sequence number. */
async function open(values: Values): Promise<{ client: LedgerClient; identity: Identity; backup: string; signer: NobleSigner }> {
  if (!values.key) throw new UsageError('--key FILE is required');
  const backup = readFileSync(values.key, 'utf8');
  const parsed = parseKeyBackup(backup);
  if (!parsed.ok) throw new UsageError(`${values.key} is not a key file: ${parsed.error.message}`);
  const client = new LedgerClient(nodeUrlOf(values.node));
  const [status, participant] = await Promise.all([client.status(), client.participant(parsed.value.patient)]);
  if (!status.ok) throw new Error(status.error.message);
  if (!participant.ok) throw new Error(`${parsed.value.patient} is not enrolled on this ledger: ${participant.error.message}`);
  const opened = await openKeyBackup(
    parsed.value,
    { passphrase: passphraseOf(values) },
    {
      patient: parsed.value.patient,
      publicKey: participant.value.key,
    },
  );
  if (!opened.ok) throw new UsageError(`cannot open ${values.key}: ${opened.error.message}`);
  const signer = new NobleSigner(opened.value);
  const identity = new Identity(status.value.chain, parsed.value.patient, signer, participant.value.nextSeq);
  return { client, identity, backup, signer };
}

async function submit(client: LedgerClient, identity: Identity, payload: TxPayload): Promise<number> {
  const receipt = await client.submit(identity.sign(payload).wire);
  if (!receipt.ok) throw new Error(receipt.error.message);
  console.error(`committed at height ${receipt.value.height}, log index ${receipt.value.index}`);
  return 0;
}

export async function runPatient(argv: string[]): Promise<number> {
  const { values, positionals } = parse(patientSpec, argv);
  if (values.help || positionals.length === 0) return (void console.log(helpText(patientSpec)), values.help ? 0 : 2);
  const [action] = positionals;
  switch (action) {
    case 'keygen': {
      const patient = values.patient;
      if (!patient || !ID_PATTERNS.patient.test(patient)) throw new UsageError('--patient must be your pseudonym (pat_…)');
      if (!values.key) throw new UsageError('--key FILE is required');
      if (existsSync(values.key)) throw new UsageError(`${values.key} exists; not overwriting a key`);
      const keys = await createPatientKeys(patient, passphraseOf(values));
      if (!keys.ok) throw new UsageError(keys.error.message);
      writeFileSync(values.key, encodeKeyBackup(keys.value.passphraseBackup), { mode: 0o600, flag: 'wx' });
      if (values.kit) writeFileSync(values.kit, keys.value.kit.text, { mode: 0o600, flag: 'wx' });
      else console.error(keys.value.kit.text);
      // The public key goes to the registrar who enrolls you; nothing secret is printed on stdout.
      console.log(hexOf(keys.value.keyPair.publicKey));
      return 0;
    }
    case 'backup': {
      const { identity, backup, signer } = await open(values);
      const upload = signBackupUpload(signer, identity.chain, identity.id, 'passphrase', backup);
      const url = `${nodeUrlOf(values.node).replace(/\/+$/, '')}/api/v1/key-backups/${identity.id}/passphrase`;
      const res = await fetch(url, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(upload),
      });
      if (res.status !== 204) throw new Error(`the node refused the backup: ${res.status} ${await res.text()}`);
      console.error('backup stored at the node');
      return 0;
    }
    case 'grant': {
      const to = values.to;
      if (!to || !/^(?:org|prac)_[a-z0-9][a-z0-9-]{0,39}$/.test(to))
        throw new UsageError('--to must be an organization (org_…) or practitioner (prac_…)');
      const purpose = (values.purpose ?? 'TREAT') as ConsentPurpose;
      if (!CONSENT_PURPOSES.includes(purpose)) throw new UsageError(`--purpose must be one of ${CONSENT_PURPOSES.join(', ')}`);
      const until = values.until === undefined ? undefined : Date.parse(values.until);
      if (until !== undefined && Number.isNaN(until))
        throw new UsageError('--until must be an ISO time, e.g. 2027-01-01T00:00:00Z');
      const types = values.types === undefined ? undefined : grantTypes(values.types.split(',').map((t) => t.trim()));
      const { client, identity } = await open(values);
      const id = newId('cns');
      console.log(id);
      return submit(client, identity, {
        type: 'consent.grant',
        body: { id, patient: identity.id, grantee: to, purpose, ...(types && { types }), ...(until !== undefined && { until }) },
      });
    }
    case 'revoke': {
      if (!values.consent || !/^cns_[a-z2-7]{26}$/.test(values.consent))
        throw new UsageError('--consent must be a consent id (cns_…)');
      const { client, identity } = await open(values);
      return submit(client, identity, { type: 'consent.revoke', body: { id: values.consent } });
    }
    case 'erase': {
      if (!values.custodian || !ID_PATTERNS.organization.test(values.custodian))
        throw new UsageError('--custodian must be an organization (org_…)');
      const { client, identity } = await open(values);
      const id = newId('ers');
      console.log(id);
      return submit(client, identity, {
        type: 'erasure.request',
        body: { id, patient: identity.id, custodian: values.custodian },
      });
    }
    default:
      throw new UsageError(`unknown action "${action}"\n\n${helpText(patientSpec)}`);
  }
}
