# The token scheme, native keys: `Authorization: Token <key>` with keys
# issued by authchain-token and stored hashed in PostgreSQL.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test;
use Apache::TestRequest;
use Apache::TestUtil;
use Time::HiRes qw(sleep time);
use ChainTest;

plan tests => 35;

sub refused_with {
    my ($url, $auth, $reason, $name) = @_;
    my $res = GET $url, Authorization => $auth;
    ok t_cmp([$res->code, challenges($res)->[0]],
             [401, qq{Token realm="api", error="invalid_token", error_description="$reason"}],
             $name);
}

my $key = new_key('tokalice', '--name', 'ci', '--scope', 'read',
                  '--scope', 'write');
my $res = GET '/token/env', Authorization => "Token $key";
my $env = identity($res);
ok t_cmp([$res->code, $env->{REMOTE_USER}], [200, 'tokalice'],
         'a key issued by the CLI authenticates its user');
ok t_cmp([$env->{AUTH_TYPE}, $env->{AUTH_CHAIN_SCHEME}], ['Token', 'token'],
         'AUTH_TYPE is Token, the scheme token');
ok t_cmp($env->{AUTH_CHAIN_SCOPES}, 'read write', 'the key\'s scopes');
ok t_cmp($env->{AUTH_CHAIN_DATA},
         qr/^\{"scheme":"token","id":\d+,"name":"ci","scopes":\["read","write"\],"expires":null\}$/,
         'the auth data: id, name, scopes, expiry');

$res = GET '/token/env', Authorization => "tOkEn $key";
ok t_cmp($res->code, 200, 'the keyword is case-insensitive');

$res = GET '/token/env';
ok t_cmp(challenges($res), ['Token realm="api"', 'Basic realm="api"'],
         'without credentials: the Token challenge first, no error');

refused_with('/token/env', 'Token',
             'Invalid token header. No credentials provided.',
             'the keyword alone is refused');
refused_with('/token/env', "Token $key extra",
             'Invalid token header. Token string should not contain spaces.',
             'a key with spaces is refused');
refused_with('/token/env', "Token caf\xc3\xa9",
             'Invalid token header. Token string should not contain invalid characters.',
             'a key with non-ASCII characters is refused');
refused_with('/token/env', 'Token ' . ('a' x 5000),
             'Invalid token header. Token string should not contain invalid characters.',
             'an over-long key is refused');

my $mark = error_log_size();
my $bad = $key;
substr($bad, -1, 1) = substr($bad, -1, 1) eq 'A' ? 'B' : 'A';
refused_with('/token/env', "Token $bad", 'Invalid token.',
             'a key with a wrong checksum is refused');
ok t_cmp(error_log_since($mark), qr/refused without a lookup/,
         'a bad checksum is refused without touching the database');
refused_with('/token/env', "Token act_x'OR'1'='1", 'Invalid token.',
             'an SQL-shaped key is only a malformed key');

my $ghost = new_key('tokghost');
psql("DELETE FROM authchain_token WHERE user_name = 'tokghost'");
$mark = error_log_size();
refused_with('/token/env', "Token $ghost", 'Invalid token.',
             'a well-formed key that is not stored is refused');
my $log = error_log_since($mark);
ok t_cmp($log, qr/AC0104: token: no key with SHA-256 [0-9a-f]{8}\.\.\./,
         'the log names the key by 8 characters of its hash');
ok t_cmp(index($log, $ghost), -1, 'the key itself never reaches the log');

my $revoked = new_key('tokrevoked');
token_cli('revoke', '--user', 'tokrevoked');
refused_with('/token/env', "Token $revoked", 'Token revoked.',
             'a revoked key is refused');

my $expiring = new_key('tokexpiring', '--expires', '1s');
sleep 1.5;
refused_with('/token/env', "Token $expiring", 'Token expired.',
             'an expired key is refused');

my $reader = new_key('tokreader', '--scope', 'read');
$res = GET '/token/scoped/env', Authorization => "Token $reader";
ok t_cmp($res->code, 403, 'Require auth-scope refuses a key without the scope');
$res = GET '/token/scoped/env', Authorization => "Token $key";
ok t_cmp($res->code, 200, 'Require auth-scope grants a key with the scope');

# only a space separates scopes (RFC 6749 section 3.3): Require auth-scope
# and the auth data both read a tab as part of a scope
my $tabbed = new_key('toktabbed');
psql("UPDATE authchain_token SET scopes = E' read\\twrite'"
     . " WHERE user_name = 'toktabbed'");
$res = GET '/token/scoped/env', Authorization => "Token $tabbed";
ok t_cmp($res->code, 403, 'a tab does not separate scopes for Require auth-scope');
$res = GET '/token/env', Authorization => "Token $tabbed";
ok t_cmp(identity($res)->{AUTH_CHAIN_DATA}, qr/"scopes":\["read\\twrite"\],/,
         'nor in the auth data\'s scopes');

$res = GET '/token/bearer/env', Authorization => "Bearer $key";
ok t_cmp(identity($res)->{REMOTE_USER}, 'tokalice',
         'AuthTokenKeyword Bearer reads Authorization: Bearer');
$res = GET '/token/bearer/env';
ok t_cmp(challenges($res)->[0], 'Bearer realm="api"',
         'and challenges with that keyword');

my $prefixed = new_key('tokprefixed', '--prefix', 'myco_');
$res = GET '/token/prefixed/env', Authorization => "Token $prefixed";
ok t_cmp($res->code, 200, 'AuthTokenPrefix accepts keys with that prefix');
refused_with('/token/prefixed/env', "Token $key", 'Invalid token.',
             'and refuses keys with another prefix');

# last_used: written after the response, at most once per interval
my $touched = new_key('toktouched');
GET '/token/env', Authorization => "Token $touched";
my $first = '';
for (1 .. 20) {
    $first = psql("SELECT last_used FROM authchain_token WHERE user_name = 'toktouched'");
    last if $first ne '';
    sleep 0.1;
}
ok t_cmp($first, qr/^\d{4}-/, 'the first use writes last_used');
sleep 1.1;
GET '/token/env', Authorization => "Token $touched";
sleep 0.5;
ok t_cmp(psql("SELECT last_used FROM authchain_token WHERE user_name = 'toktouched'"),
         $first, 'a second use within AuthTokenTouchInterval does not');

# The cache when no notification comes (a table without the trigger of
# sql/schema.sql, or the listener's connection down): revocation is seen
# once the TTL (2 s here) has passed.  session_replication_role = replica
# keeps this session's triggers silent.  (Notified revocation:
# t/token_revocation.t.)
sub revoke_silently {
    my ($user) = @_;
    psql("SET session_replication_role = replica; UPDATE authchain_token"
         . " SET revoked = now() WHERE user_name = '$user'");
}
my $cached = new_key('tokcached');
$res = GET '/token/cached/env', Authorization => "Token $cached";
ok t_cmp($res->code, 200, 'a key is granted and cached');
revoke_silently('tokcached');
$res = GET '/token/cached/env', Authorization => "Token $cached";
ok t_cmp($res->code, 200, 'within the TTL the cached answer stands');
sleep 2.5;
refused_with('/token/cached/env', "Token $cached", 'Token revoked.',
             'after the TTL the revocation is seen');

# rewriting a cached record to mark last_used does not extend its life:
# used every 0.3 s with a touch interval of 1 s, a key revoked at once is
# refused once the TTL (3 s) has passed
my $touchy = new_key('toktouchy');
$res = GET '/token/cachedtouch/env', Authorization => "Token $touchy";
ok t_cmp($res->code, 200, 'a key is granted and cached (TTL 3 s, touch 1 s)');
revoke_silently('toktouchy');
my $refused_after;
my $t0 = time;
for (1 .. 30) {
    $res = GET '/token/cachedtouch/env', Authorization => "Token $touchy";
    if ($res->code == 401) { $refused_after = time - $t0; last }
    select undef, undef, undef, 0.3;
}
ok t_cmp(defined $refused_after && $refused_after <= 5 ? 'refused' : 'still granted',
         'refused', 'a revoked key is refused within the TTL though touched');

# a cached grant never outlives the key's expiry, whatever the TTL
my $short = new_key('tokshort', '--expires', '2s');
$res = GET '/token/cachedlong/env', Authorization => "Token $short";
ok t_cmp($res->code, 200, 'a key about to expire is granted (TTL 300 s)');
sleep 2.5;
refused_with('/token/cachedlong/env', "Token $short", 'Token expired.',
             'and refused once it expired, though the TTL has not passed');
