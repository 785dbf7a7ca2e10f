-- sql/drf_notify.sql -- instant revocation for Django REST framework's
-- authtoken table (mod_authn_token with AuthTokenSchema drf), PostgreSQL 11
-- or later.  Optional: authchain does not create or need Django's tables;
-- an administrator runs this once, after Django's migrations:
--
--     psql -v ON_ERROR_STOP=1 -1 -f drf_notify.sql "dbname=app"
--
-- and sets, in the main server context of every httpd node:
--
--     AuthTokenDB "dbname=app ..."
--     AuthTokenSchema drf
--     AuthTokenRevocationListen On
--
-- Deleting a token (DRF's way to revoke one), changing it, or changing
-- whether its user is active then sends NOTIFY authchain_token with the
-- SHA-256 hex of the key, the value that mod_authn_token's cache id is
-- made from, and every node drops its cached answer at once, as for the
-- native schema (sql/schema.sql).  Idempotent: it may run again.  Without
-- it, a revoked DRF key is refused within AuthTokenCacheTTL.

CREATE OR REPLACE FUNCTION authchain_drf_token_notify() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('authchain_token',
                      encode(sha256(convert_to(OLD.key, 'UTF8')), 'hex'));
    RETURN NULL;
END
$$;

-- a user made inactive (or active again), or renamed: every key of the
-- user (deleting a user deletes its token first, Django cascades in the
-- ORM, and that notifies)
CREATE OR REPLACE FUNCTION authchain_drf_user_notify() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('authchain_token',
                      encode(sha256(convert_to(t.key, 'UTF8')), 'hex'))
        FROM authtoken_token t WHERE t.user_id = OLD.id;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS authchain_drf_token_notify ON authtoken_token;
CREATE TRIGGER authchain_drf_token_notify
    AFTER UPDATE OR DELETE ON authtoken_token FOR EACH ROW
    EXECUTE PROCEDURE authchain_drf_token_notify();

DROP TRIGGER IF EXISTS authchain_drf_user_notify ON auth_user;
CREATE TRIGGER authchain_drf_user_notify
    AFTER UPDATE ON auth_user FOR EACH ROW
    WHEN (OLD.is_active IS DISTINCT FROM NEW.is_active
          OR OLD.username IS DISTINCT FROM NEW.username)
    EXECUTE PROCEDURE authchain_drf_user_notify();
