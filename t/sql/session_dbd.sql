-- The mod_session_dbd store of the session tests (t/session_dbd.t), with
-- the columns the DBDPrepareSQL queries of t/conf/extra.conf.in use.
SET client_min_messages = warning;
DROP TABLE IF EXISTS session_dbd;
CREATE TABLE session_dbd (
    key varchar(36) PRIMARY KEY,
    value text NOT NULL,
    expiry bigint NOT NULL DEFAULT 0
);
