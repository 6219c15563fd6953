/** SMART App Launch 2 discovery: the `.well-known/smart-configuration` document. */
import { OIDC_SCOPES } from './provider.js';
import { ACCESS_TOKEN_TTL_SECONDS, audienceOf, issuerOf } from './tokens.js';

/** The SMART App Launch 2 configuration document of a node reached at `origin`. */
export function smartConfiguration(origin: string): Record<string, unknown> {
  const issuer = issuerOf(origin);
  const contexts = ['patient', 'user', 'system'];
  return {
    issuer,
    jwks_uri: `${issuer}/jwks`,
    authorization_endpoint: `${issuer}/auth`,
    token_endpoint: `${issuer}/token`,
    introspection_endpoint: `${issuer}/token/introspection`,
    revocation_endpoint: `${issuer}/token/revocation`,
    grant_types_supported: ['authorization_code', 'client_credentials', 'refresh_token'],
    response_types_supported: ['code'],
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: ['none', 'private_key_jwt'],
    token_endpoint_auth_signing_alg_values_supported: ['RS384', 'ES384', 'RS256', 'ES256'],
    scopes_supported: [
      ...OIDC_SCOPES,
      ...contexts.flatMap((c) => [`${c}/*.cruds`, `${c}/*.rs`, `${c}/*.r`, `${c}/*.read`, `${c}/*.write`]),
    ],
    capabilities: [
      'launch-standalone',
      'client-public',
      'client-confidential-asymmetric',
      'permission-v1',
      'permission-v2',
      'permission-patient',
      'permission-user',
      'permission-offline',
      'context-standalone-patient',
      'sso-openid-connect',
    ],
    fhir_base: audienceOf(origin),
    access_token_lifetime_seconds: ACCESS_TOKEN_TTL_SECONDS,
  };
}
