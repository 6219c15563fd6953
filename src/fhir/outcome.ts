/**
 * FHIR errors: every failure of the FHIR API leaves as an OperationOutcome with the HTTP status
 * that FHIR prescribes for it. Diagnostics never echo resource content.
 */
import type { OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';

export type IssueCode = OperationOutcomeIssue['code'];

export class FhirError extends Error {
  readonly status: number;
  readonly issues: readonly OperationOutcomeIssue[];

  constructor(status: number, issues: readonly OperationOutcomeIssue[]) {
    super(issues.map((i) => i.diagnostics ?? i.code).join('; '));
    this.name = 'FhirError';
    this.status = status;
    this.issues = issues;
  }

  static of(status: number, code: IssueCode, diagnostics: string, expression?: string): FhirError {
    return new FhirError(status, [
      { severity: 'error', code, diagnostics, ...(expression !== undefined && { expression: [expression] }) },
    ]);
  }
}

export const badRequest = (diagnostics: string, expression?: string): FhirError =>
  FhirError.of(400, 'invalid', diagnostics, expression);
export const notFound = (diagnostics: string): FhirError => FhirError.of(404, 'not-found', diagnostics);
export const gone = (diagnostics: string): FhirError => FhirError.of(410, 'deleted', diagnostics);
export const conflict = (diagnostics: string): FhirError => FhirError.of(409, 'conflict', diagnostics);
export const preconditionFailed = (diagnostics: string): FhirError => FhirError.of(412, 'conflict', diagnostics);
export const unprocessable = (diagnostics: string, expression?: string): FhirError =>
  FhirError.of(422, 'processing', diagnostics, expression);
export const notSupported = (diagnostics: string): FhirError => FhirError.of(400, 'not-supported', diagnostics);

export function outcome(issues: readonly OperationOutcomeIssue[]): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: [...issues] };
}

export function informational(diagnostics: string): OperationOutcome {
  return outcome([{ severity: 'information', code: 'informational', diagnostics }]);
}
