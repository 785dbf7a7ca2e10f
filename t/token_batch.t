# Lookups batched across the threads of a child (ac_pg_batch): the keys of
# requests that arrive while a statement runs go to PostgreSQL together, in
# the next statement, and each request must still get the answer for its
# own key.  To make the batches certain, a psql session holds an ACCESS
# EXCLUSIVE lock on the token tables until every request is stuck behind
# it: the first lookups block on it, the requests that come meanwhile
# queue up behind them, and when the lock goes they are asked in one
# statement (logged at trace1).  Native keys (granted, revoked, unknown), DRF keys
# with the characters an array literal must escape, knox keys sharing one
# token_key: all at once.  Then the queue under a frozen database: every
# request answers 503 within AuthTokenDBTimeout (1 s here), the ones
# waiting in the queue as well as the ones in the statement, and the next
# request after the lock is granted again.
# Under prefork a child serves one request at a time: no batch has more
# than one key, and the answers must be right all the same.
# The test runs its own httpd with a single child process under event and
# worker (ServerLimit 1): every request then waits in the same child, so
# that the size of the batches does not depend on how many children the
# MPM happens to run (the test server's can run four while it replaces
# one, and then no child need hold three of the requests).
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test;
use Apache::TestUtil;
use File::Temp qw(tempdir);
use Time::HiRes qw(time sleep);
use ChainTest;

plan tests => 14;

# TAP comments, for the failures' details
sub explain { print "# $_\n" for split /\n/, join "\n", @_; return 0 }

my $mpm = $ENV{AUTHCHAIN_MPM} || 'event';
my $threaded = $mpm ne 'prefork';

# --- the node: one child (two under prefork), the locations of the test ------
my $dir = tempdir(CLEANUP => 1);
my $port = free_port();
my $docroot = Apache::Test::vars('documentroot');
my $conf = "$dir/httpd.conf";
my @locations;
for ([token => 'native', 10], [drf => 'drf', 10], [knox => 'knox', 10],
     [short => 'native', 1]) {
    my ($path, $schema, $timeout) = @$_;
    push @locations, <<EOL;
<Location /$path>
    AuthType Chain
    AuthName "batch"
    AuthChain token
    AuthTokenSchema $schema
    AuthTokenCacheTTL 0
    AuthTokenTouchInterval 0
    AuthTokenDBTimeout $timeout
    Require valid-user
</Location>
EOL
}
open my $fh, '>', $conf or die "$conf: $!";
print $fh httpd_config(
    dir => $dir, port => $port,
    stock => ["mpm_$mpm", qw(authn_core authz_core authz_user alias
                             socache_shmcb),
              $threaded ? 'cgid' : 'cgi'],
    ours => [[auth_chain => 'modules/chain/.libs/mod_auth_chain.so'],
             [authn_token => 'modules/token/.libs/mod_authn_token.so']],
    body => join('', <<EOC, @locations));
LogLevel info authn_token:trace1
<IfModule cgid_module>
    ScriptSock $dir/cgid.sock
</IfModule>
ScriptAliasMatch "^/[a-z]+/env\$" "$docroot/env.cgi"
@{[ $threaded
    ? "StartServers 1\nServerLimit 1\nThreadsPerChild 32\n"
      . "MaxRequestWorkers 32\nMinSpareThreads 1\nMaxSpareThreads 32"
    : "StartServers 2\nMinSpareServers 2\nMaxSpareServers 2\n"
      . "MaxRequestWorkers 2" ]}
AuthTokenDB "@{[ test_db() ]}"
AuthTokenRevocationListen Off
EOC
close $fh;
start_httpd($conf, $port);
END { stop_httpd($conf) if $conf }
my $hostport = "127.0.0.1:$port";
my $node_log = "$dir/error_log";

sub log_size { return -s $node_log || 0 }

# What the node's log gained since offset $from (after a short settle).
sub log_since {
    my ($from) = @_;
    sleep 0.3;
    open my $in, '<', $node_log or return '';
    seek $in, $from, 0;
    local $/;
    return scalar <$in> // '';
}

# --- the keys ----------------------------------------------------------------
my (@cases, %seen);
for my $i (1 .. 8) {
    push @cases, ["/token/env", "Token " . new_key("batch$i"), 200, "batch$i"];
}
my $revoked = new_key('batchrevoked');
token_cli('revoke', '--user', 'batchrevoked');
push @cases, ['/token/env', "Token $revoked", 401, 'Token revoked.'];
my $gone = new_key('batchgone');
psql("DELETE FROM authchain_token WHERE user_name = 'batchgone'");
push @cases, ['/token/env', "Token $gone", 401, 'Invalid token.'];

# DRF keys are whatever the table holds (varchar(40)): quotes, backslashes,
# commas and braces must reach PostgreSQL as one array element each.
my @drf = ('q"uote"d', 'back\\slash', 'com,ma{x}', 'NULL', 'plain0drf');
sub sql {       # no shell between the SQL and psql
    system('psql', '-qtAX', '-v', 'ON_ERROR_STOP=1', '-c', $_[0]) == 0
        or die "psql failed: $_[0]";
}
sql("DELETE FROM authtoken_token WHERE user_id BETWEEN 901 AND 906;"
    . " DELETE FROM auth_user WHERE id BETWEEN 901 AND 906");
for my $i (0 .. $#drf) {
    my $id = 901 + $i;
    (my $sqlkey = $drf[$i]) =~ s/'/''/g;
    sql("INSERT INTO auth_user (id, password, is_superuser, username,"
        . " first_name, last_name, email, is_staff, is_active, date_joined)"
        . " VALUES ($id, '!', false, 'drfbatch$i', '', '', '', false,"
        . " true, now());"
        . " INSERT INTO authtoken_token VALUES ('$sqlkey', now(), $id)");
    push @cases, ['/drf/env', "Token $drf[$i]", 200, "drfbatch$i"];
}
push @cases, ['/drf/env', 'Token q"uote"', 401, 'Invalid token.'];
# knox: two keys with the same first 15 characters (token_key), both valid
push @cases,
    ['/knox/env', 'Token a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2',
     200, 'djalice'],
    ['/knox/env', 'Token a1b2c3d4e5f6a7bffffffffffffffffffffffffffffffffffffffffffffffffff',
     200, 'djalice'],
    ['/knox/env', 'Token c1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2',
     401, 'User inactive or deleted.'];

# answer_of's [status, what, seconds], and the moment it came
sub ask { return [@{ answer_of($hostport, @_) }, time] }

# Every case answered alone first: right without any batch.
my %got;
my @wrong = grep { my $got = ask(@$_[0, 1]); $got{$_->[1]} = "$got->[0] $got->[1]";
                   "$got->[0] $got->[1]" ne "$_->[2] $_->[3]" } @cases;
ok t_cmp(scalar(@wrong), 0, 'each key, asked alone, gets its answer')
    or explain(join "\n", map { "$_->[0] $_->[1]: got $got{$_->[1]}" } @wrong);

# The number of keys of each statement logged since $mark.
sub batch_sizes {
    my ($log) = @_;
    return map { /AuthTokenDB: (\d+) key\(s\) of \d+ request\(s\)/ ? $1 : () }
           split /\n/, $log;
}

# All of @list at once while @tables are locked; the lock goes once every
# request is stuck behind it, each either in a statement waiting for the
# lock in PostgreSQL or queued behind such a statement in its child (the
# trace1 line "queued behind the running statement"), so that the batches
# do not depend on how fast the requests arrive.  Under prefork a child
# takes one request at a time and the others wait in the listen queue:
# there the lock simply stays for a second.  Returns the answers, the log
# they wrote, and the moment the lock went.
sub behind_lock {
    my ($tables, @list) = @_;
    my $mark = log_size();
    my $lock = hold_tables(@$tables);
    my $t0 = time;
    my $started = start_at_once(\&ask, @list);
    my ($stuck, $in_pg, $queued) = (0, 0, 0);
    # (8 s: AuthTokenDBTimeout is 10 s in these locations)
    while (time - $t0 < ($threaded ? 8 : 1)) {
        sleep 0.2;
        next if !$threaded;
        $in_pg = psql("SELECT count(*) FROM pg_stat_activity"
                      . " WHERE wait_event_type = 'Lock'");
        $queued = () = log_since($mark)
                       =~ /AuthTokenDB: queued behind the running statement/g;
        last if ($stuck = $in_pg + $queued) >= @list;
    }
    print "# only $stuck of " . scalar(@list) . " requests stuck behind the"
          . " lock ($in_pg in PostgreSQL, $queued queued) after 8 s\n"
        if $threaded && $stuck < @list;
    my $released = time;
    release_tables($lock);
    my @answers = answers_of($started);
    return (\@answers, log_since($mark), $released);
}

# --- all the keys at once, behind the lock --------------------------------------
my ($answers, $log, $released) =
    behind_lock([qw(authchain_token authtoken_token knox_authtoken)], @cases);
my @answers = @$answers;
@wrong = grep { join(' ', map { $_ // '' } @{ $answers[$_] }[0, 1])
                 ne "$cases[$_][2] $cases[$_][3]" }
         0 .. $#cases;
ok t_cmp(scalar(@wrong), 0,
         scalar(@cases) . ' requests at once: each gets the answer for its own key')
    or explain(join "\n", map { "$cases[$_][1]: got "
                             . join(' ', map { $_ // '-' } @{ $answers[$_] })
                             . ", want $cases[$_][2] $cases[$_][3]" } @wrong);
ok t_cmp(scalar(grep { ($_->[3] // 0) < $released } @answers), 0,
         'they were answered after the lock went (they did wait for it)');
my @sizes = batch_sizes($log);
my ($max) = sort { $b <=> $a } @sizes;
print "# keys per statement: @sizes\n";
ok t_cmp(scalar(@sizes) > 0, 1, 'the statements are logged at trace1');
if ($threaded) {
    ok t_cmp($max >= 3 ? 'batched' : "at most $max key(s) a statement",
             'batched', 'the queued keys went in one statement (3 or more)');
}
else {
    ok t_cmp($max, 1, 'prefork: one key a statement');
}
my @native = grep { /AuthTokenDB: \d+ key/ } split /\n/, $log;
ok t_cmp(scalar(grep { /no answer/ } @native), 0, 'every statement was answered');
ok t_cmp($log =~ /\bq"uote"d|back\\slash|com,ma\{x\}/ ? 'leaked' : 'clean',
         'clean', 'no key reaches the log');

# --- the same keys many times over: duplicates asked once -----------------------
my @dups = ((['/token/env', $cases[0][1], 200, 'batch1']) x 6,
            (['/token/env', $cases[1][1], 200, 'batch2']) x 6);
($answers, $log) = behind_lock(['authchain_token'], @dups);
@answers = @$answers;
@wrong = grep { "$answers[$_][0] $answers[$_][1]" ne "$dups[$_][2] $dups[$_][3]" }
         0 .. $#dups;
ok t_cmp(scalar(@wrong), 0, 'two keys, six requests each, at once: right answers');
my $dup_keys = 0;
for (split /\n/, $log) {
    $dup_keys = 1 if /AuthTokenDB: (\d+) key\(s\) of (\d+) request/ && $1 > 2;
}
ok t_cmp($dup_keys, 0, 'a statement asks for each key once');

# --- a frozen database: the queue gives up in time ------------------------------
# (prefork: as many requests as the node has processes, 2; more would
# wait in the listen queue, not in ours, and outlast the lock)
my $n = $threaded ? 16 : 2;
my @short = map { ['/short/env', $cases[$_ % 8][1]] } 1 .. $n;
my $mark = log_size();
my $locker = lock_tables(4, 'authchain_token');
@answers = all_at_once(\&ask, @short);
my @not503 = grep { $_->[0] != 503 } @answers;
ok t_cmp(scalar(@not503), 0, "$n requests at once on a frozen database: all 503")
    or explain(join "\n", map { "@$_" } @answers);
ok t_cmp(scalar(grep { $_->[1] ne 'retry' } @answers), 0, 'with Retry-After');
my ($slowest) = sort { $b <=> $a } map { $_->[2] // 99 } @answers;
ok t_cmp($slowest <= 2.5 ? 'in time' : "slowest $slowest s", 'in time',
         'each within AuthTokenDBTimeout 1 s (+ 1.5 s)');
close $locker or die "psql holding the lock failed: $?";
$log = log_since($mark);
# A queued request either gave up at its own deadline, or was taken into
# a statement that failed in time with the others.
my $queued = $log =~ /timed out waiting for a batched lookup/
             || grep { /key\(s\) of ([2-9]|\d\d+) request\(s\).*no answer/ }
                split /\n/, $log;
ok t_cmp($queued ? 'queued' : 'never queued', $threaded ? 'queued' : 'never queued',
         $threaded ? 'requests queued behind the frozen statements, and left in time'
                   : 'prefork: no request ever queued')
    or explain(join "\n", grep { /authn_token/ } split /\n/, $log);
my $after;
for (1 .. 20) {     # the pool's back-off after the failures: 0.5 s
    $after = ask('/short/env', $cases[0][1]);
    last if $after->[0] == 200;
    sleep 0.25;
}
ok t_cmp("$after->[0] $after->[1]", '200 batch1', 'answers again once the lock is gone');
