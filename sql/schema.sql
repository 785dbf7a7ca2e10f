-- sql/schema.sql -- the native schema of authchain (mod_authn_token and
-- authchain-token), PostgreSQL 10 or later.
--
-- `authchain-token init` runs this file in one transaction; by hand:
--
--     psql -v ON_ERROR_STOP=1 -1 -f schema.sql "dbname=app"
--
-- It is idempotent: every statement may run against a database that
-- already holds any earlier version of the schema, and brings it to the
-- version below.  A later version adds its changes at the end, each
-- guarded (IF NOT EXISTS, or a DO block that tests authchain_schema), and
-- raises the version in the last statement.
--
-- Keys are never stored: key_hash is the lowercase hex SHA-256 of the
-- whole key (prefix and check digits included), and the module looks a
-- key up with `WHERE key_hash = $1`.

-- The version of this schema in the database: one row.
CREATE TABLE IF NOT EXISTS authchain_schema (
    version integer NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS authchain_schema_one_row
    ON authchain_schema ((true));

-- One row per API key.
CREATE TABLE IF NOT EXISTS authchain_token (
    id         bigserial PRIMARY KEY,
    user_name  text NOT NULL,
    key_hash   char(64) NOT NULL UNIQUE,
    name       text NOT NULL DEFAULT '',
    scopes     text NOT NULL DEFAULT '',
    created    timestamptz NOT NULL DEFAULT now(),
    expires    timestamptz NULL,
    revoked    timestamptz NULL,
    last_used  timestamptz NULL
);
COMMENT ON COLUMN authchain_token.key_hash IS
    'lowercase hex SHA-256 of the whole key; the key itself is never stored';
COMMENT ON COLUMN authchain_token.scopes IS 'space separated';
COMMENT ON COLUMN authchain_token.expires IS 'NULL: never expires';
COMMENT ON COLUMN authchain_token.revoked IS 'NULL: not revoked';

CREATE INDEX IF NOT EXISTS authchain_token_user_name_idx
    ON authchain_token (user_name);

-- Version 2: instant revocation.  A change that can alter what the module
-- answers for a key (revoked, expires, user_name, scopes, name, key_hash,
-- or the row deleted) sends NOTIFY authchain_token with the row's key_hash
-- as the payload (the old and the new one when key_hash itself changes),
-- at commit.  Every httpd node LISTENs (AuthTokenRevocationListen) and
-- drops that key's cache entries, so a revocation is refused everywhere
-- within a second, whatever AuthTokenCacheTTL is.  The module's own
-- last_used writes change nothing a verdict depends on: the WHEN clause
-- keeps them silent.  TRUNCATE sends the payload '*': every entry goes.
CREATE OR REPLACE FUNCTION authchain_token_notify() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('authchain_token', '*');
        RETURN NULL;
    END IF;
    PERFORM pg_notify('authchain_token', rtrim(OLD.key_hash));
    IF TG_OP = 'UPDATE' AND NEW.key_hash IS DISTINCT FROM OLD.key_hash THEN
        PERFORM pg_notify('authchain_token', rtrim(NEW.key_hash));
    END IF;
    RETURN NULL;
END
$$;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger
                   WHERE tgrelid = 'authchain_token'::regclass
                     AND tgname = 'authchain_token_notify_update') THEN
        CREATE TRIGGER authchain_token_notify_update
            AFTER UPDATE ON authchain_token FOR EACH ROW
            WHEN (OLD.revoked IS DISTINCT FROM NEW.revoked
                  OR OLD.expires IS DISTINCT FROM NEW.expires
                  OR OLD.user_name IS DISTINCT FROM NEW.user_name
                  OR OLD.scopes IS DISTINCT FROM NEW.scopes
                  OR OLD.name IS DISTINCT FROM NEW.name
                  OR OLD.key_hash IS DISTINCT FROM NEW.key_hash)
            EXECUTE PROCEDURE authchain_token_notify();
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger
                   WHERE tgrelid = 'authchain_token'::regclass
                     AND tgname = 'authchain_token_notify_delete') THEN
        CREATE TRIGGER authchain_token_notify_delete
            AFTER DELETE ON authchain_token FOR EACH ROW
            EXECUTE PROCEDURE authchain_token_notify();
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger
                   WHERE tgrelid = 'authchain_token'::regclass
                     AND tgname = 'authchain_token_notify_truncate') THEN
        CREATE TRIGGER authchain_token_notify_truncate
            AFTER TRUNCATE ON authchain_token FOR EACH STATEMENT
            EXECUTE PROCEDURE authchain_token_notify();
    END IF;
END
$$;

-- Version 3: key rotation (authchain-token rotate).  replaced_by is the id
-- of the token that a rotation issued in this one's place; the rotation
-- also set this row's expires to the grace deadline (or revoked it).  A
-- row with replaced_by set that is neither revoked nor past expires is
-- "rolling": its key still works, until expires.  The module does not read
-- the column (a rolling key is an ordinary key with an expiry), and a
-- change of it alone notifies nothing (it is not in the WHEN clause
-- above).  Not a foreign key: prune may delete either row first.
ALTER TABLE authchain_token ADD COLUMN IF NOT EXISTS replaced_by bigint NULL;
COMMENT ON COLUMN authchain_token.replaced_by IS
    'id of the token that authchain-token rotate issued in its place; NULL: not rotated';

-- Last: record the version (authchain-token reads the highest "SET version
-- = N" of this file as the version it installs).
INSERT INTO authchain_schema (version)
    SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM authchain_schema);
UPDATE authchain_schema SET version = 1 WHERE version < 1;
UPDATE authchain_schema SET version = 2 WHERE version < 2;
UPDATE authchain_schema SET version = 3 WHERE version < 3;
