// Vite build of the web app into dist/web, served by the node at `/` (src/server/web-app.ts).
import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  root: here('.'),
  plugins: [react()],
  resolve: {
    // The SDK (src/client) reuses the ledger's encoders, which import the node's libsodium and
    // node:crypto modules; the browser gets their noble stand-ins (see README "Browser builds").
    alias: [
      { find: /^.*\/crypto\/ed25519\.js$/, replacement: here('../src/client/browser/ed25519.ts') },
      { find: /^.*\/crypto\/hash\.js$/, replacement: here('../src/client/browser/hash.ts') },
    ],
  },
  build: {
    outDir: here('../dist/web'),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    reportCompressedSize: true,
  },
  server: {
    // `npx vite web` during development: the node's APIs from a running `npm start`.
    port: 5173,
    proxy: Object.fromEntries(
      ['/fhir', '/api', '/oauth', '/.well-known'].map((p) => [p, { target: 'http://127.0.0.1:8080', changeOrigin: false }]),
    ),
  },
});
