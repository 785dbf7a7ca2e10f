# The node's metrics (SetHandler auth-chain-metrics): decisions by scheme,
# outcome and reason class, the latency histogram, the verdict cache, the
# PostgreSQL pool and the revocation listener, counted exactly, in a page
# that Prometheus's own checker (promtool) accepts.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test;
use Apache::TestRequest;
use Apache::TestUtil;
use File::Temp qw(tempdir tempfile);
use LWP::UserAgent;
use Time::HiRes qw(sleep);
use ChainTest;

plan tests => 23;

# What changed between two scrapes, for the series whose key matches $re
# (as "key=delta", sorted, those that did not change left out).
sub deltas {
    my ($before, $after, $re) = @_;
    return join ' ', map { "$_=" . ($after->{$_} - ($before->{$_} // 0)) }
        grep { /$re/ && $after->{$_} != ($before->{$_} // 0) } sort keys %$after;
}

sub decisions { qq{authchain_decisions_total{scheme="$_[0]",outcome="$_[1]",reason="$_[2]"}} }
# "scheme outcome reason count" lines as deltas() writes them
sub decided { join ' ', map { my @w = split ' '; decisions(@w[0 .. 2]) . "=$w[3]" } @_ }

# --- the page, and promtool ---------------------------------------------------
my $res = GET '/metrics';
ok t_cmp([$res->code, $res->header('Content-Type')],
         [200, 'text/plain; version=0.0.4; charset=utf-8'],
         'the handler answers in the Prometheus text format');

my $promtool = `sh -c 'command -v promtool'`;
chomp $promtool;
ok t_cmp($promtool, qr{/promtool$},
         'promtool is installed (Debian package prometheus)');
{
    my ($fh, $file) = tempfile(UNLINK => 1);
    print $fh $res->content;
    close $fh;
    my $out = `promtool check metrics < '$file' 2>&1`;
    ok t_cmp([$? >> 8, $out], [0, ''],
             'promtool check metrics accepts the page, without a lint remark');
}
ok t_cmp($res->content =~ /^# HELP authchain_decisions_total .+\n# TYPE authchain_decisions_total counter\n/m
         ? 1 : 0, 1, 'each family has its HELP and TYPE lines');

# --- each outcome, exactly ------------------------------------------------------
my $m0 = metrics();
GET "/chain/m/env", 'X-Outcome' => 'granted:carol' for 1 .. 3;
GET "/chain/m/env", 'X-Outcome' => 'denied' for 1 .. 2;
GET "/chain/m/env", 'X-Outcome' => 'forbidden';
GET "/chain/m/env", 'X-Outcome' => 'unavailable' for 1 .. 4;
$res = GET "/chain/m/env";                      # every scheme declines: 401
ok t_cmp($res->code, 401, 'a request without credentials is refused');
GET "/chain/m/env", Authorization => basic('alice', 'wrong');
GET "/chain/m/env", Authorization => 'Basic a b';
GET "/chain/m/env", Authorization => basic('alice', 'secret');
my $m1 = metrics();

ok t_cmp(deltas($m0, $m1, qr/^authchain_decisions_total\{scheme="outcome"/),
         decided('outcome declined absent 4', 'outcome denied invalid 2',
                 'outcome forbidden csrf 1', 'outcome granted ok 3',
                 'outcome unavailable backend 4'),
         'the test scheme: each outcome with its reason class, counted once per request');
ok t_cmp(deltas($m0, $m1, qr/^authchain_decisions_total\{scheme="(xuser|basic)"/),
         decided('basic declined absent 1', 'basic denied invalid 1',
                 'basic denied malformed 1', 'basic granted ok 1',
                 'xuser declined absent 4'),
         'basic: a wrong password is invalid, a header with spaces malformed; '
         . 'the schemes after a decision are not asked');

my $h = 'authchain_decision_duration_seconds';
ok t_cmp([$m1->{qq{${h}_count{scheme="outcome"}}} - $m0->{qq{${h}_count{scheme="outcome"}}},
          $m1->{qq{${h}_bucket{scheme="outcome",le="+Inf"}}}
          - $m0->{qq{${h}_bucket{scheme="outcome",le="+Inf"}}}],
         [14, 14],
         'the latency histogram counts every answer, +Inf bucket and _count alike');
{
    my @le = map { /le="([^"]+)"/ ? $1 : () }
        grep { /^${h}_bucket\{scheme="outcome"/ } sort { $m1->{$a} <=> $m1->{$b} } keys %$m1;
    my @counts = map { $m1->{qq{${h}_bucket{scheme="outcome",le="$_"}}} } @le;
    my $monotonic = !grep { $counts[$_] < $counts[$_ - 1] } 1 .. $#counts;
    ok t_cmp([$monotonic ? 1 : 0, $m1->{qq{${h}_sum{scheme="outcome"}}} >= $m0->{qq{${h}_sum{scheme="outcome"}}} ? 1 : 0,
              $m1->{qq{${h}_bucket{scheme="outcome",le="10"}}} == $m1->{qq{${h}_count{scheme="outcome"}}} ? 1 : 0],
             [1, 1, 1],
             'the buckets are cumulative, the sum grows, a fast scheme is within 10 s');
}

# --- the token scheme: the verdict cache and the PostgreSQL pool ---------------
my $key = new_key('metricsuser', '--name', 'metrics');
$m0 = metrics();
$res = GET '/token/cachedlong/env', Authorization => "Token $key";
ok t_cmp($res->code, 200, 'a key is granted (and cached)');
GET '/token/cachedlong/env', Authorization => "Token $key" for 1 .. 2;
GET '/token/cachedlong/env', Authorization => 'Token';
GET '/token/cachedlong/env', Authorization => 'Token no-such-key';
# the key's last_used is written after the first response (log_transaction)
my $q = 'authchain_pg_queries_total{scheme="token",result="ok"}';
for (1 .. 50) {
    $m1 = metrics();
    last if $m1->{$q} - $m0->{$q} >= 2;
    sleep 0.1;
}
ok t_cmp(deltas($m0, $m1, qr/^authchain_(decisions_total\{scheme="token"|cache_lookups_total\{scheme="token"|pg_queries_total\{scheme="token")/),
         join(' ', 'authchain_cache_lookups_total{scheme="token",result="hit"}=2',
                   'authchain_cache_lookups_total{scheme="token",result="miss"}=1',
                   decided('token denied invalid 1', 'token denied malformed 1',
                           'token granted ok 3'),
                   'authchain_pg_queries_total{scheme="token",result="ok"}=2'),
         'token: one miss, one lookup and one last_used write for a new key, '
         . 'hits after; a malformed header or key is refused without either');
{
    my $acq = 0;
    $acq += $m1->{$_} - ($m0->{$_} // 0) for grep { /^authchain_pg_acquires_total\{scheme="token",result="(idle|connected)"/ } keys %$m1;
    ok t_cmp([$acq, $m1->{'authchain_pg_connections_busy{scheme="token"}'},
              $m1->{'authchain_pg_connections{scheme="token"}'} >= 1 ? 1 : 0],
             [2, 0, 1],
             'the pool lent a connection per statement, gave them back, and keeps some open');
}

# --- the revocation listener -------------------------------------------------------
# (one per AuthTokenDB string of the configuration: /token/otherdb has its
# own; they start one after the other, each noting that it listens)
my $listening;
for (1 .. 100) {
    $listening = metrics()->{'authchain_revocation_listeners{scheme="token"}'};
    last if $listening >= 2;
    sleep 0.1;
}
ok t_cmp($listening, 2, 'the revocation listeners of the node are listening');
$m0 = metrics();
my ($rc) = token_cli('revoke', '--user', 'metricsuser');
ok t_cmp($rc, 0, 'the key is revoked');
my $n;
for (1 .. 100) {
    $m1 = metrics();
    $n = $m1->{'authchain_revocation_notifications_total{scheme="token"}'}
         - $m0->{'authchain_revocation_notifications_total{scheme="token"}'};
    last if $n >= $listening;
    sleep 0.1;
}
ok t_cmp($n, $listening, 'each listener counted the revocation notification');
$res = GET '/token/cachedlong/env', Authorization => "Token $key";
$m1 = metrics();
ok t_cmp([$res->code, deltas($m0, $m1, qr/^authchain_decisions_total\{scheme="token"/)],
         [401, decided('token denied revoked 1')],
         'the revoked key is denied, as revoked');

# --- never free text ------------------------------------------------------------------
$res = GET '/metrics';
my %labels;
for (split /\n/, $res->content) {
    next if /^#/;
    $labels{$1}{$2} = 1 while /(\w+)="([^"]*)"/g;
}
ok t_cmp(join(',', sort keys %{ $labels{reason} }),
         join(',', sort qw(ok absent malformed invalid expired revoked inactive binding csrf refused backend)),
         'the reason label takes its values from a fixed set');
ok t_cmp($res->content !~ /metricsuser|carol|alice|\Q$key\E/ ? 1 : 0, 1,
         'no user name and no key on the page');
ok t_cmp(join(',', sort keys %{ $labels{outcome} }),
         'declined,denied,forbidden,granted,unavailable', 'the five outcomes');

# --- methods -----------------------------------------------------------------
$res = POST '/metrics', content => '';
ok t_cmp($res->code, 405, 'the page is read with GET only');

# --- AuthChainMetrics Off: no page, and the schemes work as before -------------
{
    my $dir = tempdir(CLEANUP => 1);
    my $port = free_port();
    my $conf = api_conf(
        dir => $dir, port => $port,
        ours => [[authn_token => 'modules/token/.libs/mod_authn_token.so']],
        server => "AuthChainMetrics Off\nAuthTokenDB \"" . test_db() . "\"\n"
                  . "<Location /metrics>\n    SetHandler auth-chain-metrics\n</Location>\n",
        location => "    AuthChain token");
    start_httpd($conf, $port);
    my $ua = LWP::UserAgent->new(timeout => 10);
    my $offkey = new_key('metricsoff');
    my @codes = map { $ua->get("http://127.0.0.1:$port$_->[0]", @{ $_->[1] })->code }
        ['/metrics', []], ['/api/x', []],
        ['/api/x', [Authorization => "Token $offkey"]];
    stop_httpd($conf);
    ok t_cmp($codes[0], 404, 'AuthChainMetrics Off: the handler has no page');
    ok t_cmp($codes[1], 401, 'the chain still refuses a request without credentials');
    ok t_cmp($codes[2], 404,
             'a key still authenticates through the shared code (then no file: 404)');
}
