/** FHIR R4 search: parameter table, index extraction, query parsing, index schema and SQL. */
export * from './definitions.js';
export * from './extract.js';
export * from './query.js';
export * from './schema.js';
export * from './sql.js';
export * from './values.js';
