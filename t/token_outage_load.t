# The token database going away under load, twice: a fast shutdown
# (pg_ctl -m fast stop) and a crash (kill -9 of the postmaster and its
# backends, as the OOM killer or a dying machine would leave it).  Four
# background clients send about 40 key requests a second to /outage (no
# cache: every request is a database lookup).  During the outage every
# answer is 503 with Retry-After, within AuthTokenDBTimeout (2 s) + 1 s;
# never a 401, never a hang; within 2 s of PostgreSQL being back every
# request succeeds again, without touching httpd.  Then a restart while
# no request comes in: the connections the children pooled before it are
# all dead, and the first requests after it must not pay for that with a
# 503 (each child must find out, and connect anew, within the request).
# (Sorts after t/session_dbd.t and t/token_outage.t: mod_dbd's pooled
# connections do not survive a restart of the database.)
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test;
use Apache::TestUtil;
use POSIX ();
use Time::HiRes qw(time sleep);
use ChainTest;

my ($bin, $data, $opts) = @ENV{qw(AUTHCHAIN_PGBIN AUTHCHAIN_PGDATA AUTHCHAIN_PGOPTS)};
die "build/check must export AUTHCHAIN_PGBIN, _PGDATA and _PGOPTS\n"
    unless $bin && $data && $opts;

my $TIMEOUT = 2;        # AuthTokenDBTimeout of t/conf/extra.conf.in
my $BACK_WITHIN = 2;

plan tests => 2 * 9 + 3;

sub pg_running {
    return system("'$bin/pg_ctl' -s -D '$data' status >/dev/null 2>&1") >> 8 == 0;
}
sub pg_start {
    return system("$bin/pg_ctl", '-s', '-D', $data, '-o', $opts, '-l',
                  "$data/../postgresql.log", '-w', '-t', '60', 'start') >> 8;
}
END {
    # whatever happened above: leave the database running for what follows
    pg_start() if $bin && !pg_running();
}

# The postmaster and every process it started (the backends, the
# checkpointer, ...), killed at once with SIGKILL.
sub pg_crash {
    open my $fh, '<', "$data/postmaster.pid" or die "postmaster.pid: $!";
    chomp(my $pm = <$fh>);
    my @kids;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $s, '<', $stat or next;
        my $line = <$s> // next;
        push @kids, $1 if $line =~ /^(\d+) \(.*\) \S+ (\d+) / && $2 == $pm;
    }
    kill 'KILL', $pm, @kids;
    for (1 .. 100) {       # until they are gone
        last unless grep { kill 0, $_ } $pm, @kids;
        sleep 0.05;
    }
    return 0;
}

my $key = new_key('outageload');
my $hostport = hostport_of();
my @requests = (['/outage/index.html', { Authorization => "Token $key" }]);
{
    my ($r, $t0) = (undef, time);
    while (time - $t0 < 5) {
        $r = raw_http($hostport, "GET /outage/index.html HTTP/1.0\r\n"
                                . "Authorization: Token $key\r\n\r\n");
        last if ($r->{status} // 0) == 200;
        sleep 0.2;
    }
    die "the key does not work before the outage: " . ($r->{status} // $r->{error})
        unless ($r->{status} // 0) == 200;
}

sub describe {
    my ($list) = @_;
    my %n;
    $n{ $_->{status} // $_->{error} }++ for @$list;
    return join ', ', map { "$_: $n{$_}" } sort keys %n;
}

for my $how (['fast shutdown', sub {
                  system("$bin/pg_ctl", '-s', '-D', $data, '-m', 'fast', '-w',
                         'stop') >> 8 }],
             ['kill -9', \&pg_crash]) {
    my ($name, $stop) = @$how;
    my $load = load_start(hostport => $hostport, requests => \@requests,
                          clients => 4, rate => 10, timeout => 10);
    sleep 2;
    my $stop0 = time;
    my $rc = $stop->();
    my $stop1 = time;
    ok t_cmp($rc, 0, "$name: the database is down");
    sleep 3;
    my $start0 = time;
    $rc = pg_start();
    my $start1 = time;
    ok t_cmp($rc, 0, "$name: the database is up again");
    sleep $BACK_WITHIN + 2;
    my $all = load_stop($load);

    # what went wrong, relative to the stop, for the log of a failure
    for my $r (grep { ($_->{status} // 0) !~ /^(?:200|503)$/
                      || $_->{t1} - $_->{t0} > $TIMEOUT + 1 } @$all) {
        t_debug(sprintf "%s: at %+.2f s (stopped %+.2f, started %+.2f..%+.2f): "
                . "%s after %.2f s", $name, $r->{t0} - $stop0, $stop1 - $stop0,
                $start0 - $stop0, $start1 - $stop0,
                $r->{status} // $r->{error}, $r->{t1} - $r->{t0});
    }
    my @before = grep { $_->{t1} < $stop0 } @$all;
    my @during = grep { $_->{t0} > $stop1 && $_->{t1} < $start0 } @$all;
    my @after = grep { $_->{t0} > $start1 + $BACK_WITHIN } @$all;
    t_debug("$name: " . scalar(@$all) . ' requests; before: ' . describe(\@before)
            . '; during: ' . describe(\@during) . '; after: ' . describe(\@after));

    ok t_cmp([scalar(@before) > 20, describe([grep { ($_->{status} // 0) != 200 } @before])],
             [1, ''], "$name: before the outage every request is granted");
    ok t_cmp([scalar(@during) >= 40, describe([grep {
                  ($_->{status} // 0) != 503 || !defined $_->{retry_after} } @during])],
             [1, ''], "$name: during the outage every request is 503 with Retry-After");
    my @slow = grep { $_->{t1} - $_->{t0} > $TIMEOUT + 1 } @$all;
    ok t_cmp(scalar @slow, 0,
             "$name: every answer within AuthTokenDBTimeout + 1 s, also while "
             . 'the database stops and starts');
    ok t_cmp(describe([grep { ($_->{status} // 0) == 401 } @$all]), '',
             "$name: no request is refused with 401");
    ok t_cmp(describe([grep { !defined $_->{status}
                              || $_->{status} !~ /^(?:200|503)$/ } @$all]), '',
             "$name: no answer but 200 and 503, no connection error");
    ok t_cmp([scalar(@after) > 20, describe([grep { ($_->{status} // 0) != 200 } @after])],
             [1, ''],
             "$name: every request from $BACK_WITHIN s after the restart on is granted");
    my ($first_ok) = grep { ($_->{status} // 0) == 200 && $_->{t0} > $start1 } @$all;
    ok t_cmp(defined $first_ok && $first_ok->{t1} - $start1 < $BACK_WITHIN ? 1 : 0, 1,
             "$name: the first success comes within $BACK_WITHIN s of the restart");
}

# --- a restart while idle ------------------------------------------------------

# $n requests at once, each on its own connection: the children open
# several pooled connections each.  Returns the statuses, counted.
sub burst {
    my ($n) = @_;
    my @pids;
    for (1 .. $n) {
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            my $r = raw_http($hostport, "GET /outage/index.html HTTP/1.0\r\n"
                                       . "Authorization: Token $key\r\n\r\n");
            POSIX::_exit(($r->{status} // 0) == 200 ? 0
                         : ($r->{status} // 0) == 503 ? 1 : 2);
        }
        push @pids, $pid;
    }
    my %n;
    for my $pid (@pids) {
        waitpid $pid, 0;
        $n{ (200, 503, 'other')[$? >> 8] // 'other' }++;
    }
    return join ', ', map { "$_: $n{$_}" } sort keys %n;
}

my @warm = map { burst(40) } 1 .. 3;
ok t_cmp(\@warm, ['200: 40', '200: 40', '200: 40'],
         'idle restart: 40 requests at once, three times, are granted');
my $rc = system("$bin/pg_ctl", '-s', '-D', $data, '-m', 'fast', '-w', 'stop') >> 8;
$rc ||= pg_start();
ok t_cmp($rc, 0, 'idle restart: the database restarted with no request coming in');
sleep $BACK_WITHIN;
# one at a time first: a child then meets its dead connections one after
# the other, not several threads one each
my %seq;
for (1 .. 40) {
    my $r = raw_http($hostport, "GET /outage/index.html HTTP/1.0\r\n"
                               . "Authorization: Token $key\r\n\r\n");
    $seq{ $r->{status} // $r->{error} }++;
}
ok t_cmp([join(', ', map { "$_: $seq{$_}" } sort keys %seq), burst(40)],
         ['200: 40', '200: 40'],
         "idle restart: $BACK_WITHIN s later every request is granted (40 one "
         . 'after the other, 40 at once), although the pooled connections died');
