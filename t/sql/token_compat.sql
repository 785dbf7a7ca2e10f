-- Tables as Django creates them (rest_framework.authtoken, knox), for
-- AuthTokenSchema drf and knox, and a table of our own for AuthTokenQuery.
-- Keys are fixed so that the tests can send them.
DROP TABLE IF EXISTS knox_authtoken, authtoken_token, custom_keys;

-- auth_user itself: t/sql/auth_user.sql (django-oauth-toolkit's tables
-- reference it too).
CREATE TABLE authtoken_token (
    key varchar(40) NOT NULL PRIMARY KEY,
    created timestamptz NOT NULL,
    user_id integer NOT NULL UNIQUE
        REFERENCES auth_user (id) DEFERRABLE INITIALLY DEFERRED
);
CREATE TABLE knox_authtoken (
    digest varchar(128) NOT NULL PRIMARY KEY,
    created timestamptz NOT NULL,
    user_id integer NOT NULL
        REFERENCES auth_user (id) DEFERRABLE INITIALLY DEFERRED,
    expiry timestamptz NULL,
    token_key varchar(25) NOT NULL
);
CREATE INDEX knox_authtoken_token_key ON knox_authtoken (token_key);

INSERT INTO auth_user (id, password, is_superuser, username, first_name,
                       last_name, email, is_staff, is_active, date_joined)
VALUES (1, '!', false, 'djalice', '', '', '', false, true, now()),
       (2, '!', false, 'djbob', '', '', '', false, false, now());

INSERT INTO authtoken_token VALUES
    ('9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b', now(), 1),
    ('0123456789abcdef0123456789abcdef01234567', now(), 2);

-- knox: token_key = the first 15 characters, digest = SHA-512 hex
INSERT INTO knox_authtoken (digest, created, user_id, expiry, token_key)
SELECT encode(sha512(t::bytea), 'hex'), now(), u, e, left(t, 15)
FROM (VALUES
    ('a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2', 1,
     now() + interval '10 hours'),
    ('a1b2c3d4e5f6a7bffffffffffffffffffffffffffffffffffffffffffffffffff', 1,
     NULL),
    ('b1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2', 1,
     now() - interval '1 hour'),
    ('c1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2', 2,
     NULL)
) AS k(t, u, e);

CREATE TABLE custom_keys (owner text NOT NULL, secret_sha256 text NOT NULL);
INSERT INTO custom_keys
VALUES ('customer', encode(sha256('custom-key-1'::bytea), 'hex'));
