/** Room for a 20 MB attachment in base64 inside a resource (and for the raw bytes before they are checked). */
export const FHIR_BODY_LIMIT = 32 * 1024 * 1024;
