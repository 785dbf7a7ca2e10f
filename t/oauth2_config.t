# A bad mod_authn_oauth2 configuration stops httpd at start-up, naming the
# directive and the problem: checked with `httpd -t`, or, for what only a
# start can see, by starting httpd and finding it refused to run.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test;
use Apache::TestUtil;
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep);
use ChainTest;
use OAuth2Test;

plan tests => 38;

my $httpd = Apache::Test::vars('httpd');
my $dir = tempdir(CLEANUP => 1);
my $port = free_port();
my $keys = Apache::Test::vars('serverroot') . '/conf/oauth2';
my $jwks = "$keys/issuer.jwks.json";

sub write_file {
    my ($name, $text) = @_;
    open my $fh, '>', "$dir/$name" or die "$dir/$name: $!";
    print $fh $text;
    close $fh;
    return "$dir/$name";
}

sub write_conf {
    my ($location, $server) = @_;
    return api_conf(
        dir => $dir, port => $port, server => $server,
        ours => [[authn_oauth2 => 'modules/oauth2/.libs/mod_authn_oauth2.so']],
        location => "    AuthChain oauth2\n$location");
}

# What httpd says of the configuration: `httpd -t`, and when that passes,
# a real start (post_config checks).  Returns (refused, messages).
sub verdict {
    my ($conf) = @_;
    my $out = `$httpd -t -f $conf 2>&1`;
    return (1, $out) if $? != 0;
    unlink "$dir/error_log";
    $out .= `$httpd -k start -f $conf 2>&1`;
    my $running = 0;
    for (1 .. 20) {
        sleep 0.1;
        $running = -e "$dir/httpd.pid";
        last if $running;
    }
    sleep 0.5;
    if (-e "$dir/httpd.pid") {
        system($httpd, '-k', 'stop', '-f', $conf);
        for (1 .. 50) { last unless -e "$dir/httpd.pid"; sleep 0.1 }
        $running = 1;
    }
    else {
        $running = 0;
    }
    if (open my $fh, '<', "$dir/error_log") { local $/; $out .= <$fh>; }
    return ($running ? 0 : 1, $out);
}

sub refused {
    my ($location, $re, $name, $server) = @_;
    my ($refused, $out) = verdict(write_conf($location, $server));
    ok t_cmp([$refused, $out], [1, $re], $name);
}

sub accepted {
    my ($location, $name, $server) = @_;
    my ($refused, $out) = verdict(write_conf($location, $server));
    ok t_cmp([$refused, $out], [0, qr/Syntax OK/], $name);
}

my $aud = '    AuthOAuth2Audience api://authchain';
accepted("    AuthOAuth2Issuer https://a.test $jwks\n$aud",
         'an issuer with a JWK Set file and an audience starts');
accepted("    AuthOAuth2Issuer https://a.test http://127.0.0.1:9/jwks\n"
         . "    AuthOAuth2Issuer https://b.test http://localhost:9/jwks\n$aud",
         'http:// JWK Set URLs on a loopback host are allowed');

refused("    AuthOAuth2Issuer https://a.test $jwks",
        qr/AuthOAuth2Audience/, 'an issuer without AuthOAuth2Audience stops httpd');
refused("    AuthOAuth2Issuer https://a.test http://keys.example.org/jwks\n$aud",
        qr/AuthOAuth2Issuer.*https/, 'an http:// JWK Set URL on another host stops httpd');
refused("    AuthOAuth2Introspect http://as.example.org/introspect\n$aud",
        qr/AuthOAuth2Introspect.*https/, 'an http:// introspection URL on another host stops httpd');
refused("    AuthOAuth2Issuer https://a.test ftp://keys.example.org/jwks\n$aud",
        qr/AuthOAuth2Issuer/, 'a JWK Set URL that is not http(s) stops httpd');
refused("    AuthOAuth2Issuer https://a.test $dir/no-such.json\n$aud",
        qr/AuthOAuth2Issuer.*no-such\.json/, 'a missing JWK Set file stops httpd, naming it');
my $bad = write_file('bad.json', '{"keys": [');
refused("    AuthOAuth2Issuer https://a.test $bad\n$aud",
        qr/AuthOAuth2Issuer.*bad\.json/, 'a JWK Set file that is not JSON stops httpd');
my $enc = write_file('enc.json', json({ keys => [{ %{ rsa_public_jwk() }, use => 'enc' }] }));
refused("    AuthOAuth2Issuer https://a.test $enc\n$aud",
        qr/AuthOAuth2Issuer.*enc\.json/, 'a JWK Set without one usable signing key stops httpd');
my $notpem = write_file('not.pem', "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n");
refused("    AuthOAuth2Issuer https://a.test $notpem\n$aud",
        qr/AuthOAuth2Issuer.*not\.pem/, 'a PEM file without a public key stops httpd');
refused("    AuthOAuth2Issuer https://a.test $jwks\n$aud\n    AuthOAuth2Algorithms RS256 none",
        qr/AuthOAuth2Algorithms.*none/, 'alg none in AuthOAuth2Algorithms stops httpd');
refused("    AuthOAuth2Issuer https://a.test $jwks\n$aud\n    AuthOAuth2Algorithms RS256 XS256",
        qr/AuthOAuth2Algorithms.*XS256/, 'an unknown algorithm stops httpd');
refused("    AuthOAuth2HMACKey https://h.test " . b64u('x' x 16) . "\n$aud",
        qr/AuthOAuth2HMACKey/, 'an HMAC key shorter than 32 bytes stops httpd');
refused("    AuthOAuth2HMACKey https://h.test not*base64url*" . ('x' x 40) . "\n$aud",
        qr/AuthOAuth2HMACKey/, 'an HMAC key that is not base64url stops httpd');
refused("    AuthOAuth2Issuer https://a.test $jwks\n$aud\n    AuthOAuth2Leeway soon",
        qr/AuthOAuth2Leeway/, 'a bad AuthOAuth2Leeway stops httpd');
refused("    AuthOAuth2Issuer https://a.test $jwks\n$aud\n    AuthOAuth2RequireTyp maybe",
        qr/AuthOAuth2RequireTyp/, 'a bad AuthOAuth2RequireTyp stops httpd');
refused("    AuthOAuth2DB \"dbname=x\"\n    AuthOAuth2DBSchema knox\n$aud",
        qr/AuthOAuth2DBSchema/, 'an AuthOAuth2DBSchema other than dot stops httpd');
refused("    AuthOAuth2Issuer https://a.test $jwks\n$aud\n    AuthOAuth2ResourceMetadata maybe",
        qr/AuthOAuth2ResourceMetadata must be 'on' or 'off', not 'maybe'/,
        'a bad AuthOAuth2ResourceMetadata stops httpd');
refused("    AuthOAuth2Issuer https://a.test $jwks\n$aud\n    <If \"true\">\n"
        . "    AuthOAuth2ResourceMetadata on\n    </If>",
        qr/AuthOAuth2ResourceMetadata on belongs in a <Location> section with a plain path/,
        'AuthOAuth2ResourceMetadata on outside a plain <Location> stops httpd');
refused("    AuthOAuth2Issuer https://a.test $jwks\n$aud\n    AuthOAuth2CacheTTL -1",
        qr/AuthOAuth2CacheTTL/, 'a negative AuthOAuth2CacheTTL stops httpd');
refused("    AuthOAuth2Issuer https://a.test $jwks\n$aud",
        qr/AuthOAuth2Cache cannot occur within <VirtualHost> section/,
        'AuthOAuth2Cache belongs to the main server only',
        "<VirtualHost 127.0.0.1:$port>\n    AuthOAuth2Cache shmcb\n</VirtualHost>");
refused("    AuthOAuth2Issuer https://a.test $jwks\n$aud",
        qr/AuthOAuth2Cache.*nosuch/, 'an unknown AuthOAuth2Cache provider stops httpd',
        'AuthOAuth2Cache nosuch');

# step-up, claim rules and claim headers (t/oauth2_claims.t)
my $iss = "    AuthOAuth2Issuer https://a.test $jwks\n$aud";
refused("$iss\n    Require auth-acr",
        qr/Require auth-acr needs at least one acr value/,
        'Require auth-acr without a value stops httpd');
refused("$iss\n    Require auth-max-age soon",
        qr/Require auth-max-age: 'soon' must be a whole number/,
        'Require auth-max-age that is not a number stops httpd');
refused("$iss\n    Require auth-claim tenant",
        qr/Require auth-claim needs a claim name and at least one value/,
        'Require auth-claim without a value stops httpd');
refused("$iss\n    Require auth-claim realm..roles admin",
        qr/Require auth-claim: 'realm\.\.roles' has an empty segment/,
        'Require auth-claim with an empty path segment stops httpd');
refused("$iss\n    AuthOAuth2ClaimHeader sub \"X Sub\"",
        qr/AuthOAuth2ClaimHeader: 'X Sub' is not an HTTP header name/,
        'AuthOAuth2ClaimHeader with a bad header name stops httpd');
refused("$iss\n    AuthOAuth2ClaimHeader sub content_length",
        qr/AuthOAuth2ClaimHeader: a claim cannot be sent as Content-Length/,
        'AuthOAuth2ClaimHeader into a framing header (any spelling) stops httpd');
refused("$iss\n    AuthOAuth2ClaimHeader sub X-Sub maybe",
        qr/AuthOAuth2ClaimHeader: the third argument must be 'encode'.*'refuse', not 'maybe'/,
        'AuthOAuth2ClaimHeader with an unknown choice stops httpd');
refused("$iss\n    AuthOAuth2ClaimHeader sub X-Sub\n    AuthOAuth2ClaimHeader email x_sub",
        qr/AuthOAuth2ClaimHeader: the header x_sub is already given the claim sub/,
        'two claims for one header in a section stop httpd');

# issuer discovery and the refresh of remote keys (t/oauth2_discovery.t)
refused("    AuthOAuth2Issuer issuer-1 discover\n$aud",
        qr/AuthOAuth2Issuer issuer-1 discover: the issuer must be the URL its discovery document is found under/,
        'a discovered issuer that is not a URL stops httpd');
refused("    AuthOAuth2Issuer http://as.example.org discover\n$aud",
        qr/AuthOAuth2Issuer http:\/\/as\.example\.org discover: .*https/,
        'a discovered issuer on plain http (not loopback) stops httpd');
refused("    AuthOAuth2Issuer https://as.example.org/?tenant=1 discover\n$aud",
        qr/an issuer has no query/, 'a discovered issuer with a query stops httpd');
refused("    AuthOAuth2Introspect discover\n$aud",
        qr/AuthOAuth2Introspect discover needs an `AuthOAuth2Issuer <issuer> discover`/,
        'AuthOAuth2Introspect discover without a discovered issuer stops httpd');
refused($iss, qr/AuthOAuth2JWKSRefreshMin: seconds from 1 to 604800, not '0'/,
        'AuthOAuth2JWKSRefreshMin 0 stops httpd', 'AuthOAuth2JWKSRefreshMin 0');
refused($iss, qr/AuthOAuth2JWKSRefreshMin \(120\) is larger than AuthOAuth2JWKSRefreshMax \(60\)/,
        'AuthOAuth2JWKSRefreshMin above AuthOAuth2JWKSRefreshMax stops httpd',
        "AuthOAuth2JWKSRefreshMax 60\nAuthOAuth2JWKSRefreshMin 120");
refused($iss, qr/AuthOAuth2DiscoveryRefresh: seconds from 1 to 604800, not 'hourly'/,
        'a bad AuthOAuth2DiscoveryRefresh stops httpd', 'AuthOAuth2DiscoveryRefresh hourly');
refused($iss, qr/AuthOAuth2JWKSRefreshMax cannot occur within <VirtualHost> section/,
        'AuthOAuth2JWKSRefreshMax belongs to the main server only',
        "<VirtualHost 127.0.0.1:$port>\n    AuthOAuth2JWKSRefreshMax 60\n</VirtualHost>");
