/**
 * The ledger API: read the chain, prove inclusion and consistency, submit signed transactions.
 * Headers, transaction hashes, checkpoints and proofs are public; transaction bodies need a bearer
 * token (see ../ledger-readers.ts for who sees what).
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { fromBase64, fromHex, toBase64, toHex } from '../../crypto/bytes.js';
import { decodeHeader } from '../../ledger/block.js';
import { leafHash } from '../../ledger/merkle.js';
import { decodeTx, type Tx } from '../../ledger/tx.js';
import type { LedgerNode } from '../../node/ledger-node.js';
import type { Authenticate } from '../bearer.js';
import { ApiError, errorSchema } from '../errors.js';
import {
  BEARER,
  ledgerReader,
  publicParticipantView,
  requireStaff,
  requireSubject,
  txViewFor,
  type LedgerReader,
} from '../ledger-readers.js';
import { checkpointView, genesisView, headerView, hexList, jsonOf } from '../views.js';
import { UNREVIEWED_PREFIX } from '../../state/access.js';
import { encodeGenesis } from '../../ledger/genesis.js';
import type { StoredBlock } from '../../storage/ports.js';
import { eventRoutes } from './events.js';
import { governanceRoutes } from './governance.js';

const HEX32 = '^[0-9a-f]{64}$';
const MAX_PAGE = 100;

const hash = { type: 'string', pattern: HEX32 } as const;
const checkpoint = {
  type: 'object',
  properties: {
    chain: { type: 'string' },
    size: { type: 'integer' },
    root: hash,
    time: { type: 'integer' },
    signer: { type: 'string' },
    signature: { type: 'string' },
  },
} as const;
const errors = {
  400: errorSchema,
  401: errorSchema,
  403: errorSchema,
  404: errorSchema,
  409: errorSchema,
  413: errorSchema,
  422: errorSchema,
  503: errorSchema,
};
const anyObject = { type: 'object', additionalProperties: true } as const;
const txsParam = {
  type: 'string',
  enum: ['hashes', 'full'],
  description: '`hashes`: transaction and log-leaf hashes (public); `full`: the transaction bytes (staff token)',
} as const;

/** OpenAPI: anonymous with `txs=hashes`, a bearer token with `txs=full`. */
const TOKEN_FOR_FULL = [{}, ...BEARER];

export interface LedgerRoutesOptions {
  /** Verifies bearer tokens; without it no one reads transaction bodies. */
  readonly authenticate?: Authenticate;
}

export function ledgerRoutes(node: LedgerNode, options: LedgerRoutesOptions = {}): FastifyPluginAsync {
  const { chain } = node;
  const readerOf = (request: FastifyRequest) => ledgerReader(options.authenticate, request);

  const decodeStored = (wire: Uint8Array): Tx => {
    const decoded = decodeTx(wire, chain.chainId, { skipSignature: true });
    if (!decoded.ok) throw new ApiError('internal', 'stored transaction is unreadable');
    return decoded.value.tx;
  };

  /** Without `full`, the leaf hashes let anyone recompute the transaction root and the log. */
  const blockView = (block: StoredBlock, withTxs: boolean) => {
    const header = decodeHeader(block.header);
    if (!header.ok) throw new ApiError('internal', `stored block ${block.height} is unreadable`);
    const txs = chain.store.blockTxs(block);
    return {
      height: block.height,
      hash: toHex(block.hash),
      header: headerView(header.value),
      headerBytes: toBase64(block.header),
      signature: toBase64(block.signature),
      checkpointSignature: toBase64(block.checkpointSignature),
      firstIndex: block.firstIndex,
      ...(withTxs
        ? { txs: txs.map((tx) => toBase64(tx.wire)) }
        : { txs: hexList(txs.map((tx) => tx.hash)), leaves: hexList(txs.map((tx) => leafHash(tx.wire))) }),
    };
  };

  /** `{tx}` (and `redacted: true` when parts were left out), or 403 for a transaction not about the reader. */
  const viewFor = (reader: LedgerReader, tx: Tx) => {
    const view = txViewFor(chain.app, reader, tx);
    if (!view) throw new ApiError('auth.forbidden', 'a patient sees only the transactions about them');
    return { tx: view.tx, ...(view.redacted && { redacted: true as const }) };
  };

  const latestCheckpoint = () => {
    const c = chain.checkpoint();
    if (!c) throw new ApiError('not_found', 'the ledger has no blocks yet');
    return c;
  };

  return async (app) => {
    await app.register(eventRoutes(chain, { ...(options.authenticate && { authenticate: options.authenticate }) }));
    await app.register(governanceRoutes(chain));
    app.get('/status', { schema: { summary: 'Chain status', response: { 200: anyObject } } }, async () => {
      const head = chain.head();
      return {
        chain: chain.chainId,
        height: head.height,
        blockHash: toHex(head.hash),
        time: head.time,
        logSize: head.logSize,
        logRoot: toHex(head.logRoot),
        stateRoot: toHex(head.stateRoot),
        genesisHash: toHex(chain.genesisHash),
        validators: chain.app.validators().map((v) => ({ name: v.name, key: toHex(v.key) })),
        consensus: chain.genesis.consensus ?? 'solo',
        backlog: node.sequencer.backlog,
        // The organization that runs this node: the custodian of what it holds (patients grant it access, ask it to erase).
        organization: node.org.id,
      };
    });

    app.get('/genesis', { schema: { summary: 'The genesis document', response: { 200: anyObject } } }, async () => ({
      hash: toHex(chain.genesisHash),
      bytes: toBase64(encodeGenesis(chain.genesis)),
      genesis: genesisView(chain.genesis),
    }));

    app.get<{ Params: { height: number }; Querystring: { txs?: 'hashes' | 'full' } }>(
      '/blocks/:height',
      {
        schema: {
          summary: 'A block by height (`txs=full` needs a staff bearer token)',
          params: { type: 'object', required: ['height'], properties: { height: { type: 'integer', minimum: 1 } } },
          querystring: { type: 'object', properties: { txs: txsParam }, additionalProperties: false },
          security: TOKEN_FOR_FULL,
          response: { 200: anyObject, ...errors },
        },
      },
      async (request) => {
        const full = request.query.txs === 'full';
        if (full) requireStaff(await readerOf(request), 'a block with its transactions');
        const block = chain.store.block(request.params.height);
        if (!block) throw new ApiError('not_found', `no block at height ${request.params.height}`);
        return blockView(block, full);
      },
    );

    app.get<{ Querystring: { from: number; limit?: number; txs?: 'hashes' | 'full' } }>(
      '/blocks',
      {
        schema: {
          summary:
            'Consecutive blocks with their transactions (for replay and audit; the default `txs=full` needs a staff bearer token)',
          querystring: {
            type: 'object',
            required: ['from'],
            properties: {
              from: { type: 'integer', minimum: 1 },
              limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE },
              txs: txsParam,
            },
            additionalProperties: false,
          },
          security: TOKEN_FOR_FULL,
          response: { 200: anyObject, ...errors },
        },
      },
      async (request) => {
        const { from, limit = 20 } = request.query;
        const full = request.query.txs !== 'hashes';
        if (full) requireStaff(await readerOf(request), 'blocks with their transactions');
        const blocks = [];
        for (let h = from; h < from + limit; h++) {
          const block = chain.store.block(h);
          if (!block) break;
          blocks.push(blockView(block, full));
        }
        return { blocks, height: chain.head().height };
      },
    );

    app.get<{ Params: { subject: string }; Querystring: { before?: number; limit?: number } }>(
      '/subjects/:subject/txs',
      {
        schema: {
          summary:
            'Transactions concerning a participant, consent, break-glass opening or erasure request, newest first (e.g. who accessed a patient pseudonym). Bearer token: staff, or the patient the subject is (or belongs to)',
          params: {
            type: 'object',
            required: ['subject'],
            properties: { subject: { type: 'string', pattern: '^(?:org|prac|pat|dev|cns|bg|ers)_[a-z0-9-]{1,40}$' } },
          },
          querystring: {
            type: 'object',
            properties: {
              before: { type: 'integer', minimum: 1, description: 'only transactions with a smaller log index (paging)' },
              limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE },
            },
            additionalProperties: false,
          },
          security: BEARER,
          response: { 200: anyObject, ...errors },
        },
      },
      async (request) => {
        const reader = await readerOf(request);
        requireSubject(chain.app, reader, request.params.subject);
        const limit = request.query.limit ?? 20;
        const found = chain.store.txsBySubject(request.params.subject, {
          limit,
          ...(request.query.before !== undefined && { before: request.query.before }),
        });
        const txs = found.map((stored) => ({
          hash: toHex(stored.hash),
          height: stored.height,
          index: stored.index,
          ...viewFor(reader, decodeStored(stored.wire)),
        }));
        const last = found.at(-1);
        return { subject: request.params.subject, txs, ...(found.length === limit && last && { next: { before: last.index } }) };
      },
    );

    app.get<{ Params: { org: string }; Querystring: { after?: string; limit?: number } }>(
      '/organizations/:org/break-glass/unreviewed',
      {
        schema: {
          summary:
            "Emergency accesses of the organization's practitioners awaiting its privacy officer's review (bearer token of this organization's staff)",
          params: {
            type: 'object',
            required: ['org'],
            properties: { org: { type: 'string', pattern: '^org_[a-z0-9][a-z0-9-]{0,39}$' } },
          },
          querystring: {
            type: 'object',
            properties: {
              after: { type: 'string', pattern: '^bg_[a-z2-7]{26}$', description: 'paging: openings after this id' },
              limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE },
            },
            additionalProperties: false,
          },
          security: BEARER,
          response: { 200: anyObject, ...errors },
        },
      },
      async (request) => {
        requireStaff(await readerOf(request), 'the break-glass review list');
        if (request.params.org !== node.org.id)
          throw new ApiError('auth.forbidden', `this node serves the review list of ${node.org.id} only`);
        const prefix = `${UNREVIEWED_PREFIX}${request.params.org}/`;
        const limit = request.query.limit ?? 20;
        const keys = chain.store.stateKeys(prefix, {
          limit,
          ...(request.query.after !== undefined && { after: prefix + request.query.after }),
        });
        const openings = keys.map((key) => jsonOf(chain.app.breakGlass(key.slice(prefix.length))));
        const last = keys.at(-1);
        return { openings, ...(keys.length === limit && last && { next: { after: last.slice(prefix.length) } }) };
      },
    );

    app.get<{ Params: { hash: string } }>(
      '/txs/:hash',
      {
        schema: {
          summary:
            'A committed transaction with its inclusion proof against the latest checkpoint. Bearer token: staff, or a patient it concerns (their part only; `wire` only when nothing was left out)',
          params: { type: 'object', required: ['hash'], properties: { hash } },
          security: BEARER,
          response: { 200: anyObject, ...errors },
        },
      },
      async (request) => {
        const reader = await readerOf(request);
        const stored = chain.store.txByHash(fromHex(request.params.hash)!);
        if (!stored) throw new ApiError('not_found', `no transaction ${request.params.hash}`);
        const view = viewFor(reader, decodeStored(stored.wire));
        const cp = latestCheckpoint();
        return {
          hash: toHex(stored.hash),
          height: stored.height,
          index: stored.index,
          ...(!view.redacted && { wire: toBase64(stored.wire) }),
          ...view,
          proof: { size: cp.checkpoint.size, path: hexList(chain.inclusionProof(stored.index, cp.checkpoint.size)) },
          checkpoint: checkpointView(cp),
        };
      },
    );

    app.get<{ Querystring: { index: number; size: number } }>(
      '/proofs/inclusion',
      {
        schema: {
          summary: 'Inclusion proof of log entry `index` in the log of size `size`',
          querystring: {
            type: 'object',
            required: ['index', 'size'],
            properties: { index: { type: 'integer', minimum: 0 }, size: { type: 'integer', minimum: 1 } },
            additionalProperties: false,
          },
          response: { 200: anyObject, ...errors },
        },
      },
      async (request) => {
        const { index, size } = request.query;
        if (size > chain.head().logSize) throw new ApiError('not_found', `the log has only ${chain.head().logSize} entries`);
        if (index >= size) throw new ApiError('request.invalid', 'index must be smaller than size');
        return { index, size, path: hexList(chain.inclusionProof(index, size)) };
      },
    );

    app.get<{ Querystring: { from: number; to: number } }>(
      '/proofs/consistency',
      {
        schema: {
          summary: 'Consistency proof that the log of size `to` extends the log of size `from`',
          querystring: {
            type: 'object',
            required: ['from', 'to'],
            properties: { from: { type: 'integer', minimum: 0 }, to: { type: 'integer', minimum: 0 } },
            additionalProperties: false,
          },
          response: { 200: anyObject, ...errors },
        },
      },
      async (request) => {
        const { from, to } = request.query;
        if (to > chain.head().logSize) throw new ApiError('not_found', `the log has only ${chain.head().logSize} entries`);
        if (from > to) throw new ApiError('request.invalid', '`from` must not exceed `to`');
        return { from, to, path: hexList(chain.consistencyProof(from, to)) };
      },
    );

    app.get(
      '/checkpoints/latest',
      { schema: { summary: 'The latest signed checkpoint', response: { 200: checkpoint, ...errors } } },
      async () => checkpointView(latestCheckpoint()),
    );

    app.get<{ Params: { height: number } }>(
      '/checkpoints/:height',
      {
        schema: {
          summary: 'The checkpoint signed with block `height`',
          params: { type: 'object', required: ['height'], properties: { height: { type: 'integer', minimum: 1 } } },
          response: { 200: checkpoint, ...errors },
        },
      },
      async (request) => {
        const c = chain.checkpoint(request.params.height);
        if (!c) throw new ApiError('not_found', `no block at height ${request.params.height}`);
        return checkpointView(c);
      },
    );

    app.get<{ Params: { id: string } }>(
      '/participants/:id',
      {
        schema: {
          summary: 'A participant: kind, status, current key and next sequence number',
          params: {
            type: 'object',
            required: ['id'],
            properties: { id: { type: 'string', pattern: '^(org|prac|pat|dev)_[a-z0-9-]{1,40}$' } },
          },
          response: { 200: anyObject, ...errors },
        },
      },
      async (request) => {
        const participant = chain.app.participant(request.params.id);
        if (!participant) throw new ApiError('not_found', `no participant ${request.params.id}`);
        return publicParticipantView(participant);
      },
    );

    app.post<{ Body: Buffer | { tx: string } }>(
      '/txs',
      {
        schema: {
          summary: 'Submit a signed transaction; answers once it is committed (with its proof) or rejected',
          description: 'Body: the transaction wire bytes as application/octet-stream, or JSON {"tx": "<base64>"}.',
          body: {
            type: 'object',
            required: ['tx'],
            properties: { tx: { type: 'string', maxLength: 120_000 } },
            additionalProperties: false,
          },
          response: { 200: anyObject, ...errors },
        },
        // Octet-stream bodies bypass the JSON schema; they are validated by the decoder.
        validatorCompiler: ({ schema }) => {
          return (data: unknown) => {
            if (Buffer.isBuffer(data)) return { value: data };
            const body = data as { tx?: unknown } | null;
            if (body && typeof body === 'object' && typeof body.tx === 'string' && Object.keys(body).length === 1) {
              return { value: body };
            }
            void schema;
            return { error: new Error('body must be {"tx": "<base64>"} or application/octet-stream') };
          };
        },
      },
      async (request, reply) => {
        const body = request.body;
        const wire = Buffer.isBuffer(body) ? new Uint8Array(body) : fromBase64(body.tx);
        if (!wire) throw new ApiError('request.malformed', '`tx` is not valid base64');
        const outcome = await node.submit(wire);
        if (!outcome.ok) throw new ApiError(outcome.error.code, outcome.error.message);
        const r = outcome.receipt;
        return reply.status(200).send({
          hash: toHex(r.hash),
          height: r.height,
          index: r.index,
          blockHash: toHex(r.blockHash),
          proof: { size: r.checkpoint.checkpoint.size, path: hexList(r.proof) },
          checkpoint: checkpointView(r.checkpoint),
        });
      },
    );
  };
}
