// Lazy loader for the precompiled validators that scripts/gen-fhir-validators.mjs writes (ajv standalone
// code, CommonJS so it loads synchronously). Loaded on first use, so importing this module costs nothing.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ErrorObject } from 'ajv';

/** One generated validator: returns true or sets `.errors`. */
export interface CompiledValidator {
  (data: unknown): boolean;
  errors?: ErrorObject[] | null;
}

// dist/src/fhir/validation/generated.js → dist/generated/fhir-validators.cjs
const GENERATED_URL = new URL('../../../generated/fhir-validators.cjs', import.meta.url);

let loaded: Readonly<Record<string, CompiledValidator>> | undefined;

export function generatedValidators(): Readonly<Record<string, CompiledValidator>> {
  if (loaded) return loaded;
  const file = fileURLToPath(GENERATED_URL);
  if (!existsSync(file)) {
    throw new Error(
      `FHIR validators have not been generated (${file} is missing): run \`node scripts/ensure-built.mjs\` ` +
        '(as `npm test` / `npm start` do) or `node scripts/gen-fhir-validators.mjs`',
    );
  }
  loaded = createRequire(import.meta.url)(file) as Record<string, CompiledValidator>;
  return loaded;
}
