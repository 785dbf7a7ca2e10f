# AuthChainThrottle: Django REST framework's throttles (anon, user,
# credential, scope), 429 with Retry-After and DRF's message, several
# throttles on one location, bad rates at start-up, and two httpd nodes
# that share one limit through a real redis, falling back to the per-node
# limit when it stops.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test;
use Apache::TestRequest;
use Apache::TestUtil;
use File::Temp qw(tempdir);
use JSON::PP qw(decode_json);
use IO::Socket::INET;
use LWP::UserAgent;
use Time::HiRes ();
use ChainTest;

plan tests => 45;

my $base = Apache::TestRequest::resolve_url('/');
$base =~ s{/$}{};

# A client at its own loopback address (the whole of 127/8 is ours), so
# that address counters of one check do not touch another's.
my %ua;
sub from {
    my ($addr) = @_;
    return $ua{$addr} //= LWP::UserAgent->new(timeout => 10,
                                              local_address => $addr);
}

# The answer to a GET of $path/env as $who ('-': anonymous, else granted
# by the outcome scheme: `user`, `user#id` for a credential id,
# `user+scope` for a scope), from $addr (default 127.0.0.1).
sub get {
    my ($path, $who, $addr) = @_;
    my @h;
    push @h, 'X-Outcome-Scopes' => $1 if $who =~ s/\+(\w+)$//;
    if ($who ne '-') {
        my ($user, $id) = split /#/, $who;
        push @h, 'X-Outcome' => "granted:$user";
        push @h, 'X-Outcome-Data' => qq({"id":$id}) if defined $id;
    }
    return from($addr // '127.0.0.1')->get("$base$path/env", @h);
}

sub codes {
    my ($n, @args) = @_;
    return join ' ', map { get(@args)->code } 1 .. $n;
}

# The audit log's 429 lines of $path/env written since this file began
# (an earlier mode of build/check's lane wrote to the same log; written
# after the response: wait for $want of them).
my $audit = Apache::Test::vars('serverroot') . '/logs/audit_log';
my $audit_from = (-s $audit) || 0;
sub audit_429 {
    my ($path, $want) = @_;
    my @l;
    for (1 .. 50) {
        @l = ();
        if (open my $fh, '<', $audit) {
            seek $fh, $audit_from, 0;
            @l = grep { $_->{uri} eq "$path/env" && $_->{status} == 429 }
                 map { eval { decode_json($_) } // () } <$fh>;
        }
        last if @l >= $want;
        Time::HiRes::sleep(0.1);
    }
    return [map { "$_->{decision} " . ($_->{user} // '-') . " $_->{reason}" } @l];
}
my $throttled = 'authchain_throttled_total{throttle="%s"}';
my $m0 = metrics();

# --- per user (UserRateThrottle) ------------------------------------------

ok t_cmp(codes(4, '/throttle/user', 'gina'), '200 200 200 429',
         'user 3/min: the fourth request of a user is 429');
my $res = get('/throttle/user', 'gina');
ok t_cmp([$res->header('Retry-After'), $res->content],
         [qr/^\d+$/, qr/^Request was throttled\. Expected available in \d+ seconds\.$/],
         '429 with Retry-After and DRF\'s message');
my ($n) = $res->content =~ /in (\d+) seconds/;
ok t_cmp($n, $res->header('Retry-After') // -1,
         'the message\'s wait is the Retry-After');
my $after = $res->header('Retry-After') // 0;
ok t_cmp($after >= 15 && $after <= 20, 1,
         'GCRA 3/min: the next request in 20 s (one every period/N)');
ok t_cmp(audit_429('/throttle/user', 2),
         [map { qr/^granted gina Request was throttled\. Expected available in \d+ seconds\.$/ } 1, 2],
         'the audit log has both 429s of gina, granted, with DRF\'s message as the reason');
ok t_cmp(get('/throttle/user', 'hank')->code, 200,
         'another user has a count of its own');
ok t_cmp(codes(4, '/throttle/user', '-', '127.0.0.2'), '200 200 200 429',
         'an anonymous caller is counted by its client address');
ok t_cmp(get('/throttle/user', '-', '127.0.0.3')->code, 200,
         'and another address by its own');

# --- anonymous only (AnonRateThrottle) --------------------------------------

ok t_cmp(codes(3, '/throttle/anon', '-', '127.0.0.4'), '200 200 429',
         'anon 2/minute: the third anonymous request of an address is 429');
ok t_cmp(codes(3, '/throttle/anon', 'ivan', '127.0.0.4'), '200 200 200',
         'an authenticated caller from that address is not throttled by it');
ok t_cmp(get('/throttle/anon', '-', '127.0.0.5')->code, 200,
         'another address has a count of its own');
ok t_cmp(audit_429('/throttle/anon', 1),
         [qr/^anonymous - Request was throttled\./],
         'an anonymous 429 is in the audit log too');
my $m1 = metrics();
ok t_cmp([map { $m1->{sprintf $throttled, $_} - $m0->{sprintf $throttled, $_} }
              qw(user anon credential scope)],
         [3, 1, 0, 0],
         'the metrics count the 429s by the kind of throttle that refused');

# --- per credential ---------------------------------------------------------

ok t_cmp(codes(3, '/throttle/credential', 'judy#7'), '200 200 429',
         'credential 2/m: the third request with key 7 is 429');
ok t_cmp(get('/throttle/credential', 'judy#8')->code, 200,
         'another key of the same user has a count of its own');
ok t_cmp(codes(3, '/throttle/credential', 'kim'), '200 200 429',
         'a credential without an id is counted by its user');
ok t_cmp(codes(3, '/throttle/credential', '-', '127.0.0.6'), '200 200 200',
         'an anonymous request has no credential to count');

# --- per scope (ScopedRateThrottle) -----------------------------------------

ok t_cmp(join(' ', get('/throttle/uploads-a', 'lena')->code,
              get('/throttle/uploads-b', 'lena')->code,
              get('/throttle/uploads-a', 'lena')->code),
         '200 200 429',
         'scope uploads 2/min: two locations of one scope share the count');
ok t_cmp(get('/throttle/reports', 'lena')->code, 200,
         'another scope has a count of its own');
ok t_cmp(get('/throttle/uploads-b', 'mia')->code, 200,
         'a scope counts per user');
ok t_cmp(codes(3, '/throttle/reports', '-', '127.0.0.7'), '200 200 429',
         'and per address when anonymous');

# --- several throttles --------------------------------------------------------

my @r = map { get('/throttle/several', 'nina') } 1 .. 3;
ok t_cmp(join(' ', map { $_->code } @r), '200 429 429',
         'user 2/min and scope 1/s: both apply');
ok t_cmp($r[1]->header('Retry-After'), 1,
         'the scope\'s wait (1 s) when only the scope refuses');
ok t_cmp($r[1]->content,
         "Request was throttled. Expected available in 1 second.\n",
         'DRF\'s singular: 1 second');
ok t_cmp(($r[2]->header('Retry-After') // 0) > 20, 1,
         'the longest wait wins (the user throttle, which counted the '
         . 'request the scope refused, as DRF counts it)');
ok t_cmp(get('/throttle/several/off', 'nina')->code, 200,
         'AuthChainThrottle off in a nested section');

# --- recovery, ErrorDocument, authorization first --------------------------

ok t_cmp(codes(2, '/throttle/second', 'olga'), '200 429',
         'user 1/s: the second request within the second is 429');
# (whether it passes after Retry-After is checked at the end, so that the
# file does not sleep for it)
$res = get('/throttle/second', 'olga');
my $olga_after = Time::HiRes::time() + ($res->header('Retry-After') // 1);

ok t_cmp(join(' ', map { $_->code . ' ' . $_->content }
                  get('/throttle/errdoc', 'pam'), get('/throttle/errdoc', 'pam')),
         qr/^200 .* 429 an ErrorDocument of the location$/s,
         'an ErrorDocument 429 of the location answers instead of the text');

ok t_cmp(codes(3, '/throttle/authz', 'quinn'), '403 403 403',
         'a request that authorization refuses is not counted (DRF checks '
         . 'permissions first)...');
ok t_cmp(codes(2, '/throttle/authz', 'quinn+admin'), '200 429',
         '...and a granted one is (1/d)');

my $dir = tempdir(CLEANUP => 1);

# --- two nodes, one redis -----------------------------------------------------

my ($redis, $rport) = start_cache_server('redis', $dir);
my @nodes = map {
    start_api_node("$dir/node$_",
        ours => [[authn_xuser => 'examples/.libs/mod_authn_xuser.so']],
        # (500 ms, not the default 50: the sanitizer build on a busy
        # machine can take longer than 50 ms to connect and load the script,
        # and the node then rightly counts alone)
        server => "AuthChainThrottleRedis 127.0.0.1:$rport\n"
                . "AuthChainThrottleRedisTimeout 500",
        location => "    AuthChain xuser\n    AuthXUserKnown alice bob carol dave\n"
                  . "    AuthChainThrottle user 4/min")
} 1, 2;
END {
    stop_httpd($_->{conf}) for @nodes;
    if ($redis) { kill 'TERM', $redis; waitpid $redis, 0 }
}
my $ua = LWP::UserAgent->new(timeout => 10);
sub node_get {
    my ($node, $user) = @_;
    return $ua->get("http://127.0.0.1:$node->{port}/api/",
                    'X-Username' => $user)->code;
}
my ($a, $b) = @nodes;

ok t_cmp(join(' ', map { node_get($_, 'alice') } $a, $b, $a, $b, $a, $b),
         '200 200 200 200 429 429',
         'two nodes share one limit of 4/min through redis');
ok t_cmp(cache_items('redis', $rport), 1, 'one counter in redis');

my $size = -s $a->{log};
kill 'TERM', $redis;
waitpid $redis, 0;
undef $redis;
ok t_cmp(join(' ', map { node_get($a, 'bob') } 1 .. 6),
         '200 200 200 200 429 429',
         'redis stopped: node 1 applies the limit alone, never a 5xx');
ok t_cmp(join(' ', map { node_get($b, 'bob') } 1 .. 5),
         '200 200 200 200 429',
         'and node 2 its own (the per-node limit)');
open my $fh, '<', $a->{log} or die "$a->{log}: $!";
seek $fh, $size, 0;
my @down = grep { /AuthChainThrottleRedis .* does not answer/ } <$fh>;
ok t_cmp(scalar @down, 1, 'the outage is logged once');
ok t_cmp($down[0] // '', qr/throttling per node/, 'saying what happens');

# redis back on its port: after the retry interval (1 s), node 1 counts
# there again, and says so once
$redis = fork // die "fork: $!";
if ($redis == 0) {
    open STDOUT, '>>', "$dir/redis.log";
    open STDERR, '>&', \*STDOUT;
    exec 'redis-server', '--port', $rport, '--bind', '127.0.0.1', '--save', '',
        '--appendonly', 'no' or die "exec redis-server: $!";
}
for (1 .. 50) {
    last if IO::Socket::INET->new(PeerAddr => "127.0.0.1:$rport");
    Time::HiRes::sleep(0.1);
}
# --- start-up (while the nodes wait to try redis again) --------------------

my $httpd = Apache::Test::vars('httpd');
sub refused {
    my ($lines, $re, $name, $server) = @_;
    my $conf = api_conf(dir => $dir, port => 1, location => $lines,
                        server => $server);
    my $out = `$httpd -t -f $conf 2>&1`;
    ok(t_cmp($out, $re, $name) && $? != 0);
}
refused('    AuthChainThrottle user 100/week',
        qr/AuthChainThrottle: bad rate '100\/week'.*s, m, h or d/,
        'a period DRF cannot read stops httpd, naming the directive');
refused('    AuthChainThrottle user 1.5/s', qr/AuthChainThrottle: bad rate '1\.5\/s'/,
        'a count that is not a whole number stops httpd');
refused('    AuthChainThrottle users 5/s',
        qr/AuthChainThrottle: unknown throttle 'users'/,
        'an unknown kind of throttle stops httpd');
refused('    AuthChainThrottle scope a 5/s',
        qr/AuthChainThrottle: scope 'a' has the rate 5\/s here and 6\/s elsewhere/,
        'one scope with two rates stops httpd',
        "<Location /other>\n    AuthChainThrottle scope a 6/s\n</Location>");

my (@back, @codes);
for (1 .. 40) {
    push @codes, node_get($a, 'dave');
    seek $fh, 0, 1;
    push @back, grep { /AuthChainThrottleRedis .* answers again/ } <$fh>;
    last if @back;
    Time::HiRes::sleep(0.1);
}
push @codes, node_get($a, 'dave');
seek $fh, 0, 1;
push @back, grep { /AuthChainThrottleRedis .* answers again/ } <$fh>;
ok t_cmp(scalar(grep { $_ >= 500 } @codes), 0,
         'no 5xx while redis comes back');
ok t_cmp(scalar @back, 1, 'redis back: the recovery is logged once');
ok t_cmp(node_get($a, 'carol'), 200, 'and the node counts in redis again...');
ok t_cmp(cache_items('redis', $rport), 2, '...in redis (two callers, two counters)');

Time::HiRes::sleep($olga_after - Time::HiRes::time())
    if $olga_after > Time::HiRes::time();
ok t_cmp(get('/throttle/second', 'olga')->code, 200,
         'user 1/s: after Retry-After, the request passes');
