/**
 * Module hooks that make Node resolve the SDK the way a browser bundle must: the two node-only
 * crypto modules are swapped for their browser stand-ins (the aliases a Vite build needs), and any
 * import of a Node built-in, sodium-native or another package from src/ fails. Every src/ module
 * loaded is appended to the file named by MEDLEDGER_BROWSER_LOG. Used by test/client-browser.test.ts.
 */
import { appendFileSync } from 'node:fs';
import { builtinModules, type ResolveHook } from 'node:module';

export const ALIASES: Readonly<Record<string, string>> = {
  '/dist/src/crypto/ed25519.js': '/dist/src/client/browser/ed25519.js',
  '/dist/src/crypto/hash.js': '/dist/src/client/browser/hash.js',
};

const ALLOWED_PACKAGES = /^@noble\/(?:curves|hashes|ciphers)\//;

export const resolve: ResolveHook = async (specifier, context, next) => {
  const parent = context.parentURL ?? '';
  if (parent.includes('/dist/src/')) {
    const bare = !specifier.startsWith('.') && !specifier.startsWith('/') && !specifier.startsWith('file:');
    if (specifier.startsWith('node:') || builtinModules.includes(specifier)) {
      throw new Error(`browser build: ${parent} imports the Node built-in ${specifier}`);
    }
    if (bare && !ALLOWED_PACKAGES.test(specifier)) throw new Error(`browser build: ${parent} imports the package ${specifier}`);
  }
  const resolved = await next(specifier, context);
  let url = resolved.url;
  for (const [from, to] of Object.entries(ALIASES)) if (url.endsWith(from)) url = url.slice(0, -from.length) + to;
  if (url.includes('/dist/src/') && process.env['MEDLEDGER_BROWSER_LOG']) {
    appendFileSync(process.env['MEDLEDGER_BROWSER_LOG'], url.slice(url.indexOf('/dist/src/') + 1) + '\n');
  }
  return { ...resolved, url };
};
