-- certfleet database at schema version 2 (as certfleet with kCurrentSchemaVersion = 2
-- created it), with data rows. Used by tests/storage/migration_test.cc: it must migrate to
-- the current version with all data intact. Never edit: this is history.
CREATE TABLE IF NOT EXISTS meta (
  key TEXT PRIMARY KEY NOT NULL,
  value
);
CREATE TABLE accounts (
  id INTEGER PRIMARY KEY,
  ca_name TEXT NOT NULL,
  directory_url TEXT NOT NULL,
  key_pem TEXT NOT NULL,
  account_url TEXT NOT NULL DEFAULT '',
  contact TEXT NOT NULL DEFAULT '[]',
  status TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  UNIQUE (ca_name, directory_url)
);
CREATE TABLE managed_certificates (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  identifiers TEXT NOT NULL,
  ca_name TEXT NOT NULL,
  key_type TEXT NOT NULL,
  challenge_preference TEXT NOT NULL DEFAULT '[]',
  renew_before_seconds INTEGER NOT NULL DEFAULT 0,
  state TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE issuances (
  id TEXT PRIMARY KEY NOT NULL,
  managed_certificate_id INTEGER NOT NULL REFERENCES managed_certificates (id),
  reason TEXT NOT NULL CHECK (reason IN ('issue', 'renew')),
  state TEXT NOT NULL
      CHECK (state IN ('pending', 'running', 'valid', 'failed', 'cancelled')),
  step TEXT NOT NULL DEFAULT '',
  progress_json TEXT NOT NULL DEFAULT '',
  cert_key_pem TEXT NOT NULL DEFAULT '',
  error_code INTEGER NOT NULL DEFAULT 0,
  error_message TEXT NOT NULL DEFAULT '',
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  finished_at INTEGER
);
CREATE INDEX issuances_by_certificate ON issuances (managed_certificate_id, created_at);
CREATE INDEX issuances_by_state ON issuances (state);
CREATE TABLE certificate_versions (
  id INTEGER PRIMARY KEY,
  managed_certificate_id INTEGER NOT NULL REFERENCES managed_certificates (id),
  issuance_id TEXT REFERENCES issuances (id),
  serial_hex TEXT NOT NULL,
  not_before INTEGER NOT NULL,
  not_after INTEGER NOT NULL,
  chain_pem TEXT NOT NULL,
  key_pem TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
);
CREATE INDEX certificate_versions_by_certificate
    ON certificate_versions (managed_certificate_id, id);
ALTER TABLE certificate_versions ADD COLUMN issuer TEXT NOT NULL DEFAULT '';
ALTER TABLE certificate_versions ADD COLUMN revocation_reason INTEGER;

INSERT INTO meta (key, value) VALUES ('version', 2), ('compatible_version', 1);

INSERT INTO accounts (id, ca_name, directory_url, key_pem, account_url, contact, status,
                      created_at, updated_at)
VALUES (7, 'letsencrypt', 'https://acme-v02.api.letsencrypt.org/directory',
        '-----BEGIN PRIVATE KEY-----
FIXTUREACCOUNTKEY7
-----END PRIVATE KEY-----
',
        'https://acme-v02.api.letsencrypt.org/acme/acct/7', '[]', 'valid',
        1710000000, 1710000000);

INSERT INTO managed_certificates (id, name, identifiers, ca_name, key_type,
                                  challenge_preference, renew_before_seconds, state,
                                  created_at, updated_at)
VALUES (3, 'shop.example.net', '[{"type":"dns","value":"shop.example.net"}]',
        'letsencrypt', 'ecdsa-p256', '["tls-alpn-01"]', 2592000, 'active',
        1710000000, 1710000000);

-- Version 2 did not enforce one active issuance per certificate: two are pending here;
-- the v3 migration keeps the oldest and cancels the other.
INSERT INTO issuances (id, managed_certificate_id, reason, state, step, progress_json,
                       cert_key_pem, error_code, error_message, attempts, next_attempt_at,
                       created_at, updated_at, finished_at)
VALUES ('iss_00000000000000b1', 3, 'issue', 'valid', 'downloaded', '{}', 'CERTKEY-B1', 0, '',
        1, NULL, 1710000000, 1710000060, 1710000060),
       ('iss_00000000000000b2', 3, 'renew', 'pending', '', '', '', 0, '', 0, 1710000900,
        1710000500, 1710000500, NULL),
       ('iss_00000000000000b3', 3, 'renew', 'pending', '', '', '', 0, '', 0, NULL,
        1710000600, 1710000600, NULL);

INSERT INTO certificate_versions (id, managed_certificate_id, issuance_id, serial_hex,
                                  not_before, not_after, chain_pem, key_pem, created_at,
                                  revoked_at, issuer, revocation_reason)
VALUES (4, 3, 'iss_00000000000000b1', 'ff00ee', 1710000000, 1717776000, 'CHAIN-PEM-4',
        'KEY-PEM-4', 1710000060, 1711000000, 'CN=(STAGING) Ersatz Edamame E1', 4);
