-- dmdoctor's PostgreSQL schema, version 1. JSON columns hold the bot
-- package's types.

CREATE TABLE conversations (
	channel text NOT NULL,
	user_id text NOT NULL,
	data    jsonb NOT NULL,               -- the whole bot.Conversation
	created timestamptz NOT NULL,         -- copies of its fields, for queries
	updated timestamptz NOT NULL,
	version bigint NOT NULL,              -- saved turns: the fencing token
	lines   bigint NOT NULL DEFAULT 0,    -- transcript lines ever appended
	PRIMARY KEY (channel, user_id)
) WITH (fillfactor = 70);
-- No index on updated: a turn then changes no indexed column, so its
-- UPDATE is heap-only (HOT) in the page room fillfactor leaves. Purge
-- scans the table instead, rarely.
CREATE INDEX conversations_created ON conversations (created);

-- Message IDs already handled, per channel.
CREATE TABLE handled (
	channel text NOT NULL,
	msg_id  text NOT NULL,
	at      timestamptz NOT NULL,
	PRIMARY KEY (channel, msg_id)
);
-- BRIN: rows come in the order of at, and the index costs turns nothing.
CREATE INDEX handled_at ON handled USING brin (at);

-- The last bot.TranscriptLimit lines of each conversation.
CREATE TABLE transcript (
	channel text NOT NULL,
	user_id text NOT NULL,
	seq     bigint NOT NULL,
	time    timestamptz NOT NULL,
	sender  text NOT NULL,
	text    text NOT NULL,
	PRIMARY KEY (channel, user_id, seq),
	FOREIGN KEY (channel, user_id) REFERENCES conversations (channel, user_id) ON DELETE CASCADE
);

-- Replies not yet delivered.
CREATE TABLE outbox (
	id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	channel     text NOT NULL,
	user_id     text NOT NULL,
	address     text NOT NULL,
	replies     jsonb NOT NULL,          -- []flows.Reply
	created     timestamptz NOT NULL,
	lease_until timestamptz NOT NULL     -- not claimable before
);
CREATE INDEX outbox_claim ON outbox (channel, lease_until);
-- No index on the key: the outbox holds only undelivered entries, few,
-- and Forget may scan it.

CREATE TABLE outcomes (
	id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	channel text NOT NULL,
	user_id text NOT NULL,
	kind    text NOT NULL,
	cause   text NOT NULL,
	reason  text NOT NULL,
	time    timestamptz NOT NULL
);
CREATE INDEX outcomes_time ON outcomes (time);
CREATE INDEX outcomes_key ON outcomes (channel, user_id);

CREATE TABLE tickets (
	id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	channel        text NOT NULL,
	user_id        text NOT NULL,
	user_name      text NOT NULL,
	address        text NOT NULL,
	reason         text NOT NULL,
	summary        jsonb NOT NULL,       -- flows.Summary
	state          text NOT NULL,
	moderator      text NOT NULL DEFAULT '',
	moderator_name text NOT NULL DEFAULT '',
	created        timestamptz NOT NULL,
	claimed        timestamptz,
	closed         timestamptz,
	notes          jsonb NOT NULL DEFAULT '[]', -- []bot.Note
	history        jsonb NOT NULL DEFAULT '[]', -- []bot.TicketEvent
	rating         integer NOT NULL DEFAULT 0,
	comment        text NOT NULL DEFAULT '',
	rated          timestamptz
);
-- At most one open ticket per user.
CREATE UNIQUE INDEX tickets_open ON tickets (channel, user_id) WHERE state IN ('pending', 'claimed');
CREATE INDEX tickets_key ON tickets (channel, user_id);
CREATE INDEX tickets_state ON tickets (state, created);
CREATE INDEX tickets_created ON tickets (created);

-- Where each ticket is shown in the moderators' places.
CREATE TABLE ticket_refs (
	ticket_id bigint NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
	place     text NOT NULL,
	ref       text NOT NULL,
	PRIMARY KEY (ticket_id, place)
);
CREATE INDEX ticket_refs_ref ON ticket_refs (place, ref);

-- dmdoctor_fence fails the transaction of a turn whose fenced save (an
-- UPDATE … WHERE version = the version read) changed no row: another
-- writer got there first. serialization_failure: the turn starts over.
CREATE FUNCTION dmdoctor_fence(saved bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	IF saved <> 1 THEN
		RAISE EXCEPTION 'conversation changed by another writer' USING ERRCODE = 'serialization_failure';
	END IF;
END
$$;
