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
	// 5: the review console: device branches, the submission summary and
	// review the queue filters by, the audit trail as a hash chain (the
	// legacy rows are renumbered in time order here and chained by
	// chainLegacyAudit in the same transaction), console accounts and
	// sessions.
	`
ALTER TABLE devices ADD COLUMN branch text NOT NULL DEFAULT '';
ALTER TABLE enroll_tokens ADD COLUMN branch text NOT NULL DEFAULT '';
ALTER TABLE submissions ADD COLUMN summary bytea;
ALTER TABLE submissions ADD COLUMN engine_decision text;
ALTER TABLE submissions ADD COLUMN doc_type text;
ALTER TABLE submissions ADD COLUMN country text;
ALTER TABLE submissions ADD COLUMN reasons text[];
ALTER TABLE submissions ADD COLUMN review_state text NOT NULL DEFAULT 'open';
ALTER TABLE submissions ADD COLUMN assignee text NOT NULL DEFAULT '';
ALTER TABLE submissions ADD COLUMN review bytea;
ALTER TABLE submissions ADD COLUMN review_seq bigint;
CREATE INDEX submissions_queue ON submissions (received_at, device_id, key) WHERE completed_at IS NOT NULL;
CREATE INDEX submissions_queue_state ON submissions (review_state, engine_decision, received_at)
	INCLUDE (device_id, country, doc_type, assignee, reasons) WHERE completed_at IS NOT NULL;
CREATE INDEX submissions_queue_assignee ON submissions (assignee, received_at) WHERE completed_at IS NOT NULL;
CREATE INDEX submissions_queue_reasons ON submissions USING gin (reasons) WHERE completed_at IS NOT NULL;
CREATE UNIQUE INDEX submissions_review_seq ON submissions (review_seq) WHERE review_seq IS NOT NULL;
CREATE INDEX submissions_device_review_seq ON submissions (device_id, review_seq) WHERE review_seq IS NOT NULL;
CREATE TABLE review_counter (
	id  int PRIMARY KEY CHECK (id = 1),
	seq bigint NOT NULL
);
INSERT INTO review_counter (id, seq) VALUES (1, 0);
ALTER TABLE audit ADD COLUMN subject text NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN state_before bytea;
ALTER TABLE audit ADD COLUMN state_after bytea;
ALTER TABLE audit ADD COLUMN prev bytea;
ALTER TABLE audit ADD COLUMN hash bytea;
UPDATE audit SET seq = -n.rn FROM (SELECT seq, row_number() OVER (ORDER BY at, seq) AS rn FROM audit) n WHERE audit.seq = n.seq;
UPDATE audit SET seq = -seq;
CREATE INDEX audit_actor ON audit (actor, seq);
CREATE INDEX audit_subject ON audit (subject text_pattern_ops, seq);
CREATE TABLE audit_head (
	id          int PRIMARY KEY CHECK (id = 1),
	seq         bigint NOT NULL,
	hash        bytea,
	anchor_seq  bigint NOT NULL,
	anchor_hash bytea
);
INSERT INTO audit_head (id, seq, anchor_seq) VALUES (1, 0, 0);
CREATE TABLE console_users (
	name text PRIMARY KEY,
	doc  bytea NOT NULL
);
CREATE TABLE console_sessions (
	hash       bytea PRIMARY KEY,
	user_name  text NOT NULL,
	expires_at timestamptz NOT NULL,
	doc        bytea NOT NULL
);
CREATE INDEX console_sessions_user ON console_sessions (user_name, expires_at);
`,
	// 6: the partner API: the log of completed submissions (those complete
	// already numbered in received order), partners, their tokens, flows and
	// idempotency keys, webhook events with their delivery attempts, and
	// the followers' cursors.
	`
ALTER TABLE submissions ADD COLUMN completed_seq bigint;
UPDATE submissions SET completed_seq = n.rn
	FROM (SELECT device_id, key, row_number() OVER (ORDER BY received_at, device_id, key) AS rn FROM submissions WHERE completed_at IS NOT NULL) n
	WHERE submissions.device_id = n.device_id AND submissions.key = n.key;
CREATE UNIQUE INDEX submissions_completed_seq ON submissions (completed_seq) WHERE completed_seq IS NOT NULL;
CREATE INDEX submissions_completed_unlogged ON submissions (received_at) WHERE completed_at IS NOT NULL AND completed_seq IS NULL;
CREATE TABLE completed_counter (
	id  int PRIMARY KEY CHECK (id = 1),
	seq bigint NOT NULL
);
INSERT INTO completed_counter (id, seq) SELECT 1, coalesce(max(completed_seq), 0) FROM submissions;
CREATE TABLE partners (
	id        text PRIMARY KEY,
	client_id text NOT NULL UNIQUE,
	doc       bytea NOT NULL
);
CREATE TABLE partner_tokens (
	hash       bytea PRIMARY KEY,
	partner_id text NOT NULL,
	created_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL
);
CREATE INDEX partner_tokens_partner ON partner_tokens (partner_id, created_at);
CREATE TABLE flows (
	partner_id  text NOT NULL,
	id          text NOT NULL,
	launch_hash bytea,
	status      text NOT NULL,
	expires_at  timestamptz NOT NULL,
	doc         bytea NOT NULL,
	PRIMARY KEY (partner_id, id)
);
CREATE UNIQUE INDEX flows_launch ON flows (launch_hash) WHERE launch_hash IS NOT NULL;
CREATE INDEX flows_open_expiry ON flows (expires_at) WHERE status NOT IN ('COMPLETED', 'ERROR', 'EXPIRED');
CREATE TABLE idempotency_keys (
	partner_id   text NOT NULL,
	key          text NOT NULL,
	request_hash bytea NOT NULL,
	status       int,
	body         bytea,
	created_at   timestamptz NOT NULL,
	PRIMARY KEY (partner_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
CREATE TABLE webhook_events (
	seq          bigint PRIMARY KEY,
	id           text NOT NULL UNIQUE,
	partner_id   text NOT NULL,
	session_id   text NOT NULL,
	type         text NOT NULL,
	payload      bytea NOT NULL,
	created_at   timestamptz NOT NULL,
	attempts     int NOT NULL DEFAULT 0,
	next_at      timestamptz,
	delivered_at timestamptz,
	dead_at      timestamptz
);
CREATE INDEX webhook_events_partner ON webhook_events (partner_id, seq);
CREATE INDEX webhook_events_due ON webhook_events (next_at, seq) WHERE delivered_at IS NULL AND dead_at IS NULL;
CREATE INDEX webhook_events_session_pending ON webhook_events (partner_id, session_id, seq) WHERE delivered_at IS NULL AND dead_at IS NULL;
CREATE TABLE webhook_counter (
	id  int PRIMARY KEY CHECK (id = 1),
	seq bigint NOT NULL
);
INSERT INTO webhook_counter (id, seq) VALUES (1, 0);
CREATE TABLE webhook_attempts (
	event_seq  bigint NOT NULL REFERENCES webhook_events ON DELETE CASCADE,
	n          int NOT NULL,
	at         timestamptz NOT NULL,
	status     int NOT NULL,
	latency_ms double precision NOT NULL,
	excerpt    text NOT NULL DEFAULT '',
	PRIMARY KEY (event_seq, n)
);
CREATE TABLE cursors (
	name text PRIMARY KEY,
	seq  bigint NOT NULL
);
`,
	// 7: issue 22, instances sharing the store: a lease on the webhook event
	// an instance is sending (the job queue's lanes), and the failure
	// budgets per client address and the rate limits per partner.
	`
ALTER TABLE webhook_events ADD COLUMN lease_until timestamptz;
CREATE TABLE rate_limits (
	key text PRIMARY KEY,
	tat timestamptz NOT NULL
);
CREATE INDEX rate_limits_tat ON rate_limits (tat);
`,
	// 8: issue 19/22, the hosted flow's live state (captures, Smart QR
	// short codes) shared by instances (central.HostedStates).
	`
CREATE TABLE hosted_state (
	key        text PRIMARY KEY,
	value      bytea NOT NULL,
	expires_at timestamptz NOT NULL
);
CREATE INDEX hosted_state_expires ON hosted_state (expires_at);
`,
	// 9: issue 22, erasure requests carried out by the job queue
	// (central.Erasures): whose submissions as blind-index tokens, or one
	// submission, kept until the erasure ends; and the indexes the
	// retention of webhook events and partner sessions reads.
	`
CREATE TABLE erasures (
	id             text PRIMARY KEY,
	actor          text NOT NULL,
	requested_at   timestamptz NOT NULL,
	status         text NOT NULL,
	erased         int NOT NULL DEFAULT 0,
	attempts       int NOT NULL DEFAULT 0,
	finished_at    timestamptz,
	error          text NOT NULL DEFAULT '',
	tokens         bytea[],
	device_id      text,
	submission_key text
);
CREATE INDEX erasures_requested ON erasures (requested_at);
CREATE INDEX erasures_finished ON erasures (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX erasures_unfinished ON erasures (requested_at) WHERE finished_at IS NULL;
-- The retention of webhook events and partner sessions (the sweep).
CREATE INDEX webhook_events_done ON webhook_events (created_at) WHERE delivered_at IS NOT NULL OR dead_at IS NOT NULL;
CREATE INDEX flows_expires ON flows (expires_at);
`,
	// 10: the open uploads of a device, which central bounds
	// (central.Store.OpenUploads, at every new manifest).
	`
CREATE INDEX submissions_open_uploads ON submissions (device_id) WHERE completed_at IS NULL;
`,
	// 11: a disabled partner's webhook events are held: DueEvents passes
	// over them, reading this copy of the doc's "disabled".
	`
ALTER TABLE partners ADD COLUMN disabled boolean NOT NULL DEFAULT false;
UPDATE partners SET disabled = coalesce((convert_from(doc, 'UTF8')::jsonb ->> 'disabled')::boolean, false);
`,
	// 12: the time a partner was disabled does not count towards its
	// events' MaxAge: each event keeps its partner's held time (the doc's
	// "held_for", nanoseconds) as of its first attempt.
	`
ALTER TABLE webhook_events ADD COLUMN held_before bigint NOT NULL DEFAULT 0;
`,
	// 13: what a year of traffic showed (storetest.BenchmarkScale). The
	// audit view filtered by action read the chain from its start to find
	// a rare action. DueEvents walks each enabled partner's pending events
	// by partner, so a disabled partner's held backlog is not read at
	// every poll; the index by next attempt alone has no other reader.
	`
CREATE INDEX audit_action ON audit (action, seq);
CREATE INDEX webhook_events_partner_due ON webhook_events (partner_id, next_at, seq) WHERE delivered_at IS NULL AND dead_at IS NULL;
DROP INDEX webhook_events_due;
`,
	// 14: erasure finds what it scrubs by index (central.FlowEraser), not
	// by reading every session's document: the sessions holding each
	// submission (filled from the documents already stored; ids only, no
	// person's data), a session's events, and the Idempotency-Key answers
	// naming a session (central.AnswerSession; Initiate Flow's, the only
	// answers with a session_id, are the 201s under "flows:" keys).
	`
CREATE TABLE flow_submissions (
	device_id  text NOT NULL,
	key        text NOT NULL,
	partner_id text NOT NULL,
	flow_id    text NOT NULL,
	PRIMARY KEY (device_id, key, partner_id, flow_id),
	FOREIGN KEY (partner_id, flow_id) REFERENCES flows ON DELETE CASCADE
);
CREATE INDEX flow_submissions_flow ON flow_submissions (partner_id, flow_id);
INSERT INTO flow_submissions (device_id, key, partner_id, flow_id)
	SELECT s ->> 'DeviceID', s ->> 'Key', f.partner_id, f.id
	FROM flows f, LATERAL (SELECT convert_from(f.doc, 'UTF8')::jsonb -> 'submissions' AS subs) d,
		jsonb_array_elements(CASE WHEN jsonb_typeof(d.subs) = 'array' THEN d.subs ELSE '[]' END) s
	ON CONFLICT DO NOTHING;
CREATE INDEX webhook_events_session ON webhook_events (partner_id, session_id);
ALTER TABLE idempotency_keys ADD COLUMN session_id text;
UPDATE idempotency_keys SET session_id = convert_from(body, 'UTF8')::jsonb ->> 'session_id'
	WHERE key LIKE 'flows:%' AND status = 201;
CREATE INDEX idempotency_keys_session ON idempotency_keys (partner_id, session_id) WHERE session_id IS NOT NULL;
`,
	// 15: the pending risk proposal (central.RiskProposals), one row at
	// most: the proposal as JSON.
	`
CREATE TABLE risk_proposal (
	one boolean PRIMARY KEY DEFAULT true CHECK (one),
	id  text NOT NULL,
	doc bytea NOT NULL
);
`,
	// 16: a lane's lease has an owner, random per lease taken
	// (central.LaneLease.Owner), checked instead of its end time. A lease
	// taken before has none: it is held until it runs out (an instance of
	// the previous build may still be sending under it) and is no one's
	// to renew, record or release.
	`
ALTER TABLE webhook_events ADD COLUMN lease_owner text;
`,
	// 17: the risk configuration versions served to each device
	// (central.RiskServings). None is known of the time before: a device
	// names one it was served from its next configuration sync on.
	`
CREATE TABLE risk_served (
	device_id text NOT NULL REFERENCES devices ON DELETE CASCADE,
	version   bigint NOT NULL,
	PRIMARY KEY (device_id, version)
);
`,
	// 18: the last configuration served to each device
	// (central.ConfigServings): when, and the watchlists it named with
	// their versions. Of the time before only a bound is known: each
	// device enrolled then gets the upgrade's time, its lists unknown
	// (central.ConfigServing.ListsUnknown).
	`
CREATE TABLE config_served (
	device_id     text PRIMARY KEY REFERENCES devices ON DELETE CASCADE,
	at            timestamptz NOT NULL,
	watchlists    jsonb NOT NULL,
	lists_unknown boolean NOT NULL DEFAULT false
);
INSERT INTO config_served (device_id, at, watchlists, lists_unknown)
	SELECT id, now(), '{}'::jsonb, true FROM devices;
`,
	// 19: the kinds of a submission's data retention held back at the
	// last sweep (central.Eraser.HoldRetention), NULL when none; when a
	// claimed case was claimed (central.Review.HoldsRetention), from its
	// review for the claims made before.
	`
ALTER TABLE submissions ADD COLUMN retention_held text[];
ALTER TABLE submissions ADD COLUMN claimed_at timestamptz;
UPDATE submissions SET claimed_at = (convert_from(review, 'UTF8')::jsonb ->> 'claimed_at')::timestamptz
WHERE review_state = 'claimed' AND review IS NOT NULL;
CREATE INDEX submissions_retention_held ON submissions (device_id, key) WHERE retention_held IS NOT NULL;
`,
	// 20: pending watchlist proposals (central.WatchlistProposals), one
	// per list name; their bytes are the name's watchlist_chunks of
	// version 0 (published versions start at 1).
	`
CREATE TABLE watchlist_proposals (
	name text PRIMARY KEY,
	id   text NOT NULL,
	doc  jsonb NOT NULL
);
`,
	// 21: the newest risk configuration each device's statuses reported
	// in use, and when central first received that report
	// (central.Device.NewestConfig); none is known of the time before.
	`
ALTER TABLE devices ADD COLUMN newest_config bigint;
ALTER TABLE devices ADD COLUMN newest_config_since timestamptz;
`,
	// 22: the key check record (central.KeyStore.KeyCheck): one row.
	`
CREATE TABLE key_check (
	one    boolean PRIMARY KEY DEFAULT true CHECK (one),
	record bytea NOT NULL
);
`,
	// 23: the tombstones of erased submissions (central.ErrErased): the
	// ids and when the submission was received, nothing else; swept by
	// received_at (central.ExpireErased).
	`
CREATE TABLE erased_submissions (
	device_id   text NOT NULL,
	key         text NOT NULL,
	received_at timestamptz NOT NULL,
	PRIMARY KEY (device_id, key)
);
CREATE INDEX erased_submissions_received ON erased_submissions (received_at);
`,
	// 24: when a submission's attestation was made after
	// (central.Submission.AttestedAt; none for those stored before): an
	// erased or deleted submission's tombstone ages from it when it is
	// later than received_at, so erased_submissions.received_at holds the
	// later of the two.
	`
ALTER TABLE submissions ADD COLUMN attested_at timestamptz;
`,
}

// migrationChain is the migration after which the legacy audit rows are
// chained (chainLegacyAudit).
const migrationChain = 5
