-- Offrecord chat layer, schema version 1.
-- Every table is STRICT; columns are listed explicitly by every query.

-- Device-wide settings and secrets: the account address, the account's OpenPGP key (shared by
-- all devices of the account), this device's OTR long-term key and instance tag (never leave
-- the device), the mail cursor.
CREATE TABLE config (
    key   TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL
) STRICT;

-- Contacts are identified by their OpenPGP key fingerprint.
CREATE TABLE contacts (
    id              INTEGER PRIMARY KEY,
    addr            TEXT NOT NULL,
    pgp_fingerprint TEXT NOT NULL UNIQUE,
    pgp_public_key  BLOB NOT NULL,
    created_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX contacts_addr ON contacts (addr);

-- Chats: one ordinary 1:1 chat per contact, and any number of OTR chats (one per device pair
-- and invitation).
CREATE TABLE chats (
    id                    INTEGER PRIMARY KEY,
    kind                  TEXT NOT NULL CHECK (kind IN ('one_to_one', 'otr')),
    contact_id            INTEGER NOT NULL REFERENCES contacts (id),
    created_at            INTEGER NOT NULL,
    -- OTR chats only (NULL for 1:1 chats):
    otr_state             TEXT CHECK (otr_state IN ('pending', 'invited', 'connecting', 'active',
                                                    'closed', 'declined', 'expired', 'failed',
                                                    'elsewhere')),
    state_reason          TEXT,
    invite_id             TEXT,
    we_invited            INTEGER,
    our_instance          INTEGER,
    their_instance        INTEGER,
    their_otr_fingerprint TEXT,
    otr_session           BLOB,
    ssid                  BLOB,
    ssid_first_bold       INTEGER,
    verification          TEXT NOT NULL DEFAULT 'none'
                          CHECK (verification IN ('none', 'chat_key', 'smp', 'fingerprint')),
    erasure               TEXT NOT NULL DEFAULT 'on_close'
                          CHECK (erasure IN ('on_close', 'timer', 'never_stored')),
    timer_secs            INTEGER,
    expires_at            INTEGER,
    closed_at             INTEGER
) STRICT;
CREATE UNIQUE INDEX chats_one_to_one ON chats (contact_id) WHERE kind = 'one_to_one';
CREATE UNIQUE INDEX chats_invitation ON chats (invite_id) WHERE invite_id IS NOT NULL;

-- Message history.
CREATE TABLE messages (
    id         INTEGER PRIMARY KEY,
    chat_id    INTEGER NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    direction  TEXT NOT NULL CHECK (direction IN ('in', 'out', 'info')),
    text       TEXT NOT NULL,
    encrypted  INTEGER NOT NULL,
    timestamp  INTEGER NOT NULL,
    seen_at    INTEGER,
    erase_at   INTEGER,
    rfc724_mid TEXT
) STRICT;
CREATE INDEX messages_chat ON messages (chat_id, id);
CREATE INDEX messages_erase ON messages (erase_at) WHERE erase_at IS NOT NULL;

-- Mail waiting to be sent (Delta Chat's `smtp` table). A row is written in the same
-- transaction as the state it depends on.
CREATE TABLE outbox (
    id          INTEGER PRIMARY KEY,
    rfc724_mid  TEXT NOT NULL,
    recipients  TEXT NOT NULL,
    mime        BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    chat_id     INTEGER,
    erase_after_sending INTEGER NOT NULL DEFAULT 0
) STRICT;

-- Every mail processed (or rejected), so that a duplicate delivery is ignored.
CREATE TABLE processed_mail (
    rfc724_mid   TEXT PRIMARY KEY NOT NULL,
    processed_at INTEGER NOT NULL,
    outcome      TEXT NOT NULL
) STRICT;

-- OTR mail that arrived before the signed message it depends on (email reorders): replayed
-- when that message arrives, dropped when the chat ends.
CREATE TABLE deferred_mail (
    id          INTEGER PRIMARY KEY,
    invite_id   TEXT NOT NULL,
    raw         BLOB NOT NULL,
    received_at INTEGER NOT NULL
) STRICT;
CREATE INDEX deferred_mail_invite ON deferred_mail (invite_id);
