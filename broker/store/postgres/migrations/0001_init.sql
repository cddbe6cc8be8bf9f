-- 0001: the first schema of the PostgreSQL store.
--
-- Each table keeps the whole record as JSON in "data", and beside it typed
-- copies of the fields the store looks rows up by, orders them by or keeps
-- unique; the store writes both in one statement, so they never disagree.
-- "data" is json, not jsonb: jsonb refuses the escape \u0000, which a NUL
-- in any string (a client's state parameter, say) becomes, and the store
-- never queries inside "data" (a person may, casting it: data::jsonb).
--
-- "version" is the compare-and-swap counter, "expiry" the instant a
-- short-lived row stops being returned (reads filter expiry > now; the
-- cleanup job deletes the rest later).
--
-- Key columns are COLLATE "C": comparisons and ordering are byte-wise, as in
-- Go, and no locale upgrade can reorder an index. Case-insensitive keys
-- (*_key) hold strings.ToLower of the value, computed by the store, so that
-- they fold exactly as the store's contract says and not as the server's
-- locale would.

CREATE TABLE users (
    id      text COLLATE "C" PRIMARY KEY,
    version bigint NOT NULL,
    data    json   NOT NULL
);

-- Deleting a user deletes its identities (ON DELETE CASCADE), in the same
-- statement; linking an identity to a missing user fails on the foreign key.
CREATE TABLE identities (
    connector_id       text COLLATE "C" NOT NULL,
    subject            text COLLATE "C" NOT NULL,
    user_id            text COLLATE "C" NOT NULL
        CONSTRAINT identities_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    verified_email_key text COLLATE "C", -- lower-cased VerifiedEmail; NULL if none
    version            bigint NOT NULL,
    data               json   NOT NULL,
    CONSTRAINT identities_pkey PRIMARY KEY (connector_id, subject)
);
CREATE INDEX identities_user_id_idx ON identities (user_id);
CREATE INDEX identities_verified_email_key_idx ON identities (verified_email_key)
    WHERE verified_email_key IS NOT NULL;

-- Usernames are unique as given, emails case-insensitively; an empty one is
-- NULL and claims nothing.
CREATE TABLE local_accounts (
    id        text COLLATE "C" PRIMARY KEY,
    username  text COLLATE "C",
    email_key text COLLATE "C", -- lower-cased Email; NULL if none
    version   bigint NOT NULL,
    data      json   NOT NULL,
    CONSTRAINT local_accounts_username_key UNIQUE (username),
    CONSTRAINT local_accounts_email_key UNIQUE (email_key)
);

CREATE TABLE clients (
    id      text COLLATE "C" PRIMARY KEY,
    version bigint NOT NULL,
    data    json   NOT NULL
);

CREATE TABLE auth_requests (
    id      text COLLATE "C" PRIMARY KEY,
    expiry  timestamptz NOT NULL,
    version bigint NOT NULL,
    data    json   NOT NULL
);
CREATE INDEX auth_requests_expiry_idx ON auth_requests (expiry);

CREATE TABLE auth_codes (
    id      text COLLATE "C" PRIMARY KEY,
    expiry  timestamptz NOT NULL,
    version bigint NOT NULL,
    data    json   NOT NULL
);
CREATE INDEX auth_codes_expiry_idx ON auth_codes (expiry);

-- Families name users that need not exist (client_credentials subjects,
-- users deleted since): no foreign key.
CREATE TABLE refresh_families (
    id      text COLLATE "C" PRIMARY KEY,
    user_id text COLLATE "C" NOT NULL,
    expiry  timestamptz NOT NULL,
    version bigint NOT NULL,
    data    json   NOT NULL
);
CREATE INDEX refresh_families_user_id_idx ON refresh_families (user_id);
CREATE INDEX refresh_families_expiry_idx ON refresh_families (expiry);

-- A refresh token is only its hash, family and expiry: typed columns.
CREATE TABLE refresh_tokens (
    hash      text COLLATE "C" CONSTRAINT refresh_tokens_pkey PRIMARY KEY,
    family_id text COLLATE "C" NOT NULL,
    expiry    timestamptz NOT NULL
);
CREATE INDEX refresh_tokens_expiry_idx ON refresh_tokens (expiry);

CREATE TABLE denied_access_tokens (
    jti    text COLLATE "C" PRIMARY KEY,
    expiry timestamptz NOT NULL
);
CREATE INDEX denied_access_tokens_expiry_idx ON denied_access_tokens (expiry);

CREATE TABLE opaque_tokens (
    hash   text COLLATE "C" PRIMARY KEY,
    expiry timestamptz NOT NULL,
    data   json  NOT NULL
);
CREATE INDEX opaque_tokens_expiry_idx ON opaque_tokens (expiry);

-- The signing key set is one row, so that a rotation is one compare-and-swap.
CREATE TABLE signing_keys (
    id      smallint PRIMARY KEY CHECK (id = 1),
    version bigint NOT NULL,
    data    json   NOT NULL
);

-- Events list from a time on, oldest first, ties in id order: the primary
-- key is that order. "time" has PostgreSQL's microseconds; data keeps the
-- event as given.
CREATE TABLE audit_events (
    time   timestamptz NOT NULL,
    id     text COLLATE "C" NOT NULL,
    expiry timestamptz NOT NULL,
    data   json  NOT NULL,
    CONSTRAINT audit_events_pkey PRIMARY KEY (time, id)
);
CREATE INDEX audit_events_expiry_idx ON audit_events (expiry);

-- Generic records. Kind and key are opaque byte strings and the value is
-- the caller's bytes, so all three are bytea: any byte round-trips, and a
-- prefix listing is a byte-wise range scan of the primary key. A NULL
-- expiry keeps the record until deleted.
CREATE TABLE records (
    kind    bytea NOT NULL,
    key     bytea NOT NULL,
    value   bytea NOT NULL,
    expiry  timestamptz,
    version bigint NOT NULL,
    CONSTRAINT records_pkey PRIMARY KEY (kind, key)
);
CREATE INDEX records_expiry_idx ON records (expiry) WHERE expiry IS NOT NULL;
