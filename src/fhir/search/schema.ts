/**
 * SQLite DDL of the search index and the `current` table it joins against.
 *
 * Contract with the vault: `current` holds one row per resource (its current version); `res` is
 * the integer row id every index row refers to. Deleting a resource sets `deleted = 1` (and
 * removes its index rows via `IndexWriter.remove`); index rows of a resource are replaced in the
 * same SQLite transaction as the resource itself. The whole database file is encrypted, so index
 * values are stored in plaintext.
 *
 * Every index table has a value-first index (type, param, value…, res) for the filter that drives
 * a search, and a (res, param, …) index for correlated EXISTS probes, :missing, sorting and
 * deletion.
 */

export const SEARCH_SCHEMA_VERSION = 1;

export const CURRENT_DDL = `
CREATE TABLE IF NOT EXISTS current (
  res INTEGER PRIMARY KEY,
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  last_updated INTEGER NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS current_type_id ON current (type, id);
CREATE INDEX IF NOT EXISTS current_type_updated ON current (type, last_updated);
-- (type, res): a type's rows in res order, so a broad search stops at the end of its page.
CREATE INDEX IF NOT EXISTS current_type_res ON current (type);
`;

export const INDEX_DDL = `
CREATE TABLE IF NOT EXISTS idx_string (
  res INTEGER NOT NULL, type TEXT NOT NULL, param TEXT NOT NULL, norm TEXT NOT NULL, exact TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_string_value ON idx_string (type, param, norm, res);
CREATE INDEX IF NOT EXISTS idx_string_res ON idx_string (res, param, norm);

CREATE TABLE IF NOT EXISTS idx_token (
  res INTEGER NOT NULL, type TEXT NOT NULL, param TEXT NOT NULL, system TEXT, code TEXT, text TEXT
);
CREATE INDEX IF NOT EXISTS idx_token_value ON idx_token (type, param, code, system, res);
CREATE INDEX IF NOT EXISTS idx_token_res ON idx_token (res, param, code, system);

CREATE TABLE IF NOT EXISTS idx_reference (
  res INTEGER NOT NULL, type TEXT NOT NULL, param TEXT NOT NULL, target_type TEXT, target_id TEXT, url TEXT
);
CREATE INDEX IF NOT EXISTS idx_reference_value ON idx_reference (type, param, target_id, target_type, res);
CREATE INDEX IF NOT EXISTS idx_reference_url ON idx_reference (type, param, url, res) WHERE url IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_reference_res ON idx_reference (res, param, target_id, target_type);

CREATE TABLE IF NOT EXISTS idx_date (
  res INTEGER NOT NULL, type TEXT NOT NULL, param TEXT NOT NULL, low INTEGER NOT NULL, high INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_date_value ON idx_date (type, param, low, high, res);
CREATE INDEX IF NOT EXISTS idx_date_res ON idx_date (res, param, low, high);

CREATE TABLE IF NOT EXISTS idx_quantity (
  res INTEGER NOT NULL, type TEXT NOT NULL, param TEXT NOT NULL, value REAL NOT NULL, system TEXT, code TEXT, unit TEXT
);
CREATE INDEX IF NOT EXISTS idx_quantity_value ON idx_quantity (type, param, code, value, res);
CREATE INDEX IF NOT EXISTS idx_quantity_res ON idx_quantity (res, param);

CREATE TABLE IF NOT EXISTS idx_uri (
  res INTEGER NOT NULL, type TEXT NOT NULL, param TEXT NOT NULL, uri TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_uri_value ON idx_uri (type, param, uri, res);
CREATE INDEX IF NOT EXISTS idx_uri_res ON idx_uri (res, param);
`;

/** Everything the search engine needs: run once per database (idempotent). */
export const SEARCH_DDL = CURRENT_DDL + INDEX_DDL;

/** The index tables, by entry kind. */
export const INDEX_TABLES = {
  string: 'idx_string',
  token: 'idx_token',
  reference: 'idx_reference',
  date: 'idx_date',
  quantity: 'idx_quantity',
  uri: 'idx_uri',
} as const;
