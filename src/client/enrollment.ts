/**
 * Self-enrollment from a patient's device: the patient, signed in at their organization with a
 * patient account (so the organization already knows who they are), asks the node to register
 * the key made on the device under their pseudonym. The request is signed by that new key — proof
 * that the device holds it — over the chain, the pseudonym, the key and the time, so it cannot be
 * replayed on another chain or for another patient. The node then signs `participant.register`
 * as the organization, the only party the state machine lets enroll a patient.
 */
import { concatBytes, utf8 } from '../crypto/bytes.js';
import { encodeCanonical } from '../ledger/codec.js';
import { base64urlOf } from './encoding.js';
import type { TxSigner } from './signer.js';

const DOMAIN = concatBytes(utf8('medledger/enrollment/v1'), new Uint8Array([0]));

export interface EnrollmentRequest {
  /** base64url Ed25519 public key made on the device. */
  readonly publicKey: string;
  /** Signing time, ms since the epoch. */
  readonly signedAt: number;
  /** base64url signature by that key over `enrollmentMessage`. */
  readonly signature: string;
}

export function enrollmentMessage(chain: string, patient: string, publicKey: Uint8Array, signedAt: number): Uint8Array {
  return concatBytes(DOMAIN, encodeCanonical([chain, patient, publicKey, signedAt]));
}

export function signEnrollment(signer: TxSigner, chain: string, patient: string, now: number = Date.now()): EnrollmentRequest {
  return {
    publicKey: base64urlOf(signer.publicKey),
    signedAt: now,
    signature: base64urlOf(signer.sign(enrollmentMessage(chain, patient, signer.publicKey, now))),
  };
}
