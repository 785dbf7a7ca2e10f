# The oauth2 scheme where features compose (SECURITY.md, "Fixed"):
#  - one issuer, two locations, each with its own HMAC secret (a rotation):
#    a verdict cached where the old secret is known is never served where
#    only the new one is;
#  - two nodes sharing a cache, each with a key file at the same path but
#    other keys in it: a verdict of one node's keys is never served by the
#    other;
#  - two locations reading one stored token through one cache with
#    different AuthOAuth2CacheTTL: each TTL holds where it is read;
#  - an exp at the edge of what a JSON number holds exactly (2^53 - 1).
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test;
use Apache::TestRequest;
use Apache::TestUtil;
use Crypt::PRNG ();
use File::Temp qw(tempdir);
use LWP::UserAgent;
use Time::HiRes qw(sleep);
use ChainTest;
use OAuth2Test;

plan tests => 9;

# (status, REMOTE_USER or error_description) of a GET with the token
sub answer {
    my ($url, $token) = @_;
    my $res = GET $url, Authorization => "Bearer $token";
    return [$res->code, $res->code == 200 ? identity($res)->{REMOTE_USER}
                                           : (bearer_params($res) // {})->{error_description}];
}

# --- an HMAC secret rotated in one location --------------------------------------
my $old = mint(alg => 'HS256', key => hmac_secret('rotate-old'),
               claims => { iss => ISS_ROTATE, sub => 'rotated' });
ok t_cmp(answer('/compose/hmac/old/env', $old), [200, 'rotated'],
         'a token signed with the old secret is granted where it is known');
ok t_cmp(answer('/compose/hmac/new/env', $old), [401, 'bad signature'],
         'and refused where the issuer has only the new secret, '
         . 'though both cache (TTL 300) and judge alike otherwise');

# --- stored tokens: the reading location's TTL --------------------------------------
psql(q{INSERT INTO auth_user (id, password, is_superuser, username, first_name,
       last_name, email, is_staff, is_active, date_joined) VALUES
       (1402, '!', false, 'composedot', '', '', '', false, true, now())});
my $token = Crypt::PRNG::random_string(30);
psql("INSERT INTO oauth2_provider_accesstoken (token, token_checksum, expires,
      scope, application_id, user_id, created, updated) VALUES ('$token',
      encode(sha256('$token'::bytea), 'hex'), now() + interval '1 hour', 'read',
      NULL, 1402, now(), now())");
ok t_cmp(answer('/compose/dot/env', $token), [200, 'composedot'],
         'a stored token is granted and cached for an hour (AuthOAuth2CacheTTL 3600)');
psql("DELETE FROM oauth2_provider_accesstoken WHERE token = '$token'");
sleep 1.3;
ok t_cmp(answer('/compose/dot/short/env', $token), [401, 'unknown token'],
         'where AuthOAuth2CacheTTL is 1, the hour-old answer is not used once '
         . 'it is older than 1 s: the deleted token is refused');

# --- exp = 2^53 - 1 ------------------------------------------------------------------
my $far = mint(claims => { sub => 'farexp', exp => 9007199254740991 });
my @codes = map { (GET '/compose/anyaud/env', Authorization => "Bearer $far")->code }
            1, 2;
ok t_cmp("@codes", '200 200',
         'a JWT with exp 2^53 - 1 is granted, judged and then from the cache');

# --- two nodes, one cache, one key path, other keys ----------------------------
my $dir = tempdir(CLEANUP => 1);
my ($cache_pid, $cache_port) = start_cache_server('memcache', $dir);
my @nodes;
END {
    stop_httpd($_->{conf}) for @nodes;
    if ($cache_pid) {
        kill 'TERM', $cache_pid;
        waitpid $cache_pid, 0;
    }
}
my @keys = map { new_ec_key() } 1, 2;
for my $n (0, 1) {
    my $root = "$dir/node$n";
    mkdir $root;
    OAuth2Test::write_file("$root/keys.json",
        json({ keys => [public_jwk($keys[$n], 'nodes-1')] }));
    push @nodes, start_api_node($root, stock => ['socache_memcache'],
        ours => [[authn_oauth2 => 'modules/oauth2/.libs/mod_authn_oauth2.so']],
        server => "AuthOAuth2Cache memcache:127.0.0.1:$cache_port",
        location => join("\n", '    AuthChain oauth2',
                         '    AuthOAuth2Issuer https://nodes.authchain.test keys.json',
                         '    AuthOAuth2Audience *',
                         '    AuthOAuth2CacheTTL 300'));
}
my $ua = LWP::UserAgent->new(timeout => 10);
my $signed = mint(alg => 'ES256', key => $keys[0], kid => 'nodes-1',
                  claims => { iss => 'https://nodes.authchain.test' });
my @status = map { $ua->get("http://127.0.0.1:$_->{port}/api/",
                            Authorization => "Bearer $signed")->code } @nodes;
ok t_cmp($status[0], 200, 'node 1 grants a token of its key (and caches it)');
ok t_cmp($status[1], 401,
         'node 2, whose key file at the same path holds another key, refuses it');
ok t_cmp(cache_items('memcache', $cache_port) >= 1, 1,
         'the cache server holds the verdicts');
$signed = mint(alg => 'ES256', key => $keys[1], kid => 'nodes-1',
               claims => { iss => 'https://nodes.authchain.test' });
@status = map { $ua->get("http://127.0.0.1:$_->{port}/api/",
                         Authorization => "Bearer $signed")->code } reverse @nodes;
ok t_cmp("@status", '200 401', 'and the other way round');
