# The oauth2 scheme's remote parties going away under load: a JWK Set URL
# and an RFC 7662 introspection endpoint (the test endpoint of
# t/lib/OAuth2Test.pm) stop for 4 s while four background clients send
# about 24 requests a second, half JWTs of that JWK Set, half opaque tokens
# to introspect, to an httpd of this test's own (event MPM, one child
# process with threads, so that the keys fetched before the outage serve
# every request; no cache, so that every request is judged).  JWTs keep
# being granted all along from the keys already fetched, also when their
# refresh (in the background, every 2 s here) fails; introspected tokens get 503 with
# Retry-After during the outage, never 401 and within AuthOAuth2Timeout;
# within 2 s of the endpoint being back they are granted again, and the
# key set is refreshed again.  (t/oauth2_remote.t covers the single
# requests: endpoint down before any fetch, slow, wrong client secret.)
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test;
use Apache::TestUtil;
use File::Temp qw(tempdir);
use JSON::PP ();
use Time::HiRes qw(time sleep);
use ChainTest;
use OAuth2Test;

plan tests => 11;

my $TIMEOUT = 2;        # AuthOAuth2Timeout below
my $BACK_WITHIN = 2;

my $dir = tempdir(CLEANUP => 1);
my $ep = "$dir/endpoint";
mkdir $ep or die "$ep: $!";
my $key = new_ec_key();
endpoint_write($ep, 'jwks.json', { keys => [public_jwk($key, 'k1')] });
endpoint_write($ep, 'client', 'rs-client:rs-secret');
endpoint_write($ep, 'introspect.json', {
    'opaque-load' => { active => JSON::PP::true, sub => 'loaduser',
                       scope => 'read', exp => time + 3600 },
});
my ($ep_pid, $ep_port) = start_endpoint($ep);
my $conf = "$dir/httpd.conf";
my $load;
END {
    load_stop($load) if $load;
    stop_endpoint($ep_pid) if $ep_pid;
    stop_httpd($conf) if -e "$dir/httpd.pid";
}
my $url = "http://127.0.0.1:$ep_port";

my $port = free_port();
for my $sub (qw(jwks introspect)) {
    mkdir "$dir/$sub" or die "$dir/$sub: $!";
    open my $fh, '>', "$dir/$sub/ok.html" or die "$dir/$sub/ok.html: $!";
    print $fh "ok\n";
    close $fh;
}
{
    my $common = "    AuthType Chain\n    AuthName \"outage\"\n    AuthChain oauth2\n"
               . "    AuthOAuth2Audience api://authchain\n    AuthOAuth2CacheTTL 0\n"
               . "    AuthOAuth2Timeout $TIMEOUT\n    Require valid-user\n";
    open my $fh, '>', $conf or die "$conf: $!";
    print $fh httpd_config(
        dir => $dir, port => $port,
        stock => [qw(mpm_event authn_core authz_core authz_user socache_shmcb)],
        ours => [[auth_chain => 'modules/chain/.libs/mod_auth_chain.so'],
                 [authn_oauth2 => 'modules/oauth2/.libs/mod_authn_oauth2.so']],
        body => <<EOC);
StartServers 1
ServerLimit 1
ThreadsPerChild 16
MinSpareThreads 1
MaxSpareThreads 16
MaxRequestWorkers 16
AuthOAuth2JWKSRefreshMin 1
<Location /jwks>
$common    AuthOAuth2Issuer https://load.test $url/jwks
    AuthOAuth2JWKSRefresh 2
</Location>
<Location /introspect>
$common    AuthOAuth2Introspect $url/introspect
    AuthOAuth2ClientID rs-client
    AuthOAuth2ClientSecret rs-secret
</Location>
EOC
    close $fh;
}
start_httpd($conf, $port);

my $jwt = mint(alg => 'ES256', key => $key, kid => 'k1',
               claims => { iss => 'https://load.test', sub => 'jwtuser',
                           exp => int(time) + 3600 });
my @requests = (['/jwks/ok.html', { Authorization => "Bearer $jwt" }],
                ['/introspect/ok.html', { Authorization => 'Bearer opaque-load' }]);
$load = load_start(hostport => "127.0.0.1:$port", requests => \@requests,
                   clients => 4, rate => 6, timeout => 10);
sleep 2.5;
my $stop0 = time;
stop_endpoint($ep_pid);
$ep_pid = 0;
my $stop1 = time;
sleep 4;                # past AuthOAuth2JWKSRefresh 2: refreshes fail
my $fetched = @{ endpoint_requests($ep, qr{^GET /jwks}) };
my $start0 = time;
($ep_pid) = start_endpoint($ep, $ep_port);
my $start1 = time;
sleep $BACK_WITHIN + 2.5;
my $all = load_stop($load);
undef $load;

sub describe {
    my ($list) = @_;
    my %n;
    $n{ $_->{status} // $_->{error} }++ for @$list;
    return join ', ', map { "$_: $n{$_}" } sort keys %n;
}
my @jwt = grep { $_->{index} == 0 } @$all;
my @intro = grep { $_->{index} == 1 } @$all;
my @before = grep { $_->{t1} < $stop0 } @$all;
my @during = grep { $_->{t0} > $stop1 && $_->{t1} < $start0 } @intro;
my @after = grep { $_->{t0} > $start1 + $BACK_WITHIN } @intro;
t_debug('JWT: ' . describe(\@jwt) . '; introspection before: '
        . describe([grep { $_->{index} == 1 } @before]) . ', during: '
        . describe(\@during) . ', after: ' . describe(\@after));

ok t_cmp([scalar(@before) > 20, describe([grep { ($_->{status} // 0) != 200 } @before])],
         [1, ''], 'before the outage every request is granted');
ok t_cmp([scalar(@jwt) > 80, describe([grep { ($_->{status} // 0) != 200 } @jwt])],
         [1, ''],
         'JWTs are granted all along: the keys fetched keep serving while the '
         . 'JWK Set URL is down and its refresh fails');
ok t_cmp([scalar(@during) > 20, describe([grep {
              ($_->{status} // 0) != 503 || !defined $_->{retry_after} } @during])],
         [1, ''],
         'introspection endpoint down: every introspected token gets 503 with Retry-After');
ok t_cmp(describe([grep { ($_->{status} // 0) == 401 } @$all]), '',
         'no request is refused with 401');
ok t_cmp(describe([grep { ($_->{status} // '') !~ /^(?:200|503)$/ } @$all]), '',
         'no answer but 200 and 503, no connection error');
ok t_cmp(scalar(grep { $_->{t1} - $_->{t0} > $TIMEOUT + 1 } @$all), 0,
         'every answer within AuthOAuth2Timeout + 1 s');
ok t_cmp([scalar(@after) > 10, describe([grep { ($_->{status} // 0) != 200 } @after])],
         [1, ''],
         "every introspected token from $BACK_WITHIN s after the endpoint is back on is granted");
my ($first_ok) = grep { ($_->{status} // 0) == 200 && $_->{t0} > $start1 } @intro;
ok t_cmp(defined $first_ok && $first_ok->{t1} - $start1 < $BACK_WITHIN ? 1 : 0, 1,
         "the first introspection success comes within $BACK_WITHIN s");
ok t_cmp(scalar(@{ endpoint_requests($ep, qr{^GET /jwks}) }) > $fetched, 1,
         'the JWK Set is fetched again once its URL is back');

my $log = '';
if (open my $fh, '<', "$dir/error_log") { local $/; $log = <$fh>; }
ok t_cmp($log =~ /AC0503: oauth2: cannot read the JWK Set of https:\/\/load\.test/ ? 1 : 0, 1,
         'a refresh of the JWK Set did fail during the outage (AC0503 logged)');
ok t_cmp([$log =~ /(exit signal|Segmentation fault)/g], [], 'no httpd child crashed');
