/** The node's FHIR R4 API with the signed-in user's bearer token. */
import type { Session } from '../auth/oauth';
import { requestJson } from './http';

export interface Resource {
  resourceType: string;
  id?: string;
  meta?: { lastUpdated?: string; versionId?: string };
  [key: string]: unknown;
}

export interface Bundle<T extends Resource = Resource> {
  resourceType: 'Bundle';
  total?: number;
  entry?: { resource?: T }[];
}

export class Fhir {
  constructor(private readonly session: Session) {}

  #headers(extra: Record<string, string> = {}): Record<string, string> {
    return { accept: 'application/fhir+json', authorization: `Bearer ${this.session.accessToken}`, ...extra };
  }

  get<T = Resource>(path: string): Promise<T> {
    return requestJson<T>(`/fhir/${path}`, { headers: this.#headers() });
  }

  async search<T extends Resource = Resource>(path: string): Promise<T[]> {
    const bundle = await this.get<Bundle<T>>(path);
    return (bundle.entry ?? []).flatMap((e) => (e.resource ? [e.resource] : []));
  }

  send<T = Resource>(method: 'POST' | 'PUT', path: string, body: unknown, headers: Record<string, string> = {}): Promise<T> {
    return requestJson<T>(`/fhir/${path}`, {
      method,
      headers: this.#headers({ 'content-type': 'application/fhir+json', prefer: 'return=representation', ...headers }),
      body: JSON.stringify(body),
    });
  }

  /**
   * Uploads an attachment as raw bytes; returns the Binary's id. `securityContext` (e.g.
   * `Patient/123`) makes it that patient's record: governed by their consent, erased with them.
   */
  async upload(file: Blob, securityContext: string): Promise<string> {
    const created = await requestJson<Resource>('/fhir/Binary', {
      method: 'POST',
      headers: this.#headers({
        'content-type': file.type || 'application/octet-stream',
        'x-security-context': securityContext,
        prefer: 'return=representation',
      }),
      body: file,
    });
    return created.id!;
  }

  /**
   * A Binary's bytes, for download links. The node answers raw bytes to a non-JSON Accept, so ask
   * for the attachment's own type; a FHIR Binary (JSON with base64 data) is decoded as well.
   */
  async download(id: string, contentType: string): Promise<Blob> {
    const accept = /json/.test(contentType) ? 'application/fhir+json' : contentType;
    const response = await fetch(`/fhir/Binary/${encodeURIComponent(id)}`, {
      headers: { authorization: `Bearer ${this.session.accessToken}`, accept },
    });
    if (!response.ok) throw new Error(`the attachment could not be downloaded (${response.status})`);
    if (/fhir\+json/.test(response.headers.get('content-type') ?? '')) {
      const binary = (await response.json()) as { contentType?: string; data?: string };
      const bytes = Uint8Array.from(atob(binary.data ?? ''), (c) => c.charCodeAt(0));
      return new Blob([bytes], { type: binary.contentType ?? contentType });
    }
    return response.blob();
  }
}
