-- django-oauth-toolkit's tables before 3.0, for AuthOAuth2DBSchema dot and
-- dot1 (t/oauth2_db.t): as Debian 12's python3-django-oauth-toolkit 1.7
-- makes them with its python3-django 3.2, migrations 0001_initial to
-- 0005_auto_20211222_2352: the DDL that `manage.py sqlmigrate` prints, in
-- the migrations' order, laid out one column a line.  2.x (migrations 0006
-- to 0010) changes only the application and the grant: the access token
-- table, the only one looked up with auth_user and the application's
-- client_id, is the same: `token varchar(255) UNIQUE` and no
-- token_checksum.
--
-- The table names are django-oauth-toolkit's own, so these live in a
-- PostgreSQL schema of their own, dot1, beside the 3.x tables of
-- t/sql/dot.sql in public; the locations that read them connect with
-- `options=-csearch_path=dot1`.  Like a Django 3.2 project's database,
-- the schema has its own auth_user (django.contrib.auth's table as its
-- migrations 0001 to 0012 leave it).  Rows are inserted by the test.
DROP SCHEMA IF EXISTS dot1 CASCADE;
CREATE SCHEMA dot1;
SET search_path = dot1;

BEGIN;

CREATE TABLE "auth_user" (
    "id" serial NOT NULL PRIMARY KEY,
    "password" varchar(128) NOT NULL,
    "last_login" timestamp with time zone NULL,
    "is_superuser" boolean NOT NULL,
    "username" varchar(150) NOT NULL UNIQUE,
    "first_name" varchar(150) NOT NULL,
    "last_name" varchar(150) NOT NULL,
    "email" varchar(254) NOT NULL,
    "is_staff" boolean NOT NULL,
    "is_active" boolean NOT NULL,
    "date_joined" timestamp with time zone NOT NULL
);
CREATE INDEX "auth_user_username_6821ab7c_like"
    ON "auth_user" ("username" varchar_pattern_ops);

-- 0001_initial
CREATE TABLE "oauth2_provider_application" (
    "id" bigserial NOT NULL PRIMARY KEY,
    "client_id" varchar(100) NOT NULL UNIQUE,
    "redirect_uris" text NOT NULL,
    "client_type" varchar(32) NOT NULL,
    "authorization_grant_type" varchar(32) NOT NULL,
    "client_secret" varchar(255) NOT NULL,
    "name" varchar(255) NOT NULL,
    "user_id" integer NULL,
    "skip_authorization" boolean NOT NULL,
    "created" timestamp with time zone NOT NULL,
    "updated" timestamp with time zone NOT NULL
);
CREATE TABLE "oauth2_provider_accesstoken" (
    "id" bigserial NOT NULL PRIMARY KEY,
    "token" varchar(255) NOT NULL UNIQUE,
    "expires" timestamp with time zone NOT NULL,
    "scope" text NOT NULL,
    "application_id" bigint NULL,
    "user_id" integer NULL,
    "created" timestamp with time zone NOT NULL,
    "updated" timestamp with time zone NOT NULL
);
CREATE TABLE "oauth2_provider_grant" (
    "id" bigserial NOT NULL PRIMARY KEY,
    "code" varchar(255) NOT NULL UNIQUE,
    "expires" timestamp with time zone NOT NULL,
    "redirect_uri" varchar(255) NOT NULL,
    "scope" text NOT NULL,
    "application_id" bigint NOT NULL,
    "user_id" integer NOT NULL,
    "created" timestamp with time zone NOT NULL,
    "updated" timestamp with time zone NOT NULL
);
CREATE TABLE "oauth2_provider_refreshtoken" (
    "id" bigserial NOT NULL PRIMARY KEY,
    "token" varchar(255) NOT NULL,
    "access_token_id" bigint NULL UNIQUE,
    "application_id" bigint NOT NULL,
    "user_id" integer NOT NULL,
    "created" timestamp with time zone NOT NULL,
    "updated" timestamp with time zone NOT NULL,
    "revoked" timestamp with time zone NULL
);
ALTER TABLE "oauth2_provider_accesstoken"
    ADD COLUMN "source_refresh_token_id" bigint NULL UNIQUE
    CONSTRAINT "oauth2_provider_acce_source_refresh_token_e66fbc72_fk_oauth2_pr"
    REFERENCES "oauth2_provider_refreshtoken"("id") DEFERRABLE INITIALLY DEFERRED;
SET CONSTRAINTS "oauth2_provider_acce_source_refresh_token_e66fbc72_fk_oauth2_pr" IMMEDIATE;
ALTER TABLE "oauth2_provider_application"
    ADD CONSTRAINT "oauth2_provider_application_user_id_79829054_fk_auth_user_id"
    FOREIGN KEY ("user_id") REFERENCES "auth_user" ("id") DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX "oauth2_provider_application_client_id_03f0cc84_like"
    ON "oauth2_provider_application" ("client_id" varchar_pattern_ops);
CREATE INDEX "oauth2_provider_application_client_secret_53133678"
    ON "oauth2_provider_application" ("client_secret");
CREATE INDEX "oauth2_provider_application_client_secret_53133678_like"
    ON "oauth2_provider_application" ("client_secret" varchar_pattern_ops);
CREATE INDEX "oauth2_provider_application_user_id_79829054"
    ON "oauth2_provider_application" ("user_id");
ALTER TABLE "oauth2_provider_accesstoken"
    ADD CONSTRAINT "oauth2_provider_acce_application_id_b22886e1_fk_oauth2_pr"
    FOREIGN KEY ("application_id") REFERENCES "oauth2_provider_application" ("id") DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE "oauth2_provider_accesstoken"
    ADD CONSTRAINT "oauth2_provider_accesstoken_user_id_6e4c9a65_fk_auth_user_id"
    FOREIGN KEY ("user_id") REFERENCES "auth_user" ("id") DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX "oauth2_provider_accesstoken_token_8af090f8_like"
    ON "oauth2_provider_accesstoken" ("token" varchar_pattern_ops);
CREATE INDEX "oauth2_provider_accesstoken_application_id_b22886e1"
    ON "oauth2_provider_accesstoken" ("application_id");
CREATE INDEX "oauth2_provider_accesstoken_user_id_6e4c9a65"
    ON "oauth2_provider_accesstoken" ("user_id");
ALTER TABLE "oauth2_provider_grant"
    ADD CONSTRAINT "oauth2_provider_gran_application_id_81923564_fk_oauth2_pr"
    FOREIGN KEY ("application_id") REFERENCES "oauth2_provider_application" ("id") DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE "oauth2_provider_grant"
    ADD CONSTRAINT "oauth2_provider_grant_user_id_e8f62af8_fk_auth_user_id"
    FOREIGN KEY ("user_id") REFERENCES "auth_user" ("id") DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX "oauth2_provider_grant_code_49ab4ddf_like"
    ON "oauth2_provider_grant" ("code" varchar_pattern_ops);
CREATE INDEX "oauth2_provider_grant_application_id_81923564"
    ON "oauth2_provider_grant" ("application_id");
CREATE INDEX "oauth2_provider_grant_user_id_e8f62af8"
    ON "oauth2_provider_grant" ("user_id");
ALTER TABLE "oauth2_provider_refreshtoken"
    ADD CONSTRAINT "oauth2_provider_refreshtoken_token_revoked_af8a5134_uniq"
    UNIQUE ("token", "revoked");
ALTER TABLE "oauth2_provider_refreshtoken"
    ADD CONSTRAINT "oauth2_provider_refr_access_token_id_775e84e8_fk_oauth2_pr"
    FOREIGN KEY ("access_token_id") REFERENCES "oauth2_provider_accesstoken" ("id") DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE "oauth2_provider_refreshtoken"
    ADD CONSTRAINT "oauth2_provider_refr_application_id_2d1c311b_fk_oauth2_pr"
    FOREIGN KEY ("application_id") REFERENCES "oauth2_provider_application" ("id") DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE "oauth2_provider_refreshtoken"
    ADD CONSTRAINT "oauth2_provider_refreshtoken_user_id_da837fce_fk_auth_user_id"
    FOREIGN KEY ("user_id") REFERENCES "auth_user" ("id") DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX "oauth2_provider_refreshtoken_application_id_2d1c311b"
    ON "oauth2_provider_refreshtoken" ("application_id");
CREATE INDEX "oauth2_provider_refreshtoken_user_id_da837fce"
    ON "oauth2_provider_refreshtoken" ("user_id");

-- 0002_auto_20190406_1805
ALTER TABLE "oauth2_provider_grant"
    ADD COLUMN "code_challenge" varchar(128) DEFAULT '' NOT NULL;
ALTER TABLE "oauth2_provider_grant" ALTER COLUMN "code_challenge" DROP DEFAULT;
ALTER TABLE "oauth2_provider_grant"
    ADD COLUMN "code_challenge_method" varchar(10) DEFAULT '' NOT NULL;
ALTER TABLE "oauth2_provider_grant" ALTER COLUMN "code_challenge_method" DROP DEFAULT;

-- 0003_auto_20201211_1314
ALTER TABLE "oauth2_provider_grant"
    ALTER COLUMN "redirect_uri" TYPE text USING "redirect_uri"::text;

-- 0004_auto_20200902_2022
ALTER TABLE "oauth2_provider_application"
    ADD COLUMN "algorithm" varchar(5) DEFAULT '' NOT NULL;
ALTER TABLE "oauth2_provider_application" ALTER COLUMN "algorithm" DROP DEFAULT;
CREATE TABLE "oauth2_provider_idtoken" (
    "id" bigserial NOT NULL PRIMARY KEY,
    "jti" uuid NOT NULL UNIQUE,
    "expires" timestamp with time zone NOT NULL,
    "scope" text NOT NULL,
    "created" timestamp with time zone NOT NULL,
    "updated" timestamp with time zone NOT NULL,
    "application_id" bigint NULL,
    "user_id" integer NULL
);
ALTER TABLE "oauth2_provider_accesstoken"
    ADD COLUMN "id_token_id" bigint NULL UNIQUE
    CONSTRAINT "oauth2_provider_acce_id_token_id_85db651b_fk_oauth2_pr"
    REFERENCES "oauth2_provider_idtoken"("id") DEFERRABLE INITIALLY DEFERRED;
SET CONSTRAINTS "oauth2_provider_acce_id_token_id_85db651b_fk_oauth2_pr" IMMEDIATE;
ALTER TABLE "oauth2_provider_grant" ADD COLUMN "nonce" varchar(255) DEFAULT '' NOT NULL;
ALTER TABLE "oauth2_provider_grant" ALTER COLUMN "nonce" DROP DEFAULT;
ALTER TABLE "oauth2_provider_grant" ADD COLUMN "claims" text DEFAULT '' NOT NULL;
ALTER TABLE "oauth2_provider_grant" ALTER COLUMN "claims" DROP DEFAULT;
ALTER TABLE "oauth2_provider_idtoken"
    ADD CONSTRAINT "oauth2_provider_idto_application_id_08c5ff4f_fk_oauth2_pr"
    FOREIGN KEY ("application_id") REFERENCES "oauth2_provider_application" ("id") DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE "oauth2_provider_idtoken"
    ADD CONSTRAINT "oauth2_provider_idtoken_user_id_dd512b59_fk_auth_user_id"
    FOREIGN KEY ("user_id") REFERENCES "auth_user" ("id") DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX "oauth2_provider_idtoken_application_id_08c5ff4f"
    ON "oauth2_provider_idtoken" ("application_id");
CREATE INDEX "oauth2_provider_idtoken_user_id_dd512b59"
    ON "oauth2_provider_idtoken" ("user_id");

-- 0005_auto_20211222_2352 changes only Django's related names: no SQL.

COMMIT;
