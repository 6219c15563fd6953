/**
 * Binary content in its own format: a scanned letter, an image or a PDF is posted as raw bytes
 * (`Content-Type: application/pdf`) and read back as raw bytes unless the client asks for FHIR.
 *
 * Neither direction holds the content whole: an upload streams the request body into a vault
 * content file (encrypted in chunks under its own key, ciphertext hashed on the way, the 20 MB
 * limit enforced as the bytes arrive), then commits a Binary version that seals the reference to
 * it; a download checks the file against that reference, then streams it decrypted.
 */
import type { Readable } from 'node:stream';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Binary, Resource } from '@medplum/fhirtypes';
import { badRequest } from '../outcome.js';
import type { Actor, FhirRepository, SavedResult, Stored, WriterScope } from '../repository.js';
import { attachmentTooLarge, MAX_ATTACHMENT_BYTES, type RawContent } from '../attachments.js';
import { ContentTooLarge } from '../../vault/content-store.js';
import type { ContentRef } from '../../vault/content-ref.js';
import { FHIR_BODY_LIMIT } from './limits.js';
import { SECURITY_CONTEXT_HEADER } from '../security-context.js';

const MIME = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/i;
/** What names a FHIR representation in Accept or _format (json, fhir+json, fhir+xml). */
const FHIR_FORMAT = /json|fhir/i;

export interface BinaryRoutesOptions {
  readonly repository: FhirRepository;
  readonly send: (request: FastifyRequest, reply: FastifyReply, saved: SavedResult) => FastifyReply;
  /**
   * Scope checks of an upload (403 on denial); returns the author to record and what the writer
   * may see (a Binary or security context hidden from it is answered like an absent one).
   */
  readonly authorize: (
    request: FastifyRequest,
    resource: Resource,
    interaction: 'create' | 'update',
  ) => { readonly actor: Actor; readonly writer: WriterScope };
}

/**
 * Whether the client wants the raw content rather than the Binary resource. FHIR R4: "unless
 * specifically requested, the FHIR XML/JSON representation is not returned" — so `*∕*`, a media
 * type or no Accept at all get the bytes; a FHIR or JSON type (or `_format`) gets the resource.
 */
export function wantsRawContent(request: FastifyRequest): boolean {
  const format = new URL(request.url, 'http://x').searchParams.get('_format');
  if (format !== null) return !FHIR_FORMAT.test(format);
  return !FHIR_FORMAT.test(request.headers.accept ?? '');
}

/** Sends a Binary's bytes (already checked, see FhirRepository.binaryContent), with its security context. */
export function sendRawContent(reply: FastifyReply, stored: Stored, content: RawContent): FastifyReply {
  const context = (stored.resource as Binary).securityContext?.reference;
  if (context !== undefined) reply.header(SECURITY_CONTEXT_HEADER, context);
  return reply
    .header('ETag', `W/"${stored.version}"`)
    .header('Last-Modified', new Date(stored.lastUpdated).toUTCString())
    .header('Content-Length', String(content.size))
    .type(content.contentType)
    .send(content.body);
}

function contentTypeOf(request: FastifyRequest): string {
  const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (!MIME.test(type)) throw badRequest('send the attachment with its media type as Content-Type');
  return type;
}

/**
 * The Binary a raw upload describes: its media type, and the security context the client names in
 * X-Security-Context (R4: a reference to the resource that governs access, e.g. `Patient/123`).
 */
function rawBinary(request: FastifyRequest, id?: string): Binary {
  const header = request.headers[SECURITY_CONTEXT_HEADER];
  if (Array.isArray(header)) throw badRequest('send one X-Security-Context header');
  const reference = header?.trim();
  if (reference === '') throw badRequest('X-Security-Context is empty');
  return {
    resourceType: 'Binary',
    ...(id !== undefined && { id }),
    contentType: contentTypeOf(request),
    ...(reference !== undefined && { securityContext: { reference } }),
  };
}

const empty = () => badRequest('the attachment is empty');

/** Raw uploads: any non-JSON media type to POST/PUT /Binary becomes a Binary resource. */
export const binaryUploadRoutes: FastifyPluginAsync<BinaryRoutesOptions> = async (app, options) => {
  const { repository } = options;
  const { vault } = repository;
  // Every non-JSON media type, text/plain included, arrives as the unread request stream.
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser('*', (_request, payload, done) => done(null, payload));

  const isStream = (body: unknown): body is Readable =>
    typeof body === 'object' && body !== null && typeof (body as Readable).pipe === 'function';

  /**
   * Streams the body into a content file, then runs `commit` with its reference; the file is
   * deleted again if anything fails before a version holds it.
   */
  async function upload(
    request: FastifyRequest,
    reply: FastifyReply,
    body: Readable,
    commit: (content: ContentRef) => Promise<SavedResult>,
  ): Promise<SavedResult> {
    const declared = Number(request.headers['content-length'] ?? Number.NaN);
    if (declared === 0) throw empty();
    let content: ContentRef;
    try {
      if (declared > MAX_ATTACHMENT_BYTES) throw new ContentTooLarge(MAX_ATTACHMENT_BYTES);
      // Not destroyed when the limit stops the read: the 413 must still reach the client.
      content = await vault.contents.write(body.iterator({ destroyOnReturn: false }), MAX_ATTACHMENT_BYTES);
    } catch (error) {
      if (!(error instanceof ContentTooLarge)) throw error;
      // The rest of the body is read and dropped, and the connection not reused.
      reply.header('Connection', 'close');
      body.resume();
      throw attachmentTooLarge();
    }
    try {
      if (content.size === 0) throw empty();
      return await commit(content);
    } catch (error) {
      vault.discardContent(content.id);
      throw error;
    } finally {
      content.key.fill(0);
    }
  }

  app.post('/Binary', { bodyLimit: FHIR_BODY_LIMIT }, async (request, reply) => {
    const body = request.body;
    if (!isStream(body)) {
      // A Binary posted as FHIR JSON (data inline): stored like any resource.
      if (body === undefined || body === null) throw empty();
      const { actor, writer } = options.authorize(request, body as Resource, 'create');
      return options.send(request, reply, await repository.create(body, actor, { writer }));
    }
    const resource = rawBinary(request);
    const { actor, writer } = options.authorize(request, resource, 'create');
    // A security context that names nothing here (or nothing the writer sees) is refused before the bytes are read.
    repository.checkReferences(resource, undefined, writer.sees);
    const saved = await upload(request, reply, body, (content) => repository.create(resource, actor, { content, writer }));
    return options.send(request, reply, saved);
  });

  app.put<{ Params: { id: string } }>('/Binary/:id', { bodyLimit: FHIR_BODY_LIMIT }, async (request, reply) => {
    const { id } = request.params;
    const body = request.body;
    if (!isStream(body)) {
      if (body === undefined || body === null) throw empty();
      const { actor, writer } = options.authorize(request, body as Resource, 'update');
      return options.send(request, reply, await repository.update('Binary', id, body, actor, { writer }));
    }
    const resource = rawBinary(request, id);
    const { actor, writer } = options.authorize(request, resource, 'update');
    // Like a JSON update: a Binary the writer does not see is answered like an absent one, before the bytes are read.
    repository.checkUpdateTarget('Binary', id, writer);
    repository.checkReferences(resource, undefined, writer.sees);
    const saved = await upload(request, reply, body, (content) =>
      repository.update('Binary', id, resource, actor, { content, writer }),
    );
    return options.send(request, reply, saved);
  });
};
