/**
 * The resource types a consent grant names. Consent is checked by type, and a document's
 * attachments are Binary resources of their own (their security context makes them the patient's):
 * sharing documents without them would share letters whose scans stay hidden. So a grant naming
 * DocumentReference names Binary too. Sorted and without repeats, as the ledger stores them.
 */
export function grantTypes(types: readonly string[]): string[] {
  return [...new Set([...types, ...(types.includes('DocumentReference') ? ['Binary'] : [])])].sort();
}
