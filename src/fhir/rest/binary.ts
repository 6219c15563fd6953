/**
 * Binary content in its own format: a scanned letter, an image or a PDF is posted as raw bytes
 * (`Content-Type: application/pdf`) and read back as raw bytes when the client does not ask for
 * FHIR JSON. It is stored as a Binary resource like any other version: encrypted, committed.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Binary } from '@medplum/fhirtypes';
import { badRequest, FhirError } from '../outcome.js';
import type { Actor, FhirRepository, SavedResult } from '../repository.js';
import type { Resource } from '@medplum/fhirtypes';
import { FHIR_BODY_LIMIT } from './limits.js';

/** Largest attachment accepted as raw bytes. */
export const MAX_BINARY_BYTES = 20 * 1024 * 1024;
const MIME = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/i;

export interface BinaryRoutesOptions {
  readonly repository: FhirRepository;
  readonly send: (request: FastifyRequest, reply: FastifyReply, saved: SavedResult) => FastifyReply;
  /** Scope checks of an upload (403 on denial); returns the author to record. */
  readonly authorize: (request: FastifyRequest, resource: Resource, interaction: 'create' | 'update') => Actor;
}

/** Whether the client wants the raw content rather than the Binary resource. */
export function wantsRawContent(request: FastifyRequest): boolean {
  const accept = request.headers.accept ?? '';
  const format = new URL(request.url, 'http://x').searchParams.get('_format');
  if (format !== null) return !/json/.test(format);
  return accept !== '' && !/\*\/\*|json/.test(accept);
}

function contentTypeOf(request: FastifyRequest): string {
  const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (!MIME.test(type)) throw badRequest('send the attachment with its media type as Content-Type');
  return type;
}

/** Raw uploads: any non-JSON media type to POST/PUT /Binary becomes a Binary resource. */
export const binaryUploadRoutes: FastifyPluginAsync<BinaryRoutesOptions> = async (app, options) => {
  const { repository } = options;
  // Every non-JSON media type arrives as bytes, text/plain included.
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  /** Raw bytes become a Binary; a JSON body is already a resource (parsed by the FHIR parsers). */
  const resourceOf = (request: FastifyRequest, id?: string): unknown => {
    const body = request.body;
    if (body === undefined || body === null) throw badRequest('the attachment is empty');
    if (!Buffer.isBuffer(body)) return body;
    const contentType = contentTypeOf(request);
    if (body.length === 0) throw badRequest('the attachment is empty');
    if (body.length > MAX_BINARY_BYTES)
      throw FhirError.of(413, 'too-costly', `attachments are limited to ${MAX_BINARY_BYTES} bytes`);
    return {
      resourceType: 'Binary',
      ...(id !== undefined && { id }),
      contentType,
      data: body.toString('base64'),
    } satisfies Binary;
  };
  app.post('/Binary', { bodyLimit: FHIR_BODY_LIMIT }, async (request, reply) => {
    const resource = resourceOf(request);
    const actor = options.authorize(request, resource as Resource, 'create');
    return options.send(request, reply, await repository.create(resource, actor));
  });
  app.put<{ Params: { id: string } }>('/Binary/:id', { bodyLimit: FHIR_BODY_LIMIT }, async (request, reply) => {
    const resource = resourceOf(request, request.params.id);
    const actor = options.authorize(request, resource as Resource, 'update');
    return options.send(request, reply, await repository.update('Binary', request.params.id, resource, actor));
  });
};
