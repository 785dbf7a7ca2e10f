-- django.contrib.auth's user table, as Django creates it, shared by the
-- DRF/knox tables (t/sql/token_compat.sql) and django-oauth-toolkit's
-- (t/sql/dot.sql).  Loaded first (build/check loads t/sql/*.sql in name
-- order): the others reference it.
DROP TABLE IF EXISTS auth_user CASCADE;

CREATE TABLE auth_user (
    id serial PRIMARY KEY,
    password varchar(128) NOT NULL,
    last_login timestamptz NULL,
    is_superuser boolean NOT NULL,
    username varchar(150) NOT NULL UNIQUE,
    first_name varchar(150) NOT NULL,
    last_name varchar(150) NOT NULL,
    email varchar(254) NOT NULL,
    is_staff boolean NOT NULL,
    is_active boolean NOT NULL,
    date_joined timestamptz NOT NULL
);
