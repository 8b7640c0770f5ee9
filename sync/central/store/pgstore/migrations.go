package pgstore

// migrations are applied in order; the version of each is its index + 1.
// Never edit an applied migration: append a new one.
var migrations = []string{
	// 1: initial schema.
	`
CREATE TABLE devices (
	id          text PRIMARY KEY,
	public_key  bytea NOT NULL,
	app_version text NOT NULL DEFAULT '',
	enrolled_at timestamptz NOT NULL,
	revoked_at  timestamptz
);
CREATE TABLE enroll_tokens (
	hash       bytea PRIMARY KEY,
	created_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL,
	used_at    timestamptz,
	device_id  text
);
CREATE TABLE nonces (
	device_id  text NOT NULL,
	nonce      text NOT NULL,
	expires_at timestamptz NOT NULL,
	PRIMARY KEY (device_id, nonce)
);
CREATE INDEX nonces_expires ON nonces (expires_at);
CREATE TABLE submissions (
	device_id     text NOT NULL,
	key           text NOT NULL,
	id            text NOT NULL,
	manifest_hash bytea NOT NULL,
	created_at    timestamptz NOT NULL,
	received_at   timestamptz NOT NULL,
	completed_at  timestamptz,
	verdict       text NOT NULL,
	payload       bytea NOT NULL,
	PRIMARY KEY (device_id, key)
);
CREATE INDEX submissions_received ON submissions (received_at, device_id, key);
CREATE TABLE images (
	device_id   text NOT NULL,
	key         text NOT NULL,
	name        text NOT NULL,
	ord         int NOT NULL,
	size        bigint NOT NULL,
	sha256      bytea NOT NULL,
	content_key bytea NOT NULL,
	received    bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (device_id, key, name),
	FOREIGN KEY (device_id, key) REFERENCES submissions ON DELETE CASCADE
);
CREATE TABLE image_chunks (
	device_id text NOT NULL,
	key       text NOT NULL,
	name      text NOT NULL,
	off       bigint NOT NULL,
	data      bytea NOT NULL,
	PRIMARY KEY (device_id, key, name, off),
	FOREIGN KEY (device_id, key, name) REFERENCES images ON DELETE CASCADE
);
CREATE TABLE risk_config (
	version      bigint PRIMARY KEY,
	doc          bytea NOT NULL,
	published_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE watchlists (
	name         text NOT NULL,
	version      bigint NOT NULL,
	size         bigint NOT NULL,
	sha256       bytea NOT NULL,
	data         bytea NOT NULL,
	published_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (name, version)
);
`,
	// 2: device status reports and attestation freshness.
	`
ALTER TABLE devices ADD COLUMN last_seen timestamptz;
ALTER TABLE devices ADD COLUMN status bytea;
ALTER TABLE submissions ADD COLUMN attestation_fresh boolean NOT NULL DEFAULT false;
`,
	// 3: encryption at rest (wrapped data keys, blind-index tokens), retention
	// and the audit trail.
	`
ALTER TABLE submissions ALTER COLUMN payload DROP NOT NULL;
ALTER TABLE submissions ADD COLUMN decision bytea;
ALTER TABLE submissions ADD COLUMN fields_erased_at timestamptz;
ALTER TABLE submissions ADD COLUMN images_erased_at timestamptz;
ALTER TABLE submissions ADD COLUMN key_id text;
ALTER TABLE submissions ADD COLUMN wrapped_key bytea;
CREATE INDEX submissions_key_id ON submissions (device_id, key, key_id) WHERE key_id IS NOT NULL;
CREATE INDEX submissions_fields_due ON submissions (received_at) WHERE fields_erased_at IS NULL;
CREATE INDEX submissions_images_due ON submissions (received_at) WHERE images_erased_at IS NULL;
CREATE TABLE submission_tokens (
	token     bytea NOT NULL,
	device_id text NOT NULL,
	key       text NOT NULL,
	PRIMARY KEY (token, device_id, key),
	FOREIGN KEY (device_id, key) REFERENCES submissions ON DELETE CASCADE
);
CREATE INDEX submission_tokens_submission ON submission_tokens (device_id, key);
CREATE TABLE audit (
	seq    bigserial PRIMARY KEY,
	id     text NOT NULL,
	at     timestamptz NOT NULL,
	actor  text NOT NULL,
	action text NOT NULL,
	count  bigint NOT NULL,
	refs   text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_at ON audit (at, seq);
CREATE TABLE retention_policy (
	id  int PRIMARY KEY CHECK (id = 1),
	doc jsonb NOT NULL
);
`,
	// 4: watchlists stored in chunks (streamed in and out), durable
	// attestation claims.
	`
CREATE TABLE watchlist_chunks (
	name    text NOT NULL,
	version bigint NOT NULL,
	seq     int NOT NULL,
	data    bytea NOT NULL,
	PRIMARY KEY (name, version, seq)
);
INSERT INTO watchlist_chunks (name, version, seq, data) SELECT name, version, 0, data FROM watchlists;
ALTER TABLE watchlists DROP COLUMN data;
CREATE TABLE attestation_claims (
	hash       bytea PRIMARY KEY,
	device_id  text NOT NULL,
	key        text NOT NULL,
	expires_at timestamptz NOT NULL
);
CREATE INDEX attestation_claims_expires ON attestation_claims (expires_at);
`,
}
