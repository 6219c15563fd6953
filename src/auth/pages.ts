/**
 * Server-rendered login and consent pages: plain accessible HTML (a language, a title, labels
 * bound to their inputs, a visible focus, one main landmark), no scripts and no external assets.
 * Every value is escaped.
 */

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const STYLE = `
body{font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#111;background:#fff}
h1{font-size:1.5rem}label{display:block;margin-top:1rem;font-weight:600}
input[type=text],input[type=password]{width:100%;padding:.5rem;font-size:1rem;border:1px solid #555;border-radius:4px;box-sizing:border-box}
button{margin-top:1.25rem;margin-right:.5rem;padding:.5rem 1rem;font-size:1rem;border-radius:4px;border:1px solid #124;background:#124;color:#fff}
button.secondary{background:#fff;color:#124}
:focus-visible{outline:3px solid #e60;outline-offset:2px}
.error{color:#a00;font-weight:600}ul.scopes{padding-left:1.25rem}code{font-size:.9em}`;

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} — MedLedger</title>
<style>${STYLE}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>`;
}

export function loginPage(options: { action: string; client: string; error?: string; username?: string }): string {
  const error = options.error ? `<p class="error" role="alert" id="login-error">${escapeHtml(options.error)}</p>` : '';
  const described = options.error ? ' aria-describedby="login-error"' : '';
  return page(
    'Sign in',
    `<h1>Sign in</h1>
<p><strong>${escapeHtml(options.client)}</strong> asks you to sign in to MedLedger. Clinicians and patients use their MedLedger account.</p>
${error}
<form method="post" action="${escapeHtml(options.action)}" autocomplete="on">
<label for="username">Username</label>
<input type="text" id="username" name="username" autocomplete="username" autocapitalize="none" spellcheck="false" required${described} value="${escapeHtml(options.username ?? '')}">
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required${described}>
<button type="submit">Sign in</button>
</form>`,
  );
}

export interface ConsentScope {
  readonly scope: string;
  readonly meaning: string;
}

export function consentPage(options: {
  action: string;
  abort: string;
  client: string;
  user: string;
  scopes: readonly ConsentScope[];
  refused: readonly string[];
}): string {
  const items = options.scopes.map((s) => `<li>${escapeHtml(s.meaning)} <code>${escapeHtml(s.scope)}</code></li>`).join('\n');
  const refused =
    options.refused.length > 0
      ? `<p>Not available to this app or account, and not granted: ${options.refused.map((s) => `<code>${escapeHtml(s)}</code>`).join(', ')}</p>`
      : '';
  return page(
    'Allow access',
    `<h1>Allow access?</h1>
<p>Signed in as <strong>${escapeHtml(options.user)}</strong>.</p>
<p><strong>${escapeHtml(options.client)}</strong> asks for:</p>
<ul class="scopes">
${items || '<li>no data, only your sign-in</li>'}
</ul>
${refused}
<form method="post" action="${escapeHtml(options.action)}">
<button type="submit">Allow</button>
</form>
<form method="post" action="${escapeHtml(options.abort)}">
<button type="submit" class="secondary">Deny</button>
</form>`,
  );
}

export function errorPage(title: string, message: string): string {
  return page(title, `<h1>${escapeHtml(title)}</h1>\n<p>${escapeHtml(message)}</p>`);
}

/** A plain-language description of a scope for the consent page. */
export function describeScope(scope: string): string {
  const fixed: Record<string, string> = {
    openid: 'Know who you are',
    fhirUser: 'Know your FHIR identity (Patient or Practitioner)',
    profile: 'Your name',
    'launch/patient': 'Know which patient record is in use',
    offline_access: 'Stay connected after you close the app',
    online_access: 'Stay connected while you are signed in',
  };
  if (fixed[scope]) return fixed[scope];
  const match = /^(patient|user|system)\/([^.]+)\.(.+)$/.exec(scope);
  if (!match) return scope;
  const [, context, type, perms] = match;
  const words: Record<string, string> = { c: 'create', r: 'read', u: 'update', d: 'delete', s: 'search' };
  const v1: Record<string, string> = { read: 'rs', write: 'cud', '*': 'cruds' };
  const letters = v1[perms!] ?? perms!;
  const actions = [...letters].map((l) => words[l] ?? l).join(', ');
  const what = type === '*' ? 'all record types' : `${type} records`;
  const whose = context === 'patient' ? 'of your own record' : context === 'user' ? 'you have access to' : 'as a system';
  return `${actions[0]!.toUpperCase()}${actions.slice(1)} ${what} ${whose}`;
}
