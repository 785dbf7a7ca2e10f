# Replicas and failover: with a multi-host AuthTokenDB that prefers a
# standby, lookups read from a streaming standby and go on when the
# primary stops, while the last_used writes go to the primary, are skipped
# (logged once) while it is down, and resume when it is back.  The test
# starts its own primary and standby (pg_basebackup -R) and its own httpd.
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

plan tests => 10;

my $bin = $ENV{AUTHCHAIN_PGBIN} or die "build/check must export AUTHCHAIN_PGBIN\n";
# short: the Unix socket path must fit in 107 bytes
my $dir = tempdir('acrXXXXXX', TMPDIR => 1, CLEANUP => 1);
my ($pport, $sport, $hport) = (free_port(), free_port(), free_port());
my $user = getpwuid($<);
my ($primary, $standby, $conf) = ("$dir/primary", "$dir/standby", "$dir/httpd.conf");
my $started_httpd;

END {
    stop_httpd($conf) if $started_httpd;
    pg_ctl_stop($standby);
    pg_ctl_stop($primary);
}

# Our httpd's error log: its size, and what it gained since an offset.
sub log_size { return -s "$dir/error_log" || 0 }
sub log_since {
    my ($from) = @_;
    sleep 0.3;
    open my $fh, '<', "$dir/error_log" or return '';
    seek $fh, $from, 0;
    local $/;
    return scalar <$fh>;
}

# SQL on one of our servers.
sub sql_on {
    my ($port, $sql) = @_;
    my $out = `'$bin/psql' -h '$dir' -p $port -d postgres -qtAX -v ON_ERROR_STOP=1 -c "$sql" 2>&1`;
    die "psql on port $port failed: $out" if $?;
    chomp $out;
    return $out;
}

system("$bin/initdb", '-D', $primary, '-U', $user, '-A', 'trust', '-E', 'UTF8',
       '--locale=C', '--no-sync') == 0          # wal_level=replica by default
    or die 'initdb failed';
pg_ctl_start($primary, $dir, $pport);
system("$bin/pg_basebackup", '-h', $dir, '-p', $pport, '-U', $user,
       '-D', $standby, '-R', '-X', 'stream', '-c', 'fast', '--no-sync') == 0
    or die 'pg_basebackup failed';
pg_ctl_start($standby, $dir, $sport);

my $schema = Apache::Test::vars('serverroot') . '/../sql/schema.sql';
system("$bin/psql", '-h', $dir, '-p', $pport, '-d', 'postgres', '-qX',
       '-v', 'ON_ERROR_STOP=1', '-f', $schema) == 0 or die 'schema failed';
my $pdb = "host=$dir port=$pport dbname=postgres user=$user";
my ($rc, $key, $err) = token_cli('--db', $pdb, 'create', 'replica');
die "authchain-token create failed ($rc): $err" if $rc;
chomp $key;
# wait until the standby has replayed the key
for (1 .. 50) {
    last if sql_on($sport, 'SELECT count(*) FROM authchain_token') eq '1';
    sleep 0.1;
}

mkdir "$dir/api";
open my $fh, '>', "$dir/api/index.html" or die;
print $fh "ok\n";
close $fh;
open $fh, '>', $conf or die "$conf: $!";
print $fh httpd_config(
    dir => $dir, port => $hport,
    stock => [qw(mpm_event authn_core authz_core authz_user dir socache_shmcb)],
    ours => [[auth_chain => 'modules/chain/.libs/mod_auth_chain.so'],
             [authn_token => 'modules/token/.libs/mod_authn_token.so']],
    body => <<EOC);
DirectoryIndex index.html
# one child process: the outage is logged once per child
StartServers 1
ServerLimit 1
ThreadsPerChild 16
MaxRequestWorkers 16
MinSpareThreads 1
MaxSpareThreads 16
AuthTokenDB "host=$dir,$dir port=$pport,$sport dbname=postgres user=$user target_session_attrs=prefer-standby application_name=acreplica"
AuthTokenDBTimeout 2
<Location /api>
    AuthType Chain
    AuthName "api"
    AuthChain token
    AuthTokenCacheTTL 0
    AuthTokenTouchInterval 1
    Require valid-user
</Location>
EOC
close $fh;
start_httpd($conf, $hport);
$started_httpd = 1;

my $ua = LWP::UserAgent->new(timeout => 10);
sub status { $ua->get("http://127.0.0.1:$hport/api/", Authorization => "Token $key")->code }
my $modconns = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'acreplica'";
my $last_used = 'SELECT coalesce(extract(epoch FROM last_used)::text, \'\') FROM authchain_token';

my $first = status();
ok t_cmp($first, 200, 'a key is verified through the multi-host string');
print STDERR "# error_log:\n", log_since(0) if $first != 200;
ok t_cmp(sql_on($sport, $modconns) >= 1, 1,
         'the lookup ran on the standby (its pg_stat_activity shows the module)');
my $written = '';
for (1 .. 30) {
    $written = sql_on($pport, $last_used);
    last if $written ne '';
    sleep 0.1;
}
ok t_cmp($written ne '', 1, 'last_used was written on the primary');

my $log0 = log_size();
pg_ctl_stop($primary);
my @codes;
my $slowest = 0;
my $t_end = time + 3;
while (time < $t_end) {
    my $t0 = time;
    push @codes, status();
    $slowest = time - $t0 if time - $t0 > $slowest;
    sleep 0.2;
}
ok t_cmp([grep { $_ != 200 } @codes], [],
         'with the primary stopped every request still gets 200 ('
         . scalar(@codes) . ' requests)');
printf STDERR "# measured: slowest request with the primary down %.3f s\n",
    $slowest;
ok t_cmp($slowest < 2.5, 1, 'none waits longer than the 2 s timeout');
my $since = log_since($log0);
my @skipped = $since =~ /AC0204: /g;
ok t_cmp(scalar @skipped, 1, 'the skipped writes are logged once per outage (one child process)');
ok t_cmp($since !~ /AC0201: |password/, 1,
         'no "answering 503" line, and no secret in the log');

pg_ctl_start($primary, $dir, $pport);
my $before = sql_on($pport, $last_used);
my $resumed = 0;
my $t_back = time;
$t_end = time + 10;     # the writes' back-off is 5 s
while (time < $t_end) {
    status();
    sleep 0.3;
    if (sql_on($pport, $last_used) ne $before) {
        $resumed = 1;
        last;
    }
}
printf STDERR "# measured: last_used written again %.1f s after the primary "
    . "started\n", time - $t_back;
ok t_cmp($resumed, 1, 'once the primary is back, last_used writes resume');
$since = log_since($log0);
ok t_cmp($since =~ /AC0206: .*writes resume/ ? 1 : 0, 1,
         'and the log says so');
ok t_cmp(status(), 200, 'and keys still work');
