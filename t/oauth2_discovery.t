# Remote keys, fetched in the background: issuer discovery (RFC 8414, and
# OpenID Connect Discovery as the fallback), the issuer of a discovery
# document checked byte for byte, JWK Sets refreshed by the watchdog
# before they expire (Cache-Control max-age, bounded by
# AuthOAuth2JWKSRefreshMin/Max), the last good keys serving through an
# outage that is logged once, kids missing from the keys not refetched
# again and again, and requests that never wait for a fetch in steady
# state.  The discovery documents and JWK Sets come from the suite's own
# local endpoint (t/lib/OAuth2Test.pm); httpd is one of this test's own,
# under the MPM of the run.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test;
use Apache::TestUtil;
use File::Temp qw(tempdir);
use LWP::UserAgent;
use Time::HiRes qw(time sleep);
use ChainTest;
use OAuth2Test;

plan tests => 24;

my $dir = tempdir(CLEANUP => 1);
my $ep = "$dir/endpoint";
mkdir $ep or die "$ep: $!";
my %key = map { $_ => new_ec_key() } qw(k1 k2 k3);
sub jwks_of { return { keys => [map { public_jwk($key{$_}, $_) } @_] } }

my $ep_port = free_port();
my $url = "http://127.0.0.1:$ep_port";
my %routes = (
    # RFC 8414 section 3.1: the well-known segment before the issuer's path
    '/.well-known/oauth-authorization-server/tenant' => { body => {
        issuer => "$url/tenant", jwks_uri => "$url/keys/a",
        introspection_endpoint => "$url/introspect" } },
    '/keys/a' => { body => jwks_of('k1'), cache_control => 'max-age=100' },
    # no RFC 8414 document: OpenID Connect's, after the issuer's path
    '/oidc/.well-known/openid-configuration' => { body => {
        issuer => "$url/oidc", jwks_uri => "$url/keys/b" } },
    '/keys/b' => { body => jwks_of('k1') },
    # a document that names another issuer
    '/.well-known/oauth-authorization-server/evil' => { body => {
        issuer => "$url/other", jwks_uri => "$url/keys/a" } },
    '/keys/rot' => { body => jwks_of('k1'), cache_control => 'max-age=1' },
    '/keys/neg' => { body => jwks_of('k1'), cache_control => 'max-age=100' },
    '/keys/out' => { body => jwks_of('k1'), cache_control => 'max-age=1' },
);
endpoint_write($ep, 'routes.json', \%routes);
endpoint_write($ep, 'introspect.json', {
    'opaque-1' => { active => JSON::PP::true, sub => 'intro', exp => time + 300 } });
my ($ep_pid) = start_endpoint($ep, $ep_port);

my $node;
END {
    # the endpoint first: a fetch in flight ends at once
    stop_endpoint($ep_pid) if $ep_pid;
    stop_httpd($node->{conf}) if $node;
}
my %issuer = (tenant => "$url/tenant discover", oidc => "$url/oidc discover",
              evil => "$url/evil discover", rot => "https://rot.test $url/keys/rot",
              neg => "https://neg.test $url/keys/neg",
              out => "https://out.test $url/keys/out");
my $sections = '';
for my $name (sort keys %issuer) {
    $sections .= "<Location /api/$name>\n    AuthOAuth2Issuer $issuer{$name}\n"
               . "    AuthOAuth2CacheTTL 0\n</Location>\n";
}
$sections .= "<Location /api/intro>\n    AuthOAuth2Issuer $url/tenant discover\n"
           . "    AuthOAuth2Introspect discover\n</Location>\n";
mkdir "$dir/node";
mkdir "$dir/node/api";
for my $name (keys %issuer, 'intro') {
    mkdir "$dir/node/api/$name";
    open my $fh, '>', "$dir/node/api/$name/index.html" or die "$name: $!";
    print $fh "ok\n";
    close $fh;
}
$node = start_api_node("$dir/node",
    ours => [[authn_oauth2 => 'modules/oauth2/.libs/mod_authn_oauth2.so']],
    server => "AuthOAuth2JWKSRefreshMin 1\nAuthOAuth2JWKSRefreshMax 3\n"
            . "AuthOAuth2DiscoveryRefresh 2\n$sections",
    location => "    AuthChain oauth2\n    AuthOAuth2Audience api://authchain");

my $ua = LWP::UserAgent->new(timeout => 20);
sub call {
    my ($path, $token) = @_;
    return $ua->get("http://127.0.0.1:$node->{port}$path",
                    Authorization => "Bearer $token");
}
sub jwt {
    my ($iss, $kid) = @_;
    return mint(alg => 'ES256', key => $key{$kid}, kid => $kid,
                claims => { iss => $iss });
}
sub code { return call(@_)->code }
sub gets { return scalar @{ endpoint_times($ep, $_[0]) } }
sub log_text {
    open my $fh, '<', $node->{log} or return '';
    local $/;
    return scalar <$fh>;
}
sub log_count { my ($re) = @_; my @m = log_text() =~ /$re/g; return scalar @m }
# wait (at most $secs) until $cond->() holds; returns whether it did
sub poll {
    my ($secs, $cond) = @_;
    my $until = time + $secs;
    while (time < $until) {
        return 1 if $cond->();
        sleep 0.05;
    }
    return $cond->() ? 1 : 0;
}

# --- discovery ---------------------------------------------------------------

ok t_cmp(code('/api/tenant/', jwt("$url/tenant", 'k1')), 200,
         'an issuer with a path, discovered (RFC 8414): its token is granted');
ok t_cmp([gets('/.well-known/oauth-authorization-server/tenant') >= 1,
          gets('/keys/a') >= 1, gets('/tenant/.well-known/oauth-authorization-server')],
         [1, 1, 0],
         'the document was read where RFC 8414 puts it, and jwks_uri taken from it');
ok t_cmp(code('/api/oidc/', jwt("$url/oidc", 'k1')), 200,
         'no RFC 8414 document: the OpenID Connect one is used');
ok t_cmp(gets('/keys/b') >= 1 ? 1 : 0, 1, 'with its jwks_uri');
my $res = call('/api/evil/', jwt("$url/evil", 'k1'));
ok t_cmp([$res->code, $res->header('Retry-After') ? 1 : 0], [503, 1],
         'a document whose issuer is another: refused, its tokens 503 (no keys)');
$res = call('/api/intro/', 'opaque-1');
ok t_cmp([$res->code, scalar @{ endpoint_requests($ep, qr{^POST /introspect .*token=opaque-1}) }],
         [200, 1], 'AuthOAuth2Introspect discover: the discovered introspection_endpoint is asked');

# an outage of one JWK Set URL begins (checked below, while it lasted)
my $t_fail = time;
endpoint_write($ep, 'fail', '/keys/out');

# --- unknown kids: refetch throttled, negative cache --------------------------

ok t_cmp(code('/api/neg/', jwt('https://neg.test', 'k1')), 200,
         'a known kid is granted');
my $before = gets('/keys/neg');
ok t_cmp(code('/api/neg/', jwt('https://neg.test', 'k2')), 401,
         'a kid missing from the keys is 401');
my $after = gets('/keys/neg');
ok t_cmp($after, $before + 1, 'after one refetch');
sleep 1.1;      # past AuthOAuth2JWKSRefreshMin 1: a refetch is allowed again
ok t_cmp([code('/api/neg/', jwt('https://neg.test', 'k2')), gets('/keys/neg')],
         [401, $after], 'the same missing kid again: no refetch (negative cache)');
ok t_cmp([code('/api/neg/', jwt('https://neg.test', 'k3')), gets('/keys/neg')],
         [401, $after + 1], 'another missing kid: one refetch');

# --- rotation picked up in the background ------------------------------------

my $t_rot = time;
$routes{'/keys/rot'}{body} = jwks_of('k1', 'k2');
endpoint_write($ep, 'routes.json', \%routes);
# the endpoint logs a fetch when it begins; the watchdog fetches one URL
# after another, so its next fetch of /keys/rot begins only once the
# first new keys are published
ok t_cmp(poll(4, sub { (grep { $_ > $t_rot } @{ endpoint_times($ep, '/keys/rot') }) >= 2 }), 1,
         'the rotated JWK Set is fetched with no request asking (max-age 1)');
ok t_cmp(code('/api/rot/', jwt('https://rot.test', 'k2')), 200,
         'a token of the new kid is granted');
ok t_cmp(log_count(qr/kid k2 is not in the keys of https:\/\/rot\.test/), 0,
         'without a refetch for it: the new keys were there already');

# --- Cache-Control honoured and bounded ---------------------------------------

poll(4, sub { gets('/keys/a') >= 2 });
my @a = @{ endpoint_times($ep, '/keys/a') };
my @r = @{ endpoint_times($ep, '/keys/rot') };
my @gaps = map { $r[$_] - $r[$_ - 1] } 1 .. $#r;
ok t_cmp([scalar(@r) >= 3 ? 1 : 0, (grep { $_ < 0.8 || $_ > 1.5 } @gaps) ? 0 : 1], [1, 1],
         'max-age=1 is honoured: fetched about every second') or print STDERR "# gaps: @gaps\n";
ok t_cmp(@a >= 2 && $a[1] - $a[0] > 2.5 && $a[1] - $a[0] < 3.5 ? 1 : 0, 1,
         'max-age=100 is bounded by AuthOAuth2JWKSRefreshMax 3') or print STDERR "# times: @a\n";

# --- an outage while serving ------------------------------------------------------

poll(3, sub { (grep { $_ > $t_fail } @{ endpoint_times($ep, '/keys/out') }) >= 2 });
ok t_cmp([map { code('/api/out/', jwt('https://out.test', 'k1')) } 1, 2], [200, 200],
         'JWK Set URL failing (503): the last good keys keep serving');
ok t_cmp([scalar(grep { $_ > $t_fail } @{ endpoint_times($ep, '/keys/out') }) >= 2 ? 1 : 0,
          log_count(qr/:error\].*cannot read the JWK Set of https:\/\/out\.test from \Q$url\E\/keys\/out: it answered 503/)],
         [1, 1], 'the failure is logged once, not once per attempt');
unlink "$ep/fail";
ok t_cmp(log_count(qr/:error\].*its issuer \Q$url\E\/other is not \Q$url\E\/evil \(refused\)/), 1,
         'the issuer mismatch was logged, once');
ok t_cmp(poll(3, sub { log_count(qr/JWK Set of https:\/\/out\.test at \Q$url\E\/keys\/out can be read again/) }),
         1, 'the recovery is logged too');

# --- a graceful restart ------------------------------------------------------------

# anonymous shared memory of the parent (ours: one mapping of all slots)
sub shared_maps {
    open my $fh, '<', "$node->{dir}/httpd.pid" or return -1;
    chomp(my $pid = <$fh>);
    open my $maps, '<', "/proc/$pid/maps" or return -1;
    return scalar grep { m{ /dev/zero \(deleted\)$} } <$maps>;
}
my $maps = shared_maps();
my $t_graceful = time;
system(Apache::Test::vars('httpd'), '-f', $node->{conf}, '-k', 'graceful') == 0
    or die 'graceful restart failed';
ok t_cmp([poll(3, sub { grep { $_ > $t_graceful } @{ endpoint_times($ep, '/keys/neg') } }),
          code('/api/rot/', jwt('https://rot.test', 'k2'))], [1, 200],
         'after a graceful restart the new generation fetches at once and serves');
ok t_cmp(shared_maps(), $maps, 'no shared memory left behind by the restart');

# --- no request waits for a fetch ------------------------------------------------

my $t_delay = time;
endpoint_write($ep, 'delay', '2 /keys/rot');
poll(3, sub { (grep { $_ > $t_delay } @{ endpoint_times($ep, '/keys/rot') }) >= 1 });
my @took;
for my $i (1 .. 8) {
    my $t0 = time;
    my $code = code('/api/rot/', jwt('https://rot.test', $i % 2 ? 'k1' : 'k2'));
    push @took, $code == 200 ? time - $t0 : 99;
    sleep 0.05;
}
@took = sort { $a <=> $b } @took;
printf "# latencies while the fetch waits 2 s (ms): %s\n",
    join ' ', map { sprintf '%.1f', $_ * 1000 } @took;
ok t_cmp([$took[-1] < 1 ? 1 : 0, $took[@took / 2] < 0.05 ? 1 : 0], [1, 1],
         'fetches delayed 2 s: requests granted meanwhile, none waiting (median under 50 ms)');
unlink "$ep/delay";

ok t_cmp([log_text() =~ /(exit signal|Segmentation fault|AddressSanitizer)/g], [],
         'no httpd child crashed');
