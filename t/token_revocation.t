# Instant revocation across nodes (AuthTokenRevocationListen): a change
# of a key's row that can alter its verdict reaches every httpd node
# through PostgreSQL NOTIFY, and each drops its cached answer at once,
# though AuthTokenCacheTTL is 300 s.  Two nodes: the test server and one
# started here (each with its own shmcb cache), then two nodes sharing a
# redis server.  The module's own last_used writes notify nothing; a lost
# listener connection falls back to the TTL, says so, and resynchronises
# when it is back.  Last, DRF's table with the triggers of
# sql/drf_notify.sql and AuthTokenRevocationListen On.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test;
use Apache::TestUtil;
use Digest::SHA qw(sha256_hex);
use File::Temp qw(tempdir);
use LWP::UserAgent;
use Time::HiRes qw(time sleep);
use ChainTest;

plan tests => 28;

my $ua = LWP::UserAgent->new(timeout => 10);
my $dir = tempdir(CLEANUP => 1);
my $server_log = Apache::Test::vars('serverroot') . '/logs/error_log';
my $limit = 1.0;        # seconds: the promise of the issue

# Node 1 is the test server (/token/cachedlong: AuthTokenCacheTTL 300),
# node 2 an httpd of our own with the same TTL.
my $node2 = start_token_node("$dir/node2", ttl => 300);
my @nodes = (
    { name => 'node 1', url => url_of('/token/cachedlong/env'),
      log => $server_log },
    { name => 'node 2', url => "http://127.0.0.1:$node2->{port}/api/",
      log => $node2->{log} },
);

# (status, error_description) of a request with the key on a node.
sub answer {
    my ($node, $key) = @_;
    my $res = $ua->get($node->{url}, Authorization => "Token $key");
    my ($desc) = ($res->header('WWW-Authenticate') // '')
        =~ /error_description="([^"]*)"/;
    return ($res->code, $desc // '');
}

sub log_size { return -s $_[0] || 0 }

sub log_since {
    my ($file, $from) = @_;
    open my $fh, '<', $file or return '';
    seek $fh, $from, 0;
    local $/;
    return scalar <$fh> // '';
}

# Wait until $pattern shows in each log (after its offset); 1 when it did
# within $timeout seconds.
sub logs_show {
    my ($pattern, $timeout, @logs) = @_;
    my $t0 = time;
    while (time - $t0 < $timeout) {
        return 1 unless grep { log_since($_->[0], $_->[1]) !~ $pattern } @logs;
        sleep 0.05;
    }
    return 0;
}

# The listeners in pg_stat_activity.
sub listeners {
    return psql("SELECT count(*) FROM pg_stat_activity"
                . " WHERE application_name = 'authchain-listener'");
}

# Poll every node until each refuses the key; returns the seconds it took
# for the last one (from $t0) and the reasons, or undef after $timeout.
sub refused_everywhere {
    my ($key, $t0, $timeout, @on) = @_;
    my %reason;
    while (time - $t0 < $timeout) {
        for my $node (@on) {
            next if exists $reason{ $node->{name} };
            my ($code, $desc) = answer($node, $key);
            $reason{ $node->{name} } = $desc if $code == 401;
        }
        return (time - $t0, [map { $reason{ $_->{name} } } @on])
            if keys %reason == @on;
        sleep 0.02;
    }
    return (undef, [map { $reason{ $_->{name} } // 'still granted' } @on]);
}

# A key used on every node (so that each holds a cached grant).
sub cached_key {
    my ($user, @on) = @_;
    my $key = new_key($user);
    my @codes = map { (answer($_, $key))[0] } @on;
    die "$user: the new key is not granted everywhere (@codes)"
        if grep { $_ != 200 } @codes;
    return $key;
}

# Every listener connected: node 2's, and two of the test server's, for
# its main AuthTokenDB and for /token/otherdb's own (the test server's may
# be backing off after the outage tests that ran before this file).
my $t = time;
sleep 0.1 while listeners() < 3 && time - $t < 15;
ok t_cmp(listeners() >= 3, 1,
         'a listener connection (authchain-listener) per node and database');

# --- authchain-token revoke ------------------------------------------------
my $key = cached_key('revnotify', @nodes);
my $t0 = time;
token_cli('revoke', '--user', 'revnotify');
my ($took, $reasons) = refused_everywhere($key, $t0, 3, @nodes);
ok t_cmp($reasons, ['Token revoked.', 'Token revoked.'],
         'a key revoked by authchain-token is refused on both nodes, TTL 300');
ok t_cmp(defined $took && $took < $limit, 1,
         "within $limit s of the revoke command");
printf "# revocation latency, both nodes, revoke command included: "
     . "%.3f s\n", $took // -1;

# --- a Location with an AuthTokenDB of its own ------------------------------
my $otherdb = { name => 'node 1, /token/otherdb',
                url => url_of('/token/otherdb/env'), log => $server_log };
$key = cached_key('revotherdb', $otherdb);
$t0 = time;
token_cli('revoke', '--user', 'revotherdb');
($took, $reasons) = refused_everywhere($key, $t0, 3, $otherdb);
ok t_cmp($reasons, ['Token revoked.'],
         'a Location with its own AuthTokenDB string has its own listener');
ok t_cmp(defined $took && $took < $limit, 1, "within $limit s");
ok t_cmp(scalar(() = log_since($server_log, 0)
                    =~ /AuthTokenRevocationListen \(AuthTokenDB at [^)]*extra\.conf:\d+\): listening/g) >= 2,
         1, 'the log names each listener by its AuthTokenDB directive');

# --- direct SQL: UPDATE of expires, DELETE ---------------------------------
$key = cached_key('revexpire', @nodes);
$t0 = time;
psql("UPDATE authchain_token SET expires = now() - interval '1 second'"
     . " WHERE user_name = 'revexpire'");
($took, $reasons) = refused_everywhere($key, $t0, 3, @nodes);
ok t_cmp($reasons, ['Token expired.', 'Token expired.'],
         'an UPDATE of expires in SQL is seen by both nodes');
ok t_cmp(defined $took && $took < $limit, 1, "within $limit s");

$key = cached_key('revdelete', @nodes);
$t0 = time;
psql("DELETE FROM authchain_token WHERE user_name = 'revdelete'");
($took, $reasons) = refused_everywhere($key, $t0, 3, @nodes);
ok t_cmp($reasons, ['Invalid token.', 'Invalid token.'],
         'a DELETE of the row is seen by both nodes');
ok t_cmp(defined $took && $took < $limit, 1, "within $limit s");

# --- last_used writes notify nothing -----------------------------------------
# Notifications arrive in commit order: once both nodes have logged the
# eviction of a marker key changed after the last_used write, a
# notification of that write would have been logged before it.  The key
# was used on both nodes, so the module's own last_used writes came first
# too.
my $quiet = cached_key('revquiet', @nodes);
my $marker = cached_key('revmarker', @nodes);
my @from = map { [$_->{log}, log_size($_->{log})] } @nodes;
psql("UPDATE authchain_token SET last_used = now() + interval '1 hour'"
     . " WHERE user_name = 'revquiet'");
psql("UPDATE authchain_token SET scopes = 'marked' WHERE user_name = 'revmarker'");
my $mark = substr(sha256_hex($marker), 0, 8);
my $qmark = substr(sha256_hex($quiet), 0, 8);
ok t_cmp(logs_show(qr/AC0108: .*SHA-256 \Q$mark\E\.\.\. changed/, 3, @from),
         1, 'a scopes change is logged as an eviction by both nodes');
ok t_cmp([grep { log_since(@$_) =~ /SHA-256 \Q$qmark\E/ } @from], [],
         'a last_used-only UPDATE (and the module\'s own) evicts nothing');
ok t_cmp([map { (answer($_, $quiet))[0] } @nodes], [200, 200],
         'and the key is still granted');

# --- the listener's connection lost: TTL fallback, then resync ------------
my $gap = cached_key('revgap', @nodes);
@from = map { [$_->{log}, log_size($_->{log})] } @nodes;
# One transaction: both listeners are gone (pg_terminate_backend waits
# for them, 5 s at most) before the revocation commits, so its
# notification reaches no node; they reconnect after their back-off (1 s).
psql("BEGIN; SELECT count(pg_terminate_backend(pid, 5000))"
     . " FROM pg_stat_activity WHERE application_name = 'authchain-listener';"
     . " UPDATE authchain_token SET revoked = now() WHERE user_name = 'revgap';"
     . " COMMIT");
ok t_cmp([map { (answer($_, $gap))[0] } @nodes], [200, 200],
         'during the gap the cached grant is served (fallback to the TTL)');
ok t_cmp(logs_show(qr/AuthTokenRevocationListen \(AuthTokenDB at [^)]+\): lost the connection that listens to the database .*refused only when its cache entry expires \(AuthTokenCacheTTL\)/,
                   3, @from), 1,
         'both nodes log that they fell back to AuthTokenCacheTTL');
ok t_cmp(logs_show(qr/AuthTokenRevocationListen \(AuthTokenDB at [^)]+\): listening to the database again; what was cached before is not trusted \(resynchronised\)/,
                   5, @from), 1,
         'both nodes log the reconnection and the resynchronisation');
($took, $reasons) = refused_everywhere($gap, time, 3, @nodes);
ok t_cmp($reasons, ['Token revoked.', 'Token revoked.'],
         'after the reconnection the key revoked during the gap is refused');
my @losses = map { my $l = log_since(@$_); scalar(() = $l =~ /AC0210:/g) } @from;
ok t_cmp(\@losses, [2, 1],
         'the loss is logged once per listener (node 1 has two)');

# and notifications work again after the reconnection
$key = cached_key('revagain', @nodes);
$t0 = time;
token_cli('revoke', '--user', 'revagain');
($took, $reasons) = refused_everywhere($key, $t0, 3, @nodes);
ok t_cmp(defined $took && $took < $limit ? $reasons : [],
         ['Token revoked.', 'Token revoked.'],
         "after the reconnection a revocation is instant again (< $limit s)");
stop_httpd($node2->{conf});

# --- two nodes on one redis ------------------------------------------------
my ($redis_pid, $redis_port) = start_cache_server('redis', $dir);
my @shared = map {
    my $n = start_token_node("$dir/redis$_", ttl => 300,
                             cache => "redis:127.0.0.1:$redis_port");
    { name => "redis node $_", url => "http://127.0.0.1:$n->{port}/api/",
      log => $n->{log}, conf => $n->{conf} }
} 1, 2;
$t = time;
sleep 0.1 while listeners() < 3 && time - $t < 10;
ok t_cmp(listeners() >= 3, 1, 'redis: both new nodes listen');
$key = new_key('revredis');
ok t_cmp([(answer($shared[0], $key))[0]], [200],
         'redis: node 1 verifies a key (cached in redis)');
ok t_cmp([(answer($shared[1], $key))[0]], [200],
         'redis: node 2 is granted too');
$t0 = time;
token_cli('revoke', '--user', 'revredis');
($took, $reasons) = refused_everywhere($key, $t0, 3, @shared);
ok t_cmp($reasons, ['Token revoked.', 'Token revoked.'],
         'redis: the revoked key is refused on both nodes');
ok t_cmp(defined $took && $took < $limit, 1, "redis: within $limit s");
stop_httpd($_->{conf}) for @shared;
kill 'TERM', $redis_pid;
waitpid $redis_pid, 0;

# --- DRF's table with sql/drf_notify.sql (AuthTokenRevocationListen On) -----
my $top = Apache::Test::vars('serverroot') . '/..';
my $out = `psql -qtAX -v ON_ERROR_STOP=1 -f '$top/sql/drf_notify.sql' 2>&1`;
ok t_cmp([$?, $out =~ /ERROR/ ? $out : 'no error'], [0, 'no error'],
         'sql/drf_notify.sql installs');
my $drf = start_token_node("$dir/drf", ttl => 300,
                           server => "AuthTokenSchema drf\nAuthTokenRevocationListen On");
my $drf_node = { name => 'drf node', url => "http://127.0.0.1:$drf->{port}/api/",
                 log => $drf->{log} };
my ($k1, $k2) = ('0aa1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3',
                 '0bb1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3');
psql("INSERT INTO auth_user (id, password, is_superuser, username, first_name,"
     . " last_name, email, is_staff, is_active, date_joined) VALUES"
     . " (9001, '!', false, 'drfgone', '', '', '', false, true, now()),"
     . " (9002, '!', false, 'drfoff', '', '', '', false, true, now());"
     . " INSERT INTO authtoken_token VALUES ('$k1', now(), 9001), ('$k2', now(), 9002)");
$t = time;
sleep 0.1 while log_since($drf->{log}, 0) !~ /AC0213:/ && time - $t < 5;
ok t_cmp([map { (answer($drf_node, $_))[0] } $k1, $k2], [200, 200],
         'drf: two keys are granted and cached (TTL 300)');
$t0 = time;
psql("DELETE FROM authtoken_token WHERE key = '$k1';"
     . " UPDATE auth_user SET is_active = false WHERE id = 9002");
my ($took1, $r1) = refused_everywhere($k1, $t0, 3, $drf_node);
my ($took2, $r2) = refused_everywhere($k2, $t0, 3, $drf_node);
ok t_cmp([@$r1, @$r2], ['Invalid token.', 'User inactive or deleted.'],
         'drf: a deleted token and a deactivated user are refused at once');
ok t_cmp(defined $took1 && defined $took2 && $took1 < $limit && $took2 < $limit,
         1, "drf: within $limit s");
stop_httpd($drf->{conf});
psql("DROP TRIGGER authchain_drf_token_notify ON authtoken_token;"
     . " DROP TRIGGER authchain_drf_user_notify ON auth_user;"
     . " DELETE FROM authtoken_token WHERE user_id IN (9001, 9002);"
     . " DELETE FROM auth_user WHERE id IN (9001, 9002)");
