-- The schema `create_all` made (bot/watch/store.py) before Alembic owned it (sqlite).
-- Frozen: tests/test_migrations.py upgrades a database made from it.

CREATE TABLE watches (
	id INTEGER NOT NULL,
	team VARCHAR(32) NOT NULL,
	channel VARCHAR(32) NOT NULL,
	url VARCHAR(2100) NOT NULL,
	target_input VARCHAR(2100) NOT NULL,
	interval_s FLOAT NOT NULL,
	fail_after INTEGER NOT NULL,
	recover_after INTEGER NOT NULL,
	created_by VARCHAR(32) NOT NULL,
	created_at DATETIME NOT NULL,
	state VARCHAR(16) NOT NULL,
	failures INTEGER NOT NULL,
	successes INTEGER NOT NULL,
	failing_since DATETIME,
	last_checked_at DATETIME,
	last_status VARCHAR(16),
	last_summary TEXT,
	muted_until DATETIME,
	cert_warned VARCHAR(600),
	PRIMARY KEY (id),
	CONSTRAINT one_watch_per_channel_and_url UNIQUE (channel, url)
);

CREATE INDEX ix_watches_channel ON watches (channel);

CREATE TABLE checks (
	id INTEGER NOT NULL,
	watch_id INTEGER NOT NULL,
	at DATETIME NOT NULL,
	status VARCHAR(16) NOT NULL,
	cause VARCHAR(40) NOT NULL,
	http_status INTEGER,
	duration_ms FLOAT NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(watch_id) REFERENCES watches (id) ON DELETE CASCADE
);

CREATE INDEX history_of_watch ON checks (watch_id, at);

CREATE TABLE incidents (
	id INTEGER NOT NULL,
	watch_id INTEGER NOT NULL,
	channel VARCHAR(32) NOT NULL,
	failing_since DATETIME NOT NULL,
	announced_at DATETIME,
	alert_ts VARCHAR(32),
	diagnosis_key VARCHAR(200) NOT NULL,
	last_summary TEXT NOT NULL,
	excerpt TEXT NOT NULL,
	failure_count INTEGER NOT NULL,
	flaps INTEGER NOT NULL,
	acknowledged_by VARCHAR(32),
	recovered_at DATETIME,
	resolved_at DATETIME,
	PRIMARY KEY (id),
	FOREIGN KEY(watch_id) REFERENCES watches (id) ON DELETE CASCADE
);

CREATE INDEX open_incident_of_watch ON incidents (watch_id, resolved_at);
