# The oauth2 scheme with opaque tokens in PostgreSQL, in the tables of
# django-oauth-toolkit (AuthOAuth2DBSchema dot, t/sql/dot.sql, created as
# Django's migrations create them): rows inserted here as the toolkit
# writes them (token, token_checksum = hex SHA-256 of the token), looked
# up by httpd; and a database that cannot be reached (503).  Recovery after
# PostgreSQL restarts is the shared pool's (modules/common/ac_pg), proven by
# t/token_outage.t; stopping the server here would also break the pooled
# mod_dbd connections of the tests that run after this one.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test;
use Apache::TestRequest;
use Apache::TestUtil;
use Crypt::PRNG ();
use JSON::PP ();
use Time::HiRes qw(time sleep);
use ChainTest;
use OAuth2Test;

plan tests => 16;

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

# Store a token for user $uid, expiring in $in (an interval), with $scope;
# $checksum_of: the text whose SHA-256 is stored (default the token).
sub store {
    my ($token, %o) = @_;
    my $uid = $o{user} // 501;
    my $in = $o{expires} // '1 hour';
    my $scope = $o{scope} // 'read write';
    my $sum = $o{checksum_of} // $token;
    my $stored = $o{stored} // $token;
    psql("INSERT INTO oauth2_provider_accesstoken (token, token_checksum,
          expires, scope, application_id, user_id, created, updated)
          VALUES ('$stored', encode(sha256('$sum'::bytea), 'hex'),
          now() + interval '$in', '$scope', 501, $uid, now(), now())");
    return $token;
}

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
my @batch = map {
    my $bob = $_ % 2;
    ['/dot/env', 'Bearer ' . store(new_token(), user => $bob ? 503 : 501),
     200, $bob ? 'dotbob' : 'dotalice']
} 1 .. 8;
push @batch,
    ['/dot/env', 'Bearer ' . new_token(), 401, 'unknown token'],
    ['/dot/env', 'Bearer ' . store(new_token(), expires => '-1 minute'), 401,
     'token expired'],
    ['/dot/env', 'Bearer ' . store(new_token(), user => 502), 401,
     'user inactive'];
my $hostport = hostport_of();
my $locker = lock_tables(1, 'oauth2_provider_accesstoken');
my @got = all_at_once(sub { answer_of($hostport, @_) }, @batch);
close $locker or die "psql holding the lock failed: $?";
my @wrong = grep { "$got[$_][0] $got[$_][1]" ne "$batch[$_][2] $batch[$_][3]" }
            0 .. $#batch;
ok t_cmp(scalar(@wrong), 0,
         scalar(@batch) . ' stored tokens at once: each gets its own answer')
    or print map { "# $batch[$_][1]: got @{ $got[$_] }\n" } @wrong;

# --- the database down ---------------------------------------------------------

{
    local $Apache::TestRequest::Module = 'oauth2_db_down';
    $res = GET '/dot/env', Authorization => "Bearer " . new_token();
    ok t_cmp([$res->code, $res->header('Retry-After') ? 1 : 0], [503, 1],
             'a database that was never reachable: 503 with Retry-After');
}

