/**
 * Demo login accounts and the web app's OAuth client, created by `start --demo` after the demo
 * data: two clinicians registered on the ledger as practitioners of the node's organization
 * (their keys in the node keystore), two patients (the first demo patients, by their ledger
 * pseudonyms), and the public client `medledger-web`. The passwords are fixed and documented
 * (README) because this is demo data; they are printed on start in demo mode only. Idempotent.
 */
import { generateKeyPair } from '../crypto/ed25519.js';
import type { FhirRepository } from '../fhir/repository.js';
import type { LedgerNode } from '../node/ledger-node.js';
import type { AuthService } from '../auth/service.js';
import type { PractitionerRole } from '../ledger/payloads/participant.js';
import { DEMO_WEB_PATIENTS } from './consents.js';

export const WEB_CLIENT_ID = 'medledger-web';

export const DEMO_PRACTITIONERS: readonly {
  id: string;
  username: string;
  password: string;
  display: string;
  roles: PractitionerRole[];
}[] = [
  {
    id: 'prac_demo-clinician',
    username: 'clinician',
    password: 'clinician-demo-pw',
    display: 'Dr Demo Clinician',
    roles: ['clinician'],
  },
  {
    id: 'prac_demo-registrar',
    username: 'registrar',
    password: 'registrar-demo-pw',
    display: 'Demo Registrar',
    roles: ['nurse', 'registrar'],
  },
  {
    id: 'prac_demo-analyst',
    username: 'analyst',
    password: 'analyst-demo-pw',
    display: 'Demo Analyst',
    roles: ['analyst'],
  },
];

export const DEMO_PATIENT_PASSWORDS = ['patient1-demo-pw', 'patient2-demo-pw'] as const;

export interface DemoAccount {
  readonly username: string;
  readonly password: string;
  readonly id: string;
  readonly what: string;
}

/**
 * The public client of the web app (authorization code + PKCE, no secret). The app's sign-in
 * returns to `{origin}/app/callback`: the defaults (port 8080, and the Vite dev server on 5173)
 * plus the origins the node is actually reached at (its --port or --public-url).
 */
export function webClientMetadata(origins: readonly string[] = []): { client_id: string } & Record<string, unknown> {
  const defaults = [
    'http://127.0.0.1:5173/callback',
    'http://localhost:5173/callback',
    'http://127.0.0.1:5173/app/callback',
    'http://localhost:5173/app/callback',
    'http://127.0.0.1:8080/app/callback',
    'http://localhost:8080/app/callback',
  ];
  return {
    client_id: WEB_CLIENT_ID,
    client_name: 'MedLedger web app',
    application_type: 'web',
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: [...new Set([...defaults, ...origins.map((o) => `${o.replace(/\/+$/, '')}/app/callback`)])],
    scope: 'openid fhirUser profile launch/patient offline_access online_access patient/*.cruds user/*.cruds',
  };
}

export async function ensureDemoAccounts(
  node: LedgerNode,
  repository: FhirRepository,
  auth: AuthService,
  options: { readonly origins?: readonly string[] } = {},
): Promise<DemoAccount[]> {
  const out: DemoAccount[] = [];
  const org = node.org.id;
  // Registered again on every start, so the redirect URIs follow the node's current address.
  auth.store.putClient(webClientMetadata(options.origins));
  // Each demo clinician is one of the demo data's Practitioner resources (their fhirUser).
  const practitionerResources = repository.vault.db
    .prepare("SELECT id FROM current WHERE type = 'Practitioner' AND deleted = 0 AND version > 0 ORDER BY res LIMIT ?")
    .pluck()
    .all(DEMO_PRACTITIONERS.length) as string[];
  for (const [i, p] of DEMO_PRACTITIONERS.entries()) {
    const fhirUser = practitionerResources[i];
    if (!node.chain.app.participant(p.id)) {
      const keys = generateKeyPair();
      // The key is saved before the registration is submitted, as `keys rotate` does.
      node.keystore.put(p.id, keys.secretKey);
      const outcome = await node.submitOwn({
        type: 'participant.register',
        body: { kind: 'practitioner', id: p.id, key: keys.publicKey, org, roles: p.roles },
      });
      if (!outcome.ok) throw new Error(`registering ${p.id}: ${outcome.error.message}`);
    }
    if (!auth.store.account(p.id))
      await auth.store.addAccount({
        id: p.id,
        kind: 'practitioner',
        ...(fhirUser !== undefined && { fhirUser: `Practitioner/${fhirUser}` }),
        username: p.username,
        password: p.password,
        display: p.display,
      });
    out.push({ username: p.username, password: p.password, id: p.id, what: `${p.roles.join(', ')} (${p.display})` });
  }
  const patients = repository.vault.db
    .prepare("SELECT id FROM current WHERE type = 'Patient' AND deleted = 0 AND version > 0 ORDER BY res LIMIT ?")
    .pluck()
    .all(DEMO_WEB_PATIENTS) as string[];
  for (const [i, patient] of patients.entries()) {
    const username = `patient${i + 1}`;
    const pseudonym = repository.vault.patientPseudonym(patient, { create: true })!;
    const existing = auth.store.account(pseudonym) ?? auth.store.accountByUsername(username);
    if (!existing)
      await auth.store.addAccount({
        id: pseudonym,
        kind: 'patient',
        username,
        password: DEMO_PATIENT_PASSWORDS[i]!,
        patient,
        display: `Demo patient ${i + 1}`,
      });
    out.push({ username, password: DEMO_PATIENT_PASSWORDS[i]!, id: pseudonym, what: `patient (Patient/${patient})` });
  }
  return out;
}

/** The lines `start --demo` prints. */
export function describeDemoAccounts(accounts: readonly DemoAccount[], url: string): string {
  const lines = [
    `demo accounts (demo passwords — never use these outside a demo; web client id ${WEB_CLIENT_ID}):`,
    ...accounts.map((a) => `  ${a.username.padEnd(10)} ${a.password.padEnd(18)} ${a.what}`),
    `web app:             ${url}/`,
    `SMART configuration: ${url}/.well-known/smart-configuration`,
    `token for scripts:   npx medledger token --user clinician --scope "user/*.cruds"`,
  ];
  return lines.join('\n');
}
