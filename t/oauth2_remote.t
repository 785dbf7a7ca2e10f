# The oauth2 scheme against remote parties: a JWK Set URL that rotates
# its key (old kid, then new kid) and an RFC 7662 introspection endpoint,
# both served by a local test endpoint (t/lib/OAuth2Test.pm, HTTP::Daemon
# on 127.0.0.1) to an httpd of this test's own (one child process), then
# the same parties down,
# slow or unreachable: keys already fetched keep serving, the rest is 503
# with Retry-After, never 401.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test;
use Apache::TestUtil;
use File::Temp qw(tempdir);
use LWP::UserAgent;
use MIME::Base64 qw(encode_base64);
use Time::HiRes qw(time sleep);
use ChainTest;
use OAuth2Test;

plan tests => 35;

my $dir = tempdir(CLEANUP => 1);
my $ep = "$dir/endpoint";
mkdir $ep or die "$ep: $!";
my %key = map { $_ => new_ec_key() } qw(old new newer);
sub jwks_of { return { keys => [map { public_jwk($key{$_}, $_) } @_] } }

endpoint_write($ep, 'jwks.json', jwks_of('old'));
endpoint_write($ep, 'client', 'rs-client:rs-secret');
endpoint_write($ep, 'introspect.json', {});
my ($ep_pid, $ep_port) = start_endpoint($ep);
my $conf = "$dir/httpd.conf";
END {
    # also when the test dies half-way: no endpoint or httpd left behind
    stop_endpoint($ep_pid) if $ep_pid;
    stop_httpd($conf) if -e "$dir/httpd.pid";
}
my $dead_port = free_port();     # nothing listens there
my $url = "http://127.0.0.1:$ep_port";
my $dead = "http://127.0.0.1:$dead_port";

my $port = free_port();
my $env_cgi = Apache::Test::vars('documentroot') . '/env.cgi';
{
    my $common = "    AuthType Chain\n    AuthName \"remote\"\n    AuthChain oauth2\n"
               . "    AuthOAuth2Audience api://authchain\n    Require valid-user\n";
    open my $fh, '>', $conf or die "$conf: $!";
    print $fh httpd_config(
        dir => $dir, port => $port,
        stock => [qw(mpm_prefork authn_core authz_core authz_user
                     socache_shmcb alias cgi)],
        ours => [[auth_chain => 'modules/chain/.libs/mod_auth_chain.so'],
                 [authn_oauth2 => 'modules/oauth2/.libs/mod_authn_oauth2.so']],
        body => <<EOC);
StartServers 1
MinSpareServers 1
MaxSpareServers 1
MaxRequestWorkers 1
KeepAlive Off
ScriptAliasMatch "^/[a-z0-9/]*/env\$" "$env_cgi"
<Location /jwks>
$common    AuthOAuth2Issuer https://rotating.test $url/jwks
</Location>
<Location /refresh>
$common    AuthOAuth2Issuer https://refresh.test $url/jwks-refresh
    AuthOAuth2CacheTTL 0
</Location>
<Location /broken>
$common    AuthOAuth2Issuer https://broken.test $url/nokeys
</Location>
<Location /dead>
$common    AuthOAuth2Issuer https://dead.test $dead/jwks
    AuthOAuth2Timeout 2
</Location>
<Location /introspect>
$common    AuthOAuth2Introspect $url/introspect
    AuthOAuth2ClientID rs-client
    AuthOAuth2ClientSecret rs-secret
    AuthOAuth2Timeout 2
    AuthOAuth2CacheTTL 0
</Location>
<Location /introspect/cached>
    AuthOAuth2CacheTTL 60
</Location>
<Location /introspect/badclient>
    AuthOAuth2ClientSecret not-the-secret
</Location>
<Location /introspect/dead>
    AuthOAuth2Introspect $dead/introspect
</Location>
<Location /metrics>
    SetHandler auth-chain-metrics
</Location>
EOC
    close $fh;
}
start_httpd($conf, $port);

my $ua = LWP::UserAgent->new(timeout => 20);
sub call {
    my ($path, $token) = @_;
    return $ua->get("http://127.0.0.1:$port$path",
                    Authorization => "Bearer $token");
}
sub answer {
    my ($res) = @_;
    my $p = bearer_params($res) // {};
    return [$res->code, $res->code == 200 ? identity($res)->{REMOTE_USER}
                                           : $p->{error_description}];
}
sub jwt {
    my ($iss, $kid, $sub) = @_;
    return mint(alg => 'ES256', key => $key{$kid}, kid => $kid,
                claims => { iss => $iss, sub => $sub });
}
sub fetches { return scalar @{ endpoint_requests($ep, qr{^GET /jwks }) } }

# --- a JWK Set URL that rotates its key ---------------------------------------

ok t_cmp(answer(call('/jwks/env', jwt('https://rotating.test', 'old', 'rot1'))),
         [200, 'rot1'], 'a token of the old kid: granted with the JWK Set fetched at start-up');
ok t_cmp(answer(call('/jwks/env', jwt('https://rotating.test', 'old', 'rot2'))),
         [200, 'rot2'], 'a second token of that kid is granted');
ok t_cmp(fetches(), 1, 'from the keys fetched once');
my $jwks_ok = 'authchain_jwks_fetches_total{scheme="oauth2",result="ok"}';
my $jwks_error = 'authchain_jwks_fetches_total{scheme="oauth2",result="error"}';
# the watchdog's first round: two JWK Sets fetched (/jwks, /refresh), two
# not (/broken answers no keys, /dead within its 2 s timeout)
my $m0;
for (1 .. 50) {
    $m0 = metrics("http://127.0.0.1:$port/metrics");
    last if $m0->{$jwks_ok} + $m0->{$jwks_error} >= 4;
    sleep 0.1;
}
ok t_cmp([$m0->{$jwks_ok}, $m0->{$jwks_error}], [2, 2],
         'the metrics count the fetches of the first round: 2 ok, 2 failed');

endpoint_write($ep, 'jwks.json', jwks_of('new'));
ok t_cmp(answer(call('/jwks/env', jwt('https://rotating.test', 'new', 'rot3'))),
         [200, 'rot3'], 'after the rotation a token of the new kid is granted');
ok t_cmp(fetches(), 2, 'the unknown kid made one refetch');
ok t_cmp(metrics("http://127.0.0.1:$port/metrics")->{$jwks_ok} - $m0->{$jwks_ok}, 1,
         'which the metrics count');
ok t_cmp(answer(call('/jwks/env', jwt('https://rotating.test', 'old', 'rot4'))),
         [401, 'unknown key'], 'the old kid, no longer published, is an unknown key');
endpoint_write($ep, 'jwks.json', jwks_of('new', 'newer'));
ok t_cmp(answer(call('/jwks/env', jwt('https://rotating.test', 'newer', 'rot5'))),
         [401, 'unknown key'],
         'another unknown kid within 60 s is an unknown key');
ok t_cmp(fetches(), 2, 'without a refetch (at most one per AuthOAuth2JWKSRefreshMin, 60 s, per URL)');
ok t_cmp(answer(call('/jwks/env', jwt('https://rotating.test', 'new', 'rot6'))),
         [200, 'rot6'], 'the new kid keeps working');

ok t_cmp(answer(call('/refresh/env', jwt('https://refresh.test', 'newer', 'ref1'))),
         [200, 'ref1'], 'a second issuer on another URL has keys of its own');

my $res = call('/broken/env', jwt('https://broken.test', 'new', 'brk'));
ok t_cmp([$res->code, $res->header('Retry-After') ? 1 : 0], [503, 1],
         'a JWK Set URL answering 404 with no keys yet: 503 with Retry-After');

# --- introspection ---------------------------------------------------------------

my $now = time;
endpoint_write($ep, 'introspect.json', {
    'opaque-active' => { active => JSON::PP::true, sub => 'intro',
                         scope => 'read write', client_id => 'cli-i',
                         exp => $now + 300, iss => 'https://as.test' },
    'opaque-inactive' => { active => JSON::PP::false },
    'opaque-expired' => { active => JSON::PP::true, sub => 'late', exp => $now - 100 },
    'opaque-cached' => { active => JSON::PP::true, sub => 'cachedintro',
                         exp => $now + 300 },
    'opaque-revoked' => { active => JSON::PP::true, sub => 'revoked',
                          exp => $now + 300 },
});
$res = call('/introspect/env', 'opaque-active');
my $env = identity($res);
ok t_cmp([$res->code, $env->{REMOTE_USER}, $env->{AUTH_CHAIN_SCOPES}],
         [200, 'intro', 'read write'],
         'an active token (introspection) is granted with its user and scopes');
ok t_cmp($env->{AUTH_CHAIN_DATA}, qr/"source":"introspection"/,
         'the auth data says source introspection');
my ($line) = @{ endpoint_requests($ep, qr{^POST /introspect .*body=(?:.*&)?token=opaque-active(?:&|$)}) };
ok t_cmp($line // '', qr{auth=\QBasic ${\ encode_base64('rs-client:rs-secret', '')}\E ctype=application/x-www-form-urlencoded},
         'the POST carries client_secret_basic and a form-encoded token');
ok t_cmp(answer(call('/introspect/env', 'opaque-inactive')), [401, 'token inactive'],
         'an inactive token is 401 token inactive');
ok t_cmp(answer(call('/introspect/env', 'opaque-unknown')), [401, 'token inactive'],
         'a token the server does not know (active false) too');
ok t_cmp(answer(call('/introspect/env', 'opaque-expired')), [401, 'token expired'],
         'an active answer with an exp in the past is refused: exp is honoured');
my $jwt_shaped = jwt('https://rotating.test', 'new', 'shape');
ok t_cmp(answer(call('/introspect/env', $jwt_shaped)), [401, 'token inactive'],
         'without issuers a JWT-shaped token is introspected too');

ok t_cmp(answer(call('/introspect/cached/env', 'opaque-cached')), [200, 'cachedintro'],
         'a token introspected with AuthOAuth2CacheTTL 60 is granted');
my $asked = @{ endpoint_requests($ep, qr{token=opaque-cached}) };
endpoint_write($ep, 'introspect.json', {
    'opaque-cached' => { active => JSON::PP::false },
    'opaque-revoked' => { active => JSON::PP::false },
});
ok t_cmp(answer(call('/introspect/cached/env', 'opaque-cached')), [200, 'cachedintro'],
         'and stays granted from the cache after the server revoked it');
ok t_cmp(scalar @{ endpoint_requests($ep, qr{token=opaque-cached}) }, $asked,
         'without asking the server again');
ok t_cmp(answer(call('/introspect/env', 'opaque-revoked')), [401, 'token inactive'],
         'with AuthOAuth2CacheTTL 0 the revocation is seen at once');

$res = call('/introspect/badclient/env', 'opaque-active');
ok t_cmp([$res->code, $res->header('Retry-After') ? 1 : 0], [503, 1],
         'an endpoint refusing our client credentials (401): 503, not 401');

endpoint_write($ep, 'slow', '');
my $t0 = time;
$res = call('/introspect/env', 'opaque-slow');
my $took = time - $t0;
ok t_cmp([$res->code, $took < 4 ? 1 : 0], [503, 1],
         'an endpoint slower than AuthOAuth2Timeout 2: 503 within the timeout');
unlink "$ep/slow";
sleep 3.5;      # the endpoint finishes its slow answer

# --- the endpoint down -----------------------------------------------------------

stop_endpoint($ep_pid);
$ep_pid = 0;
ok t_cmp(answer(call('/refresh/env', jwt('https://refresh.test', 'newer', 'ref2'))),
         [200, 'ref2'],
         'JWK Set endpoint down: the keys already fetched keep serving');
ok t_cmp(answer(call('/refresh/env', jwt('https://refresh.test', 'newer', 'ref3'))),
         [200, 'ref3'], 'and keep serving on the next request');
ok t_cmp(answer(call('/jwks/env', jwt('https://rotating.test', 'new', 'rot7'))),
         [200, 'rot7'], 'the cached keys of the other issuer serve too');

$t0 = time;
$res = call('/dead/env', jwt('https://dead.test', 'new', 'dead'));
$took = time - $t0;
ok t_cmp([$res->code, $res->header('Retry-After') ? 1 : 0], [503, 1],
         'a JWK Set URL unreachable with no keys yet: 503 with Retry-After');
ok t_cmp($took < 3 ? 1 : 0, 1, 'within AuthOAuth2Timeout');
my $m1 = metrics("http://127.0.0.1:$port/metrics");
ok t_cmp($m1->{$jwks_error} - $m0->{$jwks_error} >= 1 ? 1 : 0, 1,
         'the metrics count the failed fetches');
$res = call('/introspect/env', 'opaque-active');
ok t_cmp([$res->code, $res->header('Retry-After') ? 1 : 0], [503, 1],
         'the introspection endpoint down: 503 with Retry-After, not 401');
$res = call('/introspect/dead/env', 'opaque-active');
ok t_cmp([$res->code, $res->header('Retry-After') ? 1 : 0], [503, 1],
         'an introspection URL where nothing listens: 503');

my $log = '';
if (open my $fh, '<', "$dir/error_log") { local $/; $log = <$fh>; }
ok t_cmp([$log =~ /(exit signal|Segmentation fault)/g], [],
         'no httpd child crashed');
