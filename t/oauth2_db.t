# The oauth2 scheme with opaque tokens in PostgreSQL, in the tables of
# django-oauth-toolkit, created as Django's migrations create them: 3.x's
# (t/sql/dot.sql, in public: rows with token and token_checksum = hex
# SHA-256 of the token), and 1.x/2.x's (t/sql/dot1.sql, in the schema dot1:
# rows with the token alone), their layout detected (AuthOAuth2DBSchema
# dot) or written (dot1, dot3); rows inserted here as the toolkit writes
# them, looked up by httpd.  A layout that does not fit is a configuration
# error: at start-up (`httpd -t`, a start), and at request time (503,
# logged as such with the directive's file:line, never as an outage); the
# tables migrated under the running server; and a database that cannot be
# reached (503).  Recovery after PostgreSQL restarts is the shared pool's
# (modules/common/ac_pg), proven by t/token_outage.t; stopping the server
# here would also break the pooled mod_dbd connections of the tests that
# run after this one.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test;
use Apache::TestRequest;
use Apache::TestUtil;
use Crypt::PRNG ();
use File::Temp qw(tempdir);
use JSON::PP ();
use Time::HiRes qw(time sleep);
use ChainTest;
use OAuth2Test;

plan tests => 41;

# A token as oauthlib generates them: 30 letters and digits.
sub new_token { return Crypt::PRNG::random_string(30) }

psql(q{INSERT INTO auth_user (id, password, is_superuser, username, first_name,
       last_name, email, is_staff, is_active, date_joined) VALUES
       (501, '!', false, 'dotalice', '', '', 'alice@example.org', false, true, now()),
       (502, '!', false, 'dotgone', '', '', '', false, false, now())});
psql(q{INSERT INTO oauth2_provider_application (id, client_id, redirect_uris,
       client_type, authorization_grant_type, client_secret, name,
       skip_authorization, created, updated, user_id, algorithm,
       post_logout_redirect_uris, hash_client_secret, allowed_origins) VALUES
       (501, 'dot-client', '', 'confidential', 'password', 'x', 'dot test', false,
        now(), now(), NULL, '', '', true, '')});

# The same in the 1.x/2.x tables (django-oauth-toolkit 1.7's columns).
psql(q{INSERT INTO dot1.auth_user (id, password, is_superuser, username,
       first_name, last_name, email, is_staff, is_active, date_joined) VALUES
       (601, '!', false, 'dot1alice', '', '', '', false, true, now()),
       (602, '!', false, 'dot1gone', '', '', '', false, false, now()),
       (603, '!', false, 'dot1bob', '', '', '', false, true, now())});
psql(q{INSERT INTO dot1.oauth2_provider_application (id, client_id,
       redirect_uris, client_type, authorization_grant_type, client_secret,
       name, user_id, skip_authorization, created, updated, algorithm) VALUES
       (601, 'dot1-client', '', 'confidential', 'password', 'x', 'dot1 test',
        NULL, false, now(), now(), '')});

# Store a token for user $uid, expiring in $in (an interval), with $scope;
# $checksum_of: the text whose SHA-256 is stored (default the token).
# With `dot1 => 1`: in the 1.x/2.x tables, which hold the token alone
# (users 601..603).
sub store {
    my ($token, %o) = @_;
    my $uid = $o{user} // ($o{dot1} ? 601 : 501);
    my $in = $o{expires} // '1 hour';
    my $scope = $o{scope} // 'read write';
    my $sum = $o{checksum_of} // $token;
    my $stored = $o{stored} // $token;
    if ($o{dot1}) {
        psql("INSERT INTO dot1.oauth2_provider_accesstoken (token, expires,
              scope, application_id, user_id, created, updated)
              VALUES ('$stored', now() + interval '$in', '$scope', 601, $uid,
              now(), now())");
        return $token;
    }
    psql("INSERT INTO oauth2_provider_accesstoken (token, token_checksum,
          expires, scope, application_id, user_id, created, updated)
          VALUES ('$stored', encode(sha256('$sum'::bytea), 'hex'),
          now() + interval '$in', '$scope', 501, $uid, now(), now())");
    return $token;
}
sub store1 { return store(@_, dot1 => 1) }

sub answer {
    my ($url, $token) = @_;
    my $res = GET $url, Authorization => "Bearer $token";
    my $p = bearer_params($res) // {};
    return [$res->code, $res->code == 200 ? identity($res)->{REMOTE_USER}
                                           : $p->{error_description}];
}

my $token = store(new_token());
my $res = GET '/dot/env', Authorization => "Bearer $token";
my $env = identity($res);
ok t_cmp([$res->code, $env->{REMOTE_USER}, $env->{AUTH_CHAIN_SCOPES}],
         [200, 'dotalice', 'read write'],
         'a stored token is granted with its user and scopes');
my $data = eval { JSON::PP::decode_json($env->{AUTH_CHAIN_DATA}) } || {};
ok t_cmp([@$data{qw(scheme source client_id scope)}],
         ['oauth2', 'db', 'dot-client', 'read write'],
         'the auth data: source db, the application\'s client_id, the scope');
ok t_cmp(answer('/dot/env', store(new_token(), expires => '-1 minute')),
         [401, 'token expired'], 'an expired token is refused');
ok t_cmp(answer('/dot/env', new_token()), [401, 'unknown token'],
         'a token that is not stored is refused');
$res = GET '/dot/env', Authorization => 'Bearer ' . store(new_token(), user => 502);
ok t_cmp([$res->code, (bearer_params($res) // {})->{error}], [401, 'invalid_token'],
         'the token of an inactive user is refused');
ok t_cmp(answer('/dot/env', store(new_token(), stored => 'not-the-token')),
         [200, 'dotalice'], 'the lookup is by token_checksum');
ok t_cmp(answer('/dot/env', store('abcd.efgh.ijkl')), [200, 'dotalice'],
         'a JWT-shaped token goes to the database where no issuer is configured');

$res = GET '/dot/scoped/env', Authorization => 'Bearer ' . store(new_token(), scope => 'read');
ok t_cmp([$res->code, challenges($res)],
         [403, ['Bearer realm="dot", error="insufficient_scope", scope="write"']],
         'Require auth-scope write with a read token: 403 insufficient_scope');
ok t_cmp(answer('/dot/scoped/env', store(new_token(), scope => 'write')),
         [200, 'dotalice'], 'and granted with write');

# revocation (the row deleted) with and without the cache (TTL 2 s)
$token = store(new_token());
ok t_cmp(answer('/dot/env', $token), [200, 'dotalice'], 'a token is granted');
psql("DELETE FROM oauth2_provider_accesstoken WHERE token = '$token'");
ok t_cmp(answer('/dot/env', $token), [401, 'unknown token'],
         'and refused as soon as it is deleted (AuthOAuth2CacheTTL 0)');
$token = store(new_token());
ok t_cmp(answer('/dot/cached/env', $token), [200, 'dotalice'],
         'a token granted with AuthOAuth2CacheTTL 2');
psql("DELETE FROM oauth2_provider_accesstoken WHERE token = '$token'");
ok t_cmp(answer('/dot/cached/env', $token), [200, 'dotalice'],
         'stays accepted from the cache after its deletion');
sleep 2.5;
ok t_cmp(answer('/dot/cached/env', $token), [401, 'unknown token'],
         'until the TTL has passed');

# --- concurrent lookups, batched into shared statements (ac_pg_batch) ----------
# The table locked for a second, so that the lookups queue and go together
# (t/token_batch.t shows the batches themselves): each request must still
# get its own token's answer.
psql(q{INSERT INTO auth_user (id, password, is_superuser, username, first_name,
       last_name, email, is_staff, is_active, date_joined) VALUES
       (503, '!', false, 'dotbob', '', '', '', false, true, now())});
my $hostport = hostport_of();

# Requests [path, Authorization, status, what] at once, while the access
# token table (of the schema that PGOPTIONS names) is locked for a second
# so that their lookups queue and share statements; each must get its own
# answer.
sub each_own_answer {
    my ($name, @batch) = @_;
    my $locker = lock_tables(1, 'oauth2_provider_accesstoken');
    my @got = all_at_once(sub { answer_of($hostport, @_) }, @batch);
    close $locker or die "psql holding the lock failed: $?";
    my @wrong = grep { "$got[$_][0] $got[$_][1]"
                       ne "$batch[$_][2] $batch[$_][3]" } 0 .. $#batch;
    ok t_cmp(scalar(@wrong), 0,
             scalar(@batch) . " $name at once: each gets its own answer")
        or print map { "# $batch[$_][1]: got @{ $got[$_] }\n" } @wrong;
}

# Eight tokens of two users, stored with $store at $path, and the
# requests that refuse a token not stored and an expired one.
sub mixed_batch {
    my ($path, $store, $alice, $bob) = @_;
    return (
        (map { my $u = $_ % 2 ? $bob : $alice;
               [$path, 'Bearer ' . $store->(new_token(), user => $u->[0]),
                200, $u->[1]] } 1 .. 8),
        [$path, 'Bearer ' . new_token(), 401, 'unknown token'],
        [$path, 'Bearer ' . $store->(new_token(), expires => '-1 minute'),
         401, 'token expired']);
}

each_own_answer('stored tokens',
    mixed_batch('/dot/env', \&store, [501, 'dotalice'], [503, 'dotbob']),
    ['/dot/env', 'Bearer ' . store(new_token(), user => 502), 401,
     'user inactive']);

# --- django-oauth-toolkit before 3.0: no token_checksum ----------------------
# The token is the key (token varchar(255) UNIQUE): looked up by itself,
# each request's row picked by comparing the stored token in constant time.

$token = store1(new_token());
$res = GET '/dot1/env', Authorization => "Bearer $token";
$env = identity($res);
$data = eval { JSON::PP::decode_json($env->{AUTH_CHAIN_DATA} // '') } || {};
ok t_cmp([$res->code, $env->{REMOTE_USER}, $env->{AUTH_CHAIN_SCOPES},
          @$data{qw(source client_id)}],
         [200, 'dot1alice', 'read write', 'db', 'dot1-client'],
         '1.x tables, layout detected: a stored token is granted with its '
         . 'user, scopes and client_id');
ok t_cmp(answer('/dot1/env', store1(new_token(), expires => '-1 minute')),
         [401, 'token expired'], '1.x tables: an expired token is refused');
ok t_cmp(answer('/dot1/env', new_token()), [401, 'unknown token'],
         '1.x tables: a token that is not stored is refused');
ok t_cmp(answer('/dot1/env', store1(new_token(), user => 602)),
         [401, 'user inactive'],
         '1.x tables: the token of an inactive user is refused');
ok t_cmp(answer('/dot1/env', store(new_token())), [401, 'unknown token'],
         '1.x tables: a token of the 3.x tables (another schema) is unknown '
         . 'there');
$token = new_token();
store1($token);
ok t_cmp(answer('/dot1/env', substr($token, 0, 29)), [401, 'unknown token'],
         '1.x tables: the stored token is matched whole, not by a prefix');
ok t_cmp(answer('/dot1/env', 'x' x 300), [401, 'unknown token'],
         '1.x tables: a token longer than the column (255) is unknown, '
         . 'not a 503');
ok t_cmp(answer('/dot1/pinned/env', store1(new_token())), [200, 'dot1alice'],
         'AuthOAuth2DBSchema dot1 on the 1.x tables: a stored token is '
         . 'granted');
ok t_cmp(answer('/dot/pinned/env', store(new_token())), [200, 'dotalice'],
         'AuthOAuth2DBSchema dot3 on the 3.x tables: a stored token is '
         . 'granted');

# concurrent lookups in the 1.x tables, batched: each request picks the
# row of its own token among those of the statement
{
    # LOCK TABLE names the table of the schema dot1
    local $ENV{PGOPTIONS} = '-csearch_path=dot1';
    each_own_answer('tokens of the 1.x tables',
        mixed_batch('/dot1/env', \&store1, [601, 'dot1alice'],
                    [603, 'dot1bob']));
}

# --- a table that does not fit, at request time: a configuration error -------
# (The start-up check refuses what it finds at start; tables changed
# afterwards are found out by the lookups.)

# Where t/conf/extra.conf says AuthOAuth2DB for /dot1: the log names it.
my $extra = Apache::Test::vars('serverroot') . '/conf/extra.conf';
my $db1_line = do {
    open my $fh, '<', $extra or die "$extra: $!";
    my $n = 0;
    my $found;
    while (<$fh>) {
        $n++;
        if (/^\s*AuthOAuth2DB .*search_path=dot1"$/) { $found = $n; last }
    }
    $found // die "no AuthOAuth2DB for /dot1 in $extra";
};
$token = store1(new_token());
psql('ALTER TABLE dot1.oauth2_provider_accesstoken RENAME COLUMN scope TO scope_renamed');
my $mark = error_log_size();
$res = GET '/dot1/env', Authorization => "Bearer $token";
my $log = error_log_since($mark);
ok t_cmp([$res->code, $res->header('Retry-After') ? 1 : 0], [503, 1],
         'a column missing at request time: 503 with Retry-After (the token '
         . 'cannot be judged)');
my $want = 'AuthOAuth2DB at \S*extra\.conf:' . $db1_line
         . ': configuration error, not an outage: .*column t\.scope does not exist';
ok t_cmp([$log =~ /$want/ ? 1 : 0,
          $log =~ /database unavailable/ ? 1 : 0], [1, 0],
         'logged as a configuration error naming AuthOAuth2DB and its '
         . "file:line (extra.conf:$db1_line), never as database unavailable")
    or print map { "# $_\n" } split /\n/, $log;
psql('ALTER TABLE dot1.oauth2_provider_accesstoken RENAME COLUMN scope_renamed TO scope');
ok t_cmp(answer('/dot1/env', $token), [200, 'dot1alice'],
         'answered again as soon as the column is back, without a restart');

# --- the start-up check (httpd -t, and a start) ----------------------------------

my $httpd = Apache::Test::vars('httpd');
my $dir = tempdir(CLEANUP => 1);
my $port = free_port();
my $dot1_db = test_db() . ' options=-csearch_path=dot1';

# A configuration of its own: AuthOAuth2DB "$conninfo" (and
# AuthOAuth2DBSchema $schema) for /api.  Returns its file.
sub db_conf {
    my ($conninfo, $schema) = @_;
    return api_conf(
        dir => $dir, port => $port,
        ours => [[authn_oauth2 => 'modules/oauth2/.libs/mod_authn_oauth2.so']],
        location => "    AuthChain oauth2\n    AuthOAuth2DB \"$conninfo\""
                    . ($schema ? "\n    AuthOAuth2DBSchema $schema" : ''));
}

# `httpd -t`: [failed (0/1), what it said].
sub config_test {
    my $conf = db_conf(@_);
    my $out = `$httpd -t -f $conf 2>&1`;
    return [$? == 0 ? 0 : 1, $out];
}

ok t_cmp(config_test($dot1_db),
         [0, qr/AuthOAuth2DB\sat\s\S+:\d+:\sdjango-oauth-toolkit\s1\.x\/2\.x\s
                \(without\stoken_checksum\)\stables.*Syntax\sOK/sx],
         'httpd -t: the 1.x tables pass the start-up check, their layout '
         . 'named');
ok t_cmp(config_test(test_db(), 'dot3'),
         [0, qr/django-oauth-toolkit 3\.x \(with token_checksum\) tables/],
         'httpd -t: AuthOAuth2DBSchema dot3 on the 3.x tables passes');
ok t_cmp(config_test($dot1_db, 'dot3'),
         [1, qr/configuration\serror:\sAuthOAuth2DBSchema\sdot3\sat\s\S+:\d+\s
                does\snot\sfit\sthe\stables\sof\sAuthOAuth2DB\sat\s\S+:\d+:\s
                they\sare\sdjango-oauth-toolkit\s1\.x\/2\.x/x],
         'httpd -t: AuthOAuth2DBSchema dot3 on the 1.x tables stops httpd, '
         . 'naming both directives');
ok t_cmp(config_test(test_db(), 'dot1'),
         [1, qr/AuthOAuth2DBSchema\sdot1\s.*\sdoes\snot\sfit\s.*\sthey\sare\s
                django-oauth-toolkit\s3\.x/x],
         'httpd -t: AuthOAuth2DBSchema dot1 on the 3.x tables stops httpd');
ok t_cmp(config_test(test_db() . ' options=-csearch_path=nosuch'),
         [1, qr/AuthOAuth2DB at \S+:\d+: no table oauth2_provider_accesstoken/],
         'httpd -t: a database without django-oauth-toolkit\'s tables stops '
         . 'httpd');
psql('DROP SCHEMA IF EXISTS dot_half CASCADE; CREATE SCHEMA dot_half;
      CREATE TABLE dot_half.oauth2_provider_accesstoken
          (LIKE dot1.oauth2_provider_accesstoken)');
ok t_cmp(config_test(test_db() . ' options=-csearch_path=dot_half'),
         [1, qr/the\sdatabase\srefuses\sthe\slookup\sof\s
                django-oauth-toolkit's\stokens:\srelation\s"auth_user"\s
                does\snot\sexist/x],
         'httpd -t: a table missing beside the access token table stops '
         . 'httpd, naming it');
psql('DROP SCHEMA dot_half CASCADE');
ok t_cmp(config_test("host=$dir/no-such-socket-dir dbname=nothing", 'dot3'),
         [0, qr/cannot check its tables now.*Syntax OK/s],
         'httpd -t: a database that cannot be reached does not stop httpd '
         . '(a warning)');
{
    my $conf = db_conf($dot1_db, 'dot3');
    my $out = `$httpd -k start -f $conf 2>&1`;
    my $rc = $?;
    sleep 0.5;
    my $running = -e "$dir/httpd.pid";
    system($httpd, '-k', 'stop', '-f', $conf) if $running;
    ok t_cmp([$rc == 0 ? 0 : 1, $running ? 1 : 0, $out],
             [1, 0, qr/does not fit the tables/],
             'a start (httpd -k start) with a layout that does not fit fails, '
             . 'saying why');
}

# --- the tables migrated under the running server -------------------------------
# As django-oauth-toolkit 3.0's migration 0012_add_token_checksum does, and
# back: the statements prepared on the old tables and the layout detected
# before must not turn requests into 503s.

# $n requests to $path on fresh connections (spread over the children)
# with tokens of the dot1 tables: (how many were granted, the log
# meanwhile).
sub granted_of {
    my ($path, $n) = @_;
    my @tokens = map { store1(new_token()) } 1 .. $n;
    my $from = error_log_size();
    my $ok = grep { answer_of($hostport, $path, "Bearer $_")->[0] == 200 }
             @tokens;
    return ($ok, error_log_since($from));
}

# The 1.x layout back whatever happens (graceful restarts of later tests
# check the tables again).
my $migrated = 0;
sub migrate_back {
    return unless $migrated;
    $migrated = 0;
    psql('DROP TRIGGER IF EXISTS checksum ON dot1.oauth2_provider_accesstoken;
          DROP FUNCTION IF EXISTS dot1.checksum();
          ALTER TABLE dot1.oauth2_provider_accesstoken DROP COLUMN token_checksum;
          ALTER TABLE dot1.oauth2_provider_accesstoken
              ALTER COLUMN token TYPE varchar(255);
          ALTER TABLE dot1.oauth2_provider_accesstoken
              ADD CONSTRAINT oauth2_provider_accesstoken_token_key UNIQUE (token);
          CREATE INDEX oauth2_provider_accesstoken_token_8af090f8_like
              ON dot1.oauth2_provider_accesstoken (token varchar_pattern_ops)');
}
END { local $?; migrate_back() }

my ($before) = granted_of('/dot1/env', 4);
$migrated = 1;
psql(q{ALTER TABLE dot1.oauth2_provider_accesstoken
           ADD COLUMN token_checksum varchar(64) NULL;
       ALTER TABLE dot1.oauth2_provider_accesstoken
           DROP CONSTRAINT oauth2_provider_accesstoken_token_key;
       DROP INDEX dot1.oauth2_provider_accesstoken_token_8af090f8_like;
       ALTER TABLE dot1.oauth2_provider_accesstoken
           ALTER COLUMN token TYPE text USING token::text;
       UPDATE dot1.oauth2_provider_accesstoken
           SET token_checksum = encode(sha256(token::bytea), 'hex');
       ALTER TABLE dot1.oauth2_provider_accesstoken
           ALTER COLUMN token_checksum SET NOT NULL;
       ALTER TABLE dot1.oauth2_provider_accesstoken
           ADD CONSTRAINT oauth2_provider_accesstoken_token_checksum_85319a26_uniq
           UNIQUE (token_checksum)});
# from now on rows carry their checksum, as 3.x writes them
psql(q{CREATE FUNCTION dot1.checksum() RETURNS trigger LANGUAGE plpgsql AS
       'BEGIN NEW.token_checksum := encode(sha256(NEW.token::bytea), ''hex'');
       RETURN NEW; END';
       CREATE TRIGGER checksum BEFORE INSERT ON dot1.oauth2_provider_accesstoken
           FOR EACH ROW EXECUTE FUNCTION dot1.checksum()});
my ($after, $log_after) = granted_of('/dot1/env', 8);
ok t_cmp([$before, $after, $log_after =~ /database unavailable/ ? 1 : 0],
         [4, 8, 0],
         'the 1.x tables migrated to 3.x under the running server: every '
         . 'token still granted (the statements prepared before replaced), '
         . 'no outage logged')
    or print map { "# $_\n" } split /\n/, $log_after;
my ($late) = granted_of('/dot1/late/env', 8);
ok t_cmp($late, 8,
         'the migrated tables first asked through another AuthOAuth2DB: '
         . 'found to be 3.x, every token granted');
migrate_back();
my ($back, $log_back) = granted_of('/dot1/env', 8);
ok t_cmp([$back, $log_back =~ /database unavailable/ ? 1 : 0], [8, 0],
         'and migrated back: every token still granted, no outage logged')
    or print map { "# $_\n" } split /\n/, $log_back;
($late, $log_back) = granted_of('/dot1/late/env', 8);
ok t_cmp([$late, $log_back =~ /AC0522: .*1\.x\/2\.x .*now \(migrated\)/ ? 1 : 0],
         [8, 1],
         'where the 3.x layout was found, the lookups refused after the '
         . 'migration back find the 1.x layout and are made again: every '
         . 'token granted')
    or print map { "# $_\n" } split /\n/, $log_back;

# --- the database down ---------------------------------------------------------

{
    local $Apache::TestRequest::Module = 'oauth2_db_down';
    $res = GET '/dot/env', Authorization => "Bearer " . new_token();
    ok t_cmp([$res->code, $res->header('Retry-After') ? 1 : 0], [503, 1],
             'a database that was never reachable: 503 with Retry-After');
}

