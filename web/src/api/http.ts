/**
 * fetch for the node's APIs with one error type: every failure (network, HTTP status, FHIR
 * OperationOutcome, ledger `{code, message}`) becomes an ApiFailure with a message a person can
 * read, so screens show what went wrong instead of going blank.
 */
export class ApiFailure extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code?: string,
  ) {
    super(message);
  }
}

interface OutcomeLike {
  resourceType?: string;
  issue?: { diagnostics?: string; details?: { text?: string } }[];
  code?: string;
  message?: string;
}

function messageOf(status: number, body: unknown): { message: string; code?: string } {
  const b = body as OutcomeLike | null;
  if (b?.resourceType === 'OperationOutcome') {
    const issue = b.issue?.[0];
    return { message: issue?.diagnostics ?? issue?.details?.text ?? `the server answered ${status}` };
  }
  if (typeof b?.message === 'string') return { message: b.message, ...(typeof b.code === 'string' && { code: b.code }) };
  return { message: `the server answered ${status}` };
}

export async function requestJson<T>(url: string, init: RequestInit = {}): Promise<T> {
  let response: Response;
  try {
    response = await fetch(url, init);
  } catch {
    throw new ApiFailure('The node could not be reached. Check your connection and try again.', 0);
  }
  const text = await response.text();
  let body: unknown;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (!response.ok) {
    const { message, code } = messageOf(response.status, body);
    const prefix = response.status === 401 ? 'Your session has ended; please sign in again. ' : '';
    throw new ApiFailure(prefix + message, response.status, code);
  }
  return body as T;
}

export const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error));
