/**
 * The subjects of a transaction: every participant, consent, emergency opening and erasure
 * request it concerns (the signer always). Nodes index committed transactions by subject so a
 * patient can list who accessed their record, or a privacy officer what one practitioner did,
 * without scanning the log. Derived data: any node can rebuild it from the log.
 */
import type { Tx } from './tx.js';

export function subjectsOf(tx: Tx): string[] {
  const out = new Set<string>([tx.signer]);
  switch (tx.type) {
    case 'participant.register':
      out.add(tx.body.id);
      if (tx.body.kind === 'practitioner') out.add(tx.body.org);
      if (tx.body.kind === 'device') out.add(tx.body.patient);
      break;
    case 'participant.rotate_key':
    case 'participant.set_status':
    case 'participant.set_roles':
      out.add(tx.body.id);
      break;
    case 'record.commit':
      out.add(tx.body.author).add(tx.body.custodian);
      for (const e of tx.body.entries) if (e.patient !== undefined) out.add(e.patient);
      break;
    case 'consent.grant':
      out.add(tx.body.id).add(tx.body.patient).add(tx.body.grantee);
      break;
    case 'consent.revoke':
      out.add(tx.body.id);
      break;
    case 'access.break_glass':
      out.add(tx.body.id).add(tx.body.patient).add(tx.body.practitioner);
      break;
    case 'access.review':
      out.add(tx.body.opening);
      break;
    case 'access.log':
      for (const e of tx.body.events) {
        out.add(e.actor).add(e.patient);
        if ('grant' in e) out.add(e.grant);
      }
      break;
    case 'erasure.request':
      out.add(tx.body.id).add(tx.body.patient).add(tx.body.custodian);
      break;
    case 'erasure.tombstone':
      out.add(tx.body.request);
      break;
    case 'governance.propose':
      out.add(tx.body.id);
      if (tx.body.action === 'admit-organization' || tx.body.action === 'remove-organization') out.add(tx.body.org);
      break;
    case 'governance.approve':
      out.add(tx.body.proposal);
      break;
  }
  return [...out].sort();
}
