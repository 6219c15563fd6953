/**
 * Governance views: the validator set (current and former) and the proposals with their
 * approvals. Read-only; proposals and approvals are validator-signed transactions submitted to
 * POST /txs (see `medledger governance`).
 */
import type { FastifyPluginAsync } from 'fastify';
import { toHex } from '../../crypto/bytes.js';
import { PROPOSAL_ID, validatorIdOf } from '../../ledger/payloads/governance.js';
import type { Chain } from '../../node/chain.js';
import { reachesThreshold, type Proposal, type ValidatorRecord } from '../../state/governance.js';
import { ApiError, errorSchema } from '../errors.js';

const anyObject = { type: 'object', additionalProperties: true } as const;

function validatorView(chain: Chain, v: ValidatorRecord): Record<string, unknown> {
  const id = validatorIdOf(v.key);
  return {
    id,
    name: v.name,
    key: toHex(v.key),
    since: v.since,
    ...(v.removedAt !== undefined && { removedAt: v.removedAt }),
    nextSeq: chain.app.nextSeq(id),
  };
}

/** A proposal as stored, with what the current validator set makes of it. */
export function proposalView(chain: Chain, p: Proposal): Record<string, unknown> {
  const current = new Set(chain.app.validators().map((v) => validatorIdOf(v.key)));
  const counted = p.approvals.filter((id) => current.has(id)).length;
  let needed = 0;
  while (!reachesThreshold(needed, current.size)) needed += 1;
  const status = p.status === 'pending' && chain.head().height > p.until ? 'expired' : p.status;
  const { action, ...rest } = p;
  return {
    ...rest,
    action,
    ...('key' in p && { key: toHex(p.key) }),
    status,
    approvals: [...p.approvals],
    counted,
    needed,
  };
}

export function governanceRoutes(chain: Chain): FastifyPluginAsync {
  return async (app) => {
    app.get(
      '/governance',
      {
        schema: {
          summary: 'Validators (current and former) and governance proposals, oldest first',
          response: { 200: anyObject },
        },
      },
      async () => {
        const history = chain.app.validatorHistory();
        return {
          height: chain.head().height,
          rule: 'a proposal executes once more than 2/3 of the current validators (by count) approved it',
          validators: history.filter((v) => v.removedAt === undefined).map((v) => validatorView(chain, v)),
          formerValidators: history.filter((v) => v.removedAt !== undefined).map((v) => validatorView(chain, v)),
          proposals: chain.app.proposals().map((p) => proposalView(chain, p)),
        };
      },
    );

    app.get<{ Params: { id: string } }>(
      '/governance/proposals/:id',
      {
        schema: {
          summary: 'One governance proposal',
          params: { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: PROPOSAL_ID.source } } },
          response: { 200: anyObject, 400: errorSchema, 404: errorSchema },
        },
      },
      async (request) => {
        const proposal = chain.app.proposal(request.params.id);
        if (!proposal) throw new ApiError('not_found', `no proposal ${request.params.id}`);
        return proposalView(chain, proposal);
      },
    );
  };
}
