/**
 * How a Binary (a scanned letter, an image, a PDF) belongs to a patient, read from the resources
 * themselves (pure).
 *
 * FHIR R4 gives Binary no patient compartment; its `securityContext` names "another resource that
 * can be used as a proxy of the security sensitivity" instead. MedLedger takes the patient of that
 * resource — the Patient itself, or a resource about the patient such as the DocumentReference —
 * as the Binary's patient, so erasure, consent and record exchange treat it like the rest of the
 * patient's record. A raw upload names it in the `X-Security-Context` header (R4 http.html).
 */

/** A securityContext this server can resolve: a relative `Type/id` (a version suffix is allowed). */
const LOCAL_REFERENCE = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/\d{1,9})?$/;
/** An Attachment.url naming a Binary of this server. */
const BINARY_URL = /^Binary\/([A-Za-z0-9\-.]{1,64})$/;
const MAX_DEPTH = 64;

/** The HTTP header of a raw Binary upload that carries its securityContext reference. */
export const SECURITY_CONTEXT_HEADER = 'x-security-context';

export interface LocalTarget {
  readonly type: string;
  readonly id: string;
}

/**
 * The resource a Binary's securityContext names on this server; undefined when there is none, or
 * when it is absolute, contained or an identifier only (the Binary is then the organization's).
 */
export function securityContextOf(resource: object): LocalTarget | undefined {
  const reference = (resource as { securityContext?: { reference?: unknown } }).securityContext?.reference;
  const match = typeof reference === 'string' ? LOCAL_REFERENCE.exec(reference) : null;
  return match ? { type: match[1]!, id: match[2]! } : undefined;
}

/** The Binaries of this server a resource attaches (`Attachment.url` of `Binary/{id}`), with the path of each. */
export function attachedBinaries(resource: object): { readonly id: string; readonly path: string }[] {
  const out: { id: string; path: string }[] = [];
  const walk = (value: unknown, path: string, depth: number): void => {
    if (typeof value !== 'object' || value === null || depth > MAX_DEPTH) return;
    if (Array.isArray(value)) {
      value.forEach((item: unknown, i) => walk(item, `${path}[${i}]`, depth + 1));
      return;
    }
    for (const [key, child] of Object.entries(value)) {
      const match = key === 'url' && typeof child === 'string' ? BINARY_URL.exec(child) : null;
      if (match) out.push({ id: match[1]!, path: `${path}.url` });
      else walk(child, `${path}.${key}`, depth + 1);
    }
  };
  walk(resource, String((resource as { resourceType?: unknown }).resourceType ?? 'Resource'), 1);
  return out;
}
