# Graceful restarts under load lose no request.  Two background clients
# (about 60 requests a second, on keep-alive connections: two, so that
# they fit in the 3 processes Apache::Test gives prefork) alternate
# between a location with a cached token (/gtoken) and a static one
# (/gstatic) while the test server restarts gracefully four times: twice
# unchanged (`httpd -k graceful`, i.e. apachectl -k graceful, and SIGUSR1,
# the signal it sends) and twice with a changed configuration (a file that
# t/conf/extra.conf.in includes is written, then removed: a config
# reload).
#
# What counts as failed: a connection refused, a response that is not 200,
# a response cut short, no answer within 10 s.  What does not: a keep-alive
# connection that the server closes, before sending any byte of an answer,
# while a request is on its way -- the old generation's children close
# their idle connections at a graceful restart, and every HTTP client
# sends an idempotent request again on a new connection then (RFC 9112
# section 9.3.1); the clients here do so once, and count it.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test;
use Apache::TestUtil;
use POSIX ();
use Time::HiRes qw(time sleep);
use ChainTest;

plan tests => 14;

my $root = Apache::Test::vars('serverroot');
my $reload_conf = "$root/logs/graceful-reload.conf";
my $pidfile = "$root/logs/httpd.pid";
END { unlink $reload_conf if $reload_conf }

sub parent_pid {
    open my $fh, '<', $pidfile or die "$pidfile: $!";
    chomp(my $pid = <$fh>);
    return $pid;
}

# Restart gracefully with $how (a code ref) and wait until the new
# generation says it is up; returns 1 when it did within 15 s.
sub graceful {
    my ($how) = @_;
    my $from = error_log_size();
    $how->();
    my $t0 = time;
    while (time - $t0 < 15) {
        return 1 if error_log_since($from) =~ /resuming normal operations/;
        sleep 0.1;
    }
    return 0;
}
my @apachectl = (Apache::Test::vars('httpd'), '-d', $root,
                 '-f', Apache::Test::vars('t_conf_file'),
                 '-D', 'APACHE2', '-D', 'APACHE2_4', '-k', 'graceful');
sub by_apachectl {
    # its own output (the configuration's start-up trace) goes to a file
    my $out = "$root/logs/apachectl.stderr";
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open STDOUT, '>>', $out and open STDERR, '>>', $out or POSIX::_exit(127);
        exec @apachectl or POSIX::_exit(127);
    }
    waitpid $pid, 0;
    die "@apachectl failed (see $out)" if $?;
}
sub by_signal { kill 'USR1', parent_pid() or die "kill USR1: $!" }

my $hostport = hostport_of();
sub header_of_static {
    my $r = raw_http($hostport, "GET /gstatic/index.html HTTP/1.0\r\n\r\n");
    return [$r->{status}, ($r->{headers}{'x-graceful-reload'} // [])->[0]];
}

my $key = new_key('graceful');
my $log_from = error_log_size();
my $parent = parent_pid();
my $before = metrics();
my $load = load_start(hostport => $hostport, keepalive => 1,
                      clients => 2, rate => 30, timeout => 10,
                      requests => [['/gtoken/index.html',
                                    { Authorization => "Token $key" }],
                                   ['/gstatic/index.html', {}]]);
sleep 1.5;

ok t_cmp(graceful(\&by_apachectl), 1, 'httpd -k graceful: a new generation is up');
sleep 1.5;

open my $fh, '>', $reload_conf or die "$reload_conf: $!";
print $fh "<Location /gstatic>\n    Header always set X-Graceful-Reload \"1\"\n"
        . "</Location>\n";
close $fh;
ok t_cmp(graceful(\&by_signal), 1,
         'a changed configuration, SIGUSR1: a new generation is up');
ok t_cmp(header_of_static(), [200, 1], 'it serves the changed configuration');
sleep 1.5;

ok t_cmp(graceful(\&by_signal), 1, 'SIGUSR1 again: a new generation is up');
sleep 1.5;

unlink $reload_conf or die "$reload_conf: $!";
ok t_cmp(graceful(\&by_apachectl), 1,
         'the change taken back, httpd -k graceful: a new generation is up');
ok t_cmp(header_of_static(), [200, undef], 'it serves the configuration of before');
sleep 1.5;

my $all = load_stop($load);
ok t_cmp(parent_pid(), $parent, 'the same parent process throughout (no full restart)');

my %by_path;
$by_path{ $_->{index} }++ for @$all;
ok t_cmp([scalar(@$all) > 300, ($by_path{0} // 0) > 100, ($by_path{1} // 0) > 100],
         [1, 1, 1], 'the load ran all along: '
         . scalar(@$all) . ' requests, both locations');
my @failed = grep { ($_->{status} // 0) != 200 } @$all;
for my $r (@failed[0 .. ($#failed < 9 ? $#failed : 9)]) {
    t_debug(sprintf 'failed: request %d at %.3f: %s after %.2f s (%d retries)',
            $r->{index}, $r->{t0}, $r->{status} // $r->{error},
            $r->{t1} - $r->{t0}, $r->{retries});
}
ok t_cmp(scalar @failed, 0, 'no request failed');
my $retried = grep { $_->{retries} } @$all;
t_debug("$retried requests sent again after their keep-alive connection closed");
ok t_cmp(scalar(grep { $_->{t1} - $_->{t0} > 5 } @$all), 0,
         'no request took more than 5 s');

# The counters live in the parent's segment (docs/operations.md)
my $after = metrics();
my $granted = 'authchain_decisions_total{scheme="token",outcome="granted",reason="ok"}';
my $start = 'authchain_metrics_start_time_seconds';
ok t_cmp([$after->{$start} == $before->{$start} ? 1 : 0,
          $after->{$granted} - $before->{$granted} >= ($by_path{0} // 0) ? 1 : 0],
         [1, 1], 'the metrics survive graceful restarts: every granted key of the load is counted');

my $res = raw_http($hostport, "GET /gtoken/index.html HTTP/1.0\r\n"
                             . "Authorization: Token $key\r\n\r\n");
ok t_cmp($res->{status}, 200, 'the key works after the restarts');
$res = raw_http($hostport, "GET /gtoken/index.html HTTP/1.0\r\n"
                          . "Authorization: Token act_notakey\r\n\r\n");
ok t_cmp($res->{status}, 401, 'a bad key is still refused');
my $log = error_log_since($log_from);
ok t_cmp([$log =~ /(exit signal|Segmentation fault|AH00052|AH00051|AH00045)/g], [],
         'no httpd child crashed or had to be killed');
