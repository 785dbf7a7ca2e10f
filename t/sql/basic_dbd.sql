-- Users for the `AuthChainBasicProvider dbd` and `socache dbd` tests.
-- dbduser's password is "dbpass", cacheuser's "cachepw" (htpasswd -s).
DROP TABLE IF EXISTS chain_users;
CREATE TABLE chain_users (
    username text PRIMARY KEY,
    password text NOT NULL
);
INSERT INTO chain_users VALUES
    ('dbduser', '{SHA}dF0LI4DiE1PVJttHqHFY8gZVY+4='),
    ('cacheuser', '{SHA}SLivBg1SB08Pkz6AO3Y5fWm/Ds4=');
