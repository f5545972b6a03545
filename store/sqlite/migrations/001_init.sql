-- dmdoctor's SQLite schema, version 1. Times are Unix nanoseconds (UTC),
-- 0 for "not set"; JSON columns hold the bot package's types.

CREATE TABLE conversations (
	channel TEXT NOT NULL,
	user_id TEXT NOT NULL,
	data    TEXT NOT NULL,              -- the whole bot.Conversation as JSON
	created INTEGER NOT NULL,           -- copies of its fields, for queries
	updated INTEGER NOT NULL,
	version INTEGER NOT NULL,           -- saved turns: the fencing token
	lines   INTEGER NOT NULL DEFAULT 0, -- transcript lines ever appended
	PRIMARY KEY (channel, user_id)
) WITHOUT ROWID;
CREATE INDEX conversations_updated ON conversations (updated);
CREATE INDEX conversations_created ON conversations (created);

-- Message IDs already handled, per channel.
CREATE TABLE handled (
	channel TEXT NOT NULL,
	msg_id  TEXT NOT NULL,
	at      INTEGER NOT NULL,
	PRIMARY KEY (channel, msg_id)
) WITHOUT ROWID;
CREATE INDEX handled_at ON handled (at);

-- The last bot.TranscriptLimit lines of each conversation; seq counts
-- from 1 per conversation.
CREATE TABLE transcript (
	channel TEXT NOT NULL,
	user_id TEXT NOT NULL,
	seq     INTEGER NOT NULL,
	time    INTEGER NOT NULL,
	sender  TEXT NOT NULL,
	text    TEXT NOT NULL,
	PRIMARY KEY (channel, user_id, seq),
	FOREIGN KEY (channel, user_id) REFERENCES conversations (channel, user_id) ON DELETE CASCADE
) WITHOUT ROWID;

-- Replies not yet delivered. AUTOINCREMENT: IDs are never reused, even
-- after the newest entry is delivered (deleted).
CREATE TABLE outbox (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	channel     TEXT NOT NULL,
	user_id     TEXT NOT NULL,
	address     TEXT NOT NULL,
	replies     TEXT NOT NULL,          -- []flows.Reply as JSON
	created     INTEGER NOT NULL,
	lease_until INTEGER NOT NULL        -- not claimable before
);
CREATE INDEX outbox_claim ON outbox (channel, lease_until);
CREATE INDEX outbox_key ON outbox (channel, user_id);

CREATE TABLE outcomes (
	id      INTEGER PRIMARY KEY,
	channel TEXT NOT NULL,
	user_id TEXT NOT NULL,
	kind    TEXT NOT NULL,
	cause   TEXT NOT NULL,
	reason  TEXT NOT NULL,
	time    INTEGER NOT NULL
);
CREATE INDEX outcomes_time ON outcomes (time);
CREATE INDEX outcomes_key ON outcomes (channel, user_id);

CREATE TABLE tickets (
	id             INTEGER PRIMARY KEY AUTOINCREMENT,
	channel        TEXT NOT NULL,
	user_id        TEXT NOT NULL,
	user_name      TEXT NOT NULL,
	address        TEXT NOT NULL,
	reason         TEXT NOT NULL,
	summary        TEXT NOT NULL,       -- flows.Summary as JSON
	state          TEXT NOT NULL,
	moderator      TEXT NOT NULL,
	moderator_name TEXT NOT NULL,
	created        INTEGER NOT NULL,
	claimed        INTEGER NOT NULL,
	closed         INTEGER NOT NULL,
	notes          TEXT NOT NULL,       -- []bot.Note as JSON
	history        TEXT NOT NULL,       -- []bot.TicketEvent as JSON
	rating         INTEGER NOT NULL,
	comment        TEXT NOT NULL,
	rated          INTEGER NOT NULL
);
-- At most one open ticket per user.
CREATE UNIQUE INDEX tickets_open ON tickets (channel, user_id) WHERE state IN ('pending', 'claimed');
CREATE INDEX tickets_key ON tickets (channel, user_id);
CREATE INDEX tickets_state ON tickets (state, created);
CREATE INDEX tickets_created ON tickets (created);

-- Where each ticket is shown in the moderators' places.
CREATE TABLE ticket_refs (
	ticket_id INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
	place     TEXT NOT NULL,
	ref       TEXT NOT NULL,
	PRIMARY KEY (ticket_id, place)
) WITHOUT ROWID;
CREATE INDEX ticket_refs_ref ON ticket_refs (place, ref);
