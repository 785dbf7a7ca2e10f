package ChainTest;
# Helpers shared by the t/*.t files: credentials, the identity that
# env.cgi echoes, the challenges of a response, and the note as logged.

use strict;
use warnings FATAL => 'all';

use Exporter 'import';
use MIME::Base64 ();
use Time::HiRes ();
use Apache::Test ();

our @EXPORT = qw(basic identity challenges logged_note error_log_since
                 error_log_size psql token_cli new_key httpd_config api_conf
                 free_port
                 start_httpd stop_httpd start_cache_server start_api_node
                 start_token_node test_db
                 pg_ctl_start pg_ctl_stop cache_items
                 browser url_of form_login cookie_value set_cookie_of);

# An Authorization value for HTTP Basic.
sub basic {
    my ($user, $pw) = @_;
    return 'Basic ' . MIME::Base64::encode_base64("$user:$pw", '');
}

# The KEY=VALUE lines env.cgi prints, as a hash.
sub identity {
    my ($res) = @_;
    my %env;
    for (split /\n/, $res->content) {
        $env{$1} = $2 if /^([A-Za-z0-9_]+)=(.*)$/;
    }
    return \%env;
}

# Every WWW-Authenticate header of a response, in order.
sub challenges {
    my ($res) = @_;
    return [ $res->header('WWW-Authenticate') ];
}

sub log_path {
    my ($name) = @_;
    return Apache::Test::vars('serverroot') . "/logs/$name";
}

# The note `auth-chain-data` that mod_log_config wrote for the request whose
# user is $user (logging happens after the response: wait for it).
sub logged_note {
    my ($user) = @_;
    my $file = log_path('chain_log');
    for (1 .. 50) {
        if (open my $fh, '<', $file) {
            my @hits = grep { /^\Q$user\E\|/ } <$fh>;
            if (@hits) {
                chomp(my $line = $hits[-1]);
                my (undef, $note) = split /\|/, $line, 3;
                $note =~ s/\\"/"/g;   # mod_log_config escapes quotes
                return $note;
            }
        }
        Time::HiRes::sleep(0.1);
    }
    return undef;
}

sub error_log_size {
    return -s log_path('error_log') || 0;
}

# What the error log gained since offset $from (after a short settle).
sub error_log_since {
    my ($from) = @_;
    Time::HiRes::sleep(0.3);
    open my $fh, '<', log_path('error_log') or return '';
    seek $fh, $from, 0;
    local $/;
    return scalar <$fh>;
}

# A free TCP port on 127.0.0.1.
sub free_port {
    require IO::Socket::INET;
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                  LocalPort => 0, Proto => 'tcp')
        or die "no free port: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

# The text of a small httpd.conf of our own (outside Apache::Test's
# server): the stock modules named in @$stock, our built modules, then
# $body.  For configuration tests and for extra httpd nodes.
sub httpd_config {
    my (%o) = @_;
    my $libexec = `apxs -q LIBEXECDIR`;
    chomp $libexec;
    my $top = Apache::Test::vars('serverroot') . '/..';
    my $text = <<EOC;
ServerRoot $o{dir}
ServerName localhost
Listen 127.0.0.1:$o{port}
PidFile $o{dir}/httpd.pid
ErrorLog $o{dir}/error_log
LogLevel info
DocumentRoot $o{dir}
DefaultRuntimeDir $o{dir}
EOC
    for my $m (@{ $o{stock} }) {
        $text .= "LoadModule ${m}_module $libexec/mod_$m.so\n";
    }
    for my $m (@{ $o{ours} || [] }) {
        my ($name, $path) = @$m;
        $text .= "LoadModule ${name}_module $top/$path\n";
    }
    return $text . $o{body};
}

# The file $o{dir}/httpd.conf of a configuration test (httpd -t, or a
# start): httpd_config with the prefork MPM, authn/authz core and shmcb,
# mod_auth_chain and our modules of $o{ours}, the server-context lines
# $o{server}, and <Location /api> with AuthType Chain, AuthName "api", the
# lines $o{location} and Require valid-user.  Returns its path.
sub api_conf {
    my (%o) = @_;
    my $conf = "$o{dir}/httpd.conf";
    open my $fh, '>', $conf or die "$conf: $!";
    print $fh httpd_config(
        dir => $o{dir}, port => $o{port},
        stock => [qw(mpm_prefork authn_core authz_core authz_user
                     socache_shmcb)],
        ours => [[auth_chain => 'modules/chain/.libs/mod_auth_chain.so'],
                 @{ $o{ours} // [] }],
        body => ($o{server} // '') . "\n<Location /api>\n    AuthType Chain\n"
                . "    AuthName \"api\"\n$o{location}\n    Require valid-user\n"
                . "</Location>\n");
    close $fh;
    return $conf;
}

# Start an httpd on the configuration file $conf; dies if it does not
# answer on $port.
sub start_httpd {
    my ($conf, $port) = @_;
    my $httpd = Apache::Test::vars('httpd');
    system($httpd, '-f', $conf, '-k', 'start') == 0
        or die "$httpd -f $conf did not start";
    require IO::Socket::INET;
    for (1 .. 50) {
        return 1 if IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port");
        Time::HiRes::sleep(0.1);
    }
    die "httpd on port $port does not answer";
}

sub stop_httpd {
    my ($conf) = @_;
    system(Apache::Test::vars('httpd'), '-f', $conf, '-k', 'stop');
}

# Start a cache server (redis, or memcache: memcached) on a free port of
# 127.0.0.1, its output in $dir/$kind.log; returns its pid and port.  The
# caller kills it (TERM) and waits for it.
sub start_cache_server {
    my ($kind, $dir) = @_;
    my $port = free_port();
    my @cmd = $kind eq 'redis'
        ? ('redis-server', '--port', $port, '--bind', '127.0.0.1',
           '--save', '', '--appendonly', 'no')
        : ('memcached', '-l', '127.0.0.1', '-p', $port, '-U', '0');
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>', "$dir/$kind.log";
        open STDERR, '>&', \*STDOUT;
        exec @cmd or die "exec $cmd[0]: $!";
    }
    require IO::Socket::INET;
    for (1 .. 50) {
        return ($pid, $port)
            if IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port");
        Time::HiRes::sleep(0.1);
    }
    die "$kind did not start on port $port";
}

# An httpd of a test's own, on the test database, under the MPM of the test
# run, serving /api/ (a static page): the modules of $o{ours} (pairs of
# name and path, mod_auth_chain always), the stock modules of $o{stock}
# besides the usual ones, $o{server} server-context lines and $o{location}
# lines inside <Location /api> after `AuthType Chain` and `AuthName "api"`.
# Returns { conf, port, dir, log }; stop it with stop_httpd($node->{conf}).
sub start_api_node {
    my ($dir, %o) = @_;
    mkdir $dir;
    mkdir "$dir/api";
    open my $fh, '>', "$dir/api/index.html" or die "$dir: $!";
    print $fh "ok\n";
    close $fh;
    my $port = free_port();
    my $mpm = $ENV{AUTHCHAIN_MPM} || 'event';
    my $conf = "$dir/httpd.conf";
    open $fh, '>', $conf or die "$conf: $!";
    print $fh httpd_config(
        dir => $dir, port => $port,
        stock => ["mpm_$mpm", qw(authn_core authz_core authz_user dir
                                 socache_shmcb), @{ $o{stock} // [] }],
        ours => [[auth_chain => 'modules/chain/.libs/mod_auth_chain.so'],
                 @{ $o{ours} // [] }],
        body => <<EOC);
DirectoryIndex index.html
@{[ $o{server} // '' ]}
<Location /api>
    AuthType Chain
    AuthName "api"
@{[ $o{location} // '' ]}
    Require valid-user
</Location>
EOC
    close $fh;
    start_httpd($conf, $port);
    return { conf => $conf, port => $port, dir => $dir,
             log => "$dir/error_log" };
}

# The libpq connection string of the test database.
sub test_db {
    return "host=$ENV{AUTHCHAIN_PGHOST} port=$ENV{AUTHCHAIN_PGPORT} "
         . "dbname=$ENV{AUTHCHAIN_PGDATABASE} user=$ENV{AUTHCHAIN_PGUSER}";
}

# A start_api_node under `AuthChain token`: $o{cache} is the AuthTokenCache
# value (default: none, i.e. shmcb), $o{ttl} the AuthTokenCacheTTL
# (default 30), $o{server} more server-context lines.
sub start_token_node {
    my ($dir, %o) = @_;
    my @stock;
    my $cache = '';
    if ($o{cache}) {
        my ($provider) = $o{cache} =~ /^([a-z]+)/;
        push @stock, "socache_$provider" unless $provider eq 'shmcb';
        $cache = "AuthTokenCache $o{cache}";
    }
    my $ttl = $o{ttl} // 30;
    return start_api_node($dir,
        stock => \@stock,
        ours => [[authn_token => 'modules/token/.libs/mod_authn_token.so']],
        server => join("\n", 'AuthTokenDB "' . test_db() . '"', $cache,
                       $o{server} // ''),
        location => "    AuthChain token\n    AuthTokenCacheTTL $ttl");
}

# How many entries the cache server holds (redis DBSIZE, memcached
# curr_items), asked over its text protocol.
sub cache_items {
    my ($kind, $port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") or return -1;
    if ($kind eq 'redis') {
        print $s "DBSIZE\r\n";
        my $line = <$s> // '';
        return $line =~ /^:(\d+)/ ? $1 : -1;
    }
    print $s "stats\r\n";
    while (my $line = <$s>) {
        return $1 if $line =~ /^STAT curr_items (\d+)/;
        last if $line =~ /^END/;
    }
    return -1;
}

# A PostgreSQL server of a test's own (beside build/check's): pg_ctl start
# on $data, Unix socket in $sockdir on port $port, as ac_pg_start of
# build/lib.sh starts the test run's.  Dies if it does not start.
sub pg_ctl_start {
    my ($data, $sockdir, $port) = @_;
    my $bin = $ENV{AUTHCHAIN_PGBIN} or die "build/check must export AUTHCHAIN_PGBIN\n";
    my $opts = "-c listen_addresses='' -c unix_socket_directories='$sockdir' "
             . "-p $port -c fsync=off -c full_page_writes=off";
    system("$bin/pg_ctl", '-D', $data, '-l', "$data.log", '-w', '-t', '30',
           '-o', $opts, 'start') == 0
        or die "pg_ctl start -D $data failed (see $data.log)";
}

# Stop it (fast shutdown); quiet when it does not run.
sub pg_ctl_stop {
    my ($data) = @_;
    return unless -f "$data/postmaster.pid";
    system("$ENV{AUTHCHAIN_PGBIN}/pg_ctl", '-D', $data, '-m', 'fast', '-w',
           '-t', '30', 'stop');
}

# Run SQL in the test database (build/check exports PGHOST and friends);
# returns psql's unaligned output.
sub psql {
    my ($sql) = @_;
    my $out = `psql -qtAX -v ON_ERROR_STOP=1 -c "$sql" 2>&1`;
    die "psql failed: $out" if $?;
    chomp $out;
    return $out;
}

# Run the freshly built CLI; returns (exit status, stdout, stderr).
sub token_cli {
    my @args = @_;
    my $cli = Apache::Test::vars('serverroot') . '/../tools/authchain-token';
    my $err = Apache::Test::vars('serverroot') . '/logs/cli.stderr';
    my $cmd = join ' ', map { my $a = $_; $a =~ s/'/'\\''/g; "'$a'" } $cli, @args;
    my $out = `$cmd 2>'$err'`;
    my $rc = $? >> 8;
    my $stderr = '';
    if (open my $fh, '<', $err) { local $/; $stderr = <$fh> // ''; }
    return ($rc, $out, $stderr);
}

# A new key from `authchain-token create ARGS...`, or die.
sub new_key {
    my ($rc, $out, $err) = token_cli('create', @_);
    die "authchain-token create @_ failed ($rc): $err" if $rc != 0;
    chomp $out;
    return $out;
}

# --- browsers (the session scheme) ----------------------------------------

# A browser: an LWP user agent with its own cookie jar, which follows no
# redirect (the tests look at each response).
sub browser {
    require LWP::UserAgent;
    require HTTP::Cookies;
    return LWP::UserAgent->new(cookie_jar => HTTP::Cookies->new,
                               max_redirect => 0, timeout => 10);
}

# The absolute URL of $path on the test server, or on its virtual host
# $vhost (a <VirtualHost NAME> of t/conf/extra.conf.in).
sub url_of {
    my ($path, $vhost) = @_;
    require Apache::TestRequest;
    local $Apache::TestRequest::Module = $vhost if defined $vhost;
    return 'http://' . Apache::TestRequest::hostport() . $path;
}

# Log in through the mod_auth_form login handler at $url (its form field
# names); returns the response.
sub form_login {
    my ($ua, $url, $user, $pw) = @_;
    return $ua->post($url, { httpd_username => $user,
                             httpd_password => $pw });
}

# The value of the cookie $name in the browser's jar (any path), or undef.
sub cookie_value {
    my ($ua, $name) = @_;
    my $value;
    $ua->cookie_jar->scan(sub { $value = $_[2] if $_[1] eq $name });
    return $value;
}

# The Set-Cookie header of a response that sets the cookie $name, or undef.
sub set_cookie_of {
    my ($res, $name) = @_;
    my ($line) = grep { /^\Q$name\E=/ } $res->header('Set-Cookie');
    return $line;
}

# --- raw HTTP and background load (t/edge_input.t, t/token_outage_load.t,
# t/graceful.t) ---------------------------------------------------------------

require POSIX;
push @EXPORT, qw(raw_http parse_http hostport_of load_start load_stop
                 httpd_children rss_kb);

# host:port of the test server, or of its virtual host $vhost.
sub hostport_of {
    my ($vhost) = @_;
    require Apache::TestRequest;
    local $Apache::TestRequest::Module = $vhost if defined $vhost;
    return Apache::TestRequest::hostport();
}

# Take an HTTP/1.x response apart: { status, headers => { lc name =>
# [values] }, body }; status undef when it is not one.
sub parse_http {
    my ($raw) = @_;
    my %r = (headers => {}, body => '');
    my ($head, $body) = split /\r\n\r\n/, $raw, 2;
    return \%r unless defined $head && $head =~ m{^HTTP/1\.[01] (\d{3})};
    $r{status} = $1;
    my (undef, @lines) = split /\r\n/, $head;
    for my $line (@lines) {
        push @{ $r{headers}{lc $1} }, $2 if $line =~ /^([^:]+):\s*(.*)$/;
    }
    $r{body} = $body // '';
    return \%r;
}

# Send $request (bytes, as given: nothing is added or escaped) to
# $hostport on a new connection and read the answer until the server
# closes it, for at most $timeout seconds (default 10).  Returns
# parse_http's hash plus took (seconds) and error (connect failed,
# timeout) when there is one.
sub raw_http {
    my ($hostport, $request, $timeout) = @_;
    require IO::Socket::INET;
    require IO::Select;
    $timeout //= 10;
    my $t0 = Time::HiRes::time();
    my $s = IO::Socket::INET->new(PeerAddr => $hostport, Timeout => $timeout)
        or return { error => "connect: $!", headers => {},
                    took => Time::HiRes::time() - $t0 };
    binmode $s;
    local $SIG{PIPE} = 'IGNORE';
    # write in pieces: the server may answer (and close) before it has
    # read a large request
    my $off = 0;
    while ($off < length $request) {
        my $n = syswrite $s, $request, 65536, $off;
        last unless defined $n && $n > 0;
        $off += $n;
    }
    my ($raw, $error) = ('', undef);
    my $sel = IO::Select->new($s);
    while (1) {
        my $left = $t0 + $timeout - Time::HiRes::time();
        if ($left <= 0) {
            $error = 'timeout';
            last;
        }
        next unless $sel->can_read($left);      # (a signal interrupted it)
        my $n = sysread $s, my $buf, 65536;
        next if !defined $n && $!{EINTR};
        last unless $n;     # EOF, or reset after the answer
        $raw .= $buf;
    }
    close $s;
    my $r = parse_http($raw);
    $r->{took} = Time::HiRes::time() - $t0;
    $r->{error} = $error if defined $error;
    $r->{error} //= 'no answer' unless defined $r->{status};
    return $r;
}

# One GET on the keep-alive connection $$sock (opened when undef), as
# HTTP/1.0 with Connection: keep-alive so that every answer has a
# Content-Length or ends the connection.  Returns (status, Retry-After,
# error, got_any_byte).  A connection the server closed is left undef.
sub keepalive_get {
    my ($sock, $hostport, $path, $headers, $timeout) = @_;
    require IO::Socket::INET;
    require IO::Select;
    my $t0 = Time::HiRes::time();
    if (!$$sock) {
        $$sock = IO::Socket::INET->new(PeerAddr => $hostport,
                                       Timeout => $timeout)
            or return (undef, undef, "connect: $!", 0);
        binmode $$sock;
    }
    my $req = "GET $path HTTP/1.0\r\nHost: $hostport\r\n"
            . "Connection: keep-alive\r\n"
            . join('', map { "$_: $headers->{$_}\r\n" } sort keys %$headers)
            . "\r\n";
    local $SIG{PIPE} = 'IGNORE';
    my $w = syswrite $$sock, $req;
    if (!defined $w || $w != length $req) {
        undef $$sock;
        return (undef, undef, "write: $!", 0);
    }
    my ($raw, $need, $res) = ('', undef, undef);
    my $sel = IO::Select->new($$sock);
    while (1) {
        my $left = $t0 + $timeout - Time::HiRes::time();
        if ($left <= 0) {
            undef $$sock;
            return (undef, undef, 'timeout', length $raw ? 1 : 0);
        }
        # can_read is also false when a signal (load_stop's TERM) came
        next unless $sel->can_read($left);
        my $n = sysread $$sock, my $buf, 65536;
        next if !defined $n && $!{EINTR};
        if (!$n) {
            my $err = defined $n ? 'closed' : "read: $!";
            undef $$sock;
            last if defined $res && !defined $need;   # ends with the connection
            return (undef, undef, $err, length $raw ? 1 : 0);
        }
        $raw .= $buf;
        if (!defined $res && $raw =~ /\r\n\r\n/) {
            $res = parse_http($raw);
            my $cl = $res->{headers}{'content-length'};
            $need = $cl ? length($raw) - length($res->{body}) + $cl->[0] : undef;
            $need = length $raw if $cl && !$cl->[0];
        }
        last if defined $need && length $raw >= $need;
    }
    my $keep = $res->{headers}{connection} // [];
    undef $$sock unless grep { /keep-alive/i } @$keep;
    return ($res->{status}, ($res->{headers}{'retry-after'} // [])->[0],
            defined $res->{status} ? undef : 'not HTTP', 1);
}

# Start $o{clients} background clients (forked) that GET the paths of
# $o{requests} (a list of [path, {header => value}]) in turn from
# $o{hostport}, each at about $o{rate} requests a second, until load_stop.
# With $o{keepalive} a client keeps its connection and, when the server
# closes it before sending any byte of an answer, sends the request again
# on a new connection (what HTTP clients do for an idempotent request,
# RFC 9110 section 9.2.2); the retry is counted.  Every request is one
# line of a file: start, end, request index, status, Retry-After, retries,
# error.
# The clients of every load not stopped yet, stopped by END when a test
# dies between load_start and load_stop.
my %running_clients;
END {
    my @pids = grep { $running_clients{$_} == $$ } keys %running_clients;
    kill 'KILL', @pids if @pids;
    waitpid $_, 0 for @pids;
}

sub load_start {
    my (%o) = @_;
    my $dir = Apache::Test::vars('serverroot') . '/logs';
    my $load = { pids => [], files => [] };
    my $interval = 1 / ($o{rate} || 10);
    my $timeout = $o{timeout} || 10;
    for my $c (1 .. ($o{clients} || 2)) {
        my $file = "$dir/load.$$.$c." . int(rand 1e9);
        push @{ $load->{files} }, $file;
        my $pid = fork // die "fork: $!";
        if ($pid) {
            push @{ $load->{pids} }, $pid;
            $running_clients{$pid} = $$;
            next;
        }
        # the client: no END blocks, no test output of the parent's
        my $stop = 0;
        $SIG{TERM} = sub { $stop = 1 };
        open my $out, '>', $file or POSIX::_exit(2);
        $out->autoflush(1);
        my ($sock, $i) = (undef, $c);
        my $next = Time::HiRes::time();
        while (!$stop) {
            my ($path, $hdr) = @{ $o{requests}[$i++ % @{ $o{requests} }] };
            my $t0 = Time::HiRes::time();
            my ($st, $ra, $err, $got, $retries) = (undef, undef, undef, 0, 0);
            while (1) {
                my $fresh = !$sock;
                undef $sock unless $o{keepalive};
                ($st, $ra, $err, $got) =
                    keepalive_get(\$sock, $o{hostport}, $path, $hdr || {},
                                  $timeout);
                undef $sock unless $o{keepalive};
                last if defined $st || $got || !$o{keepalive} || $fresh
                     || $retries >= 1 || $err =~ /^connect|timeout/;
                $retries++;      # closed before any byte: once more
            }
            printf $out "%.6f %.6f %d %s %s %d %s\n", $t0,
                Time::HiRes::time(), ($i - 1) % @{ $o{requests} },
                $st // '-', $ra // '-', $retries, $err // '-';
            $next += $interval;
            my $wait = $next - Time::HiRes::time();
            if ($wait > 0) { Time::HiRes::sleep($wait) }
            else { $next = Time::HiRes::time() }
        }
        close $out;
        POSIX::_exit(0);
    }
    return $load;
}

# Stop the clients of load_start and return what they saw: a list of
# { t0, t1, index, status, retry_after, retries, error } sorted by start
# (status, retry_after undef when absent; error undef when none).
sub load_stop {
    my ($load) = @_;
    kill 'TERM', @{ $load->{pids} };
    delete @running_clients{ @{ $load->{pids} } };
    for my $pid (@{ $load->{pids} }) {
        my $deadline = Time::HiRes::time() + 20;
        while (waitpid($pid, POSIX::WNOHANG()) == 0) {
            if (Time::HiRes::time() > $deadline) {
                kill 'KILL', $pid;
                waitpid $pid, 0;
                last;
            }
            Time::HiRes::sleep(0.05);
        }
    }
    my @all;
    for my $file (@{ $load->{files} }) {
        open my $fh, '<', $file or next;
        while (<$fh>) {
            chomp;
            my ($t0, $t1, $idx, $st, $ra, $retries, $err) = split / /, $_, 7;
            next unless defined $err;
            push @all, { t0 => $t0, t1 => $t1, index => $idx,
                         status => $st eq '-' ? undef : $st,
                         retry_after => $ra eq '-' ? undef : $ra,
                         retries => $retries,
                         error => $err eq '-' ? undef : $err };
        }
        close $fh;
        unlink $file;
    }
    return [sort { $a->{t0} <=> $b->{t0} } @all];
}

# The pids of the child processes of the test server (children of the
# pid in logs/httpd.pid).
sub httpd_children {
    my $pidfile = Apache::Test::vars('serverroot') . '/logs/httpd.pid';
    open my $fh, '<', $pidfile or return ();
    chomp(my $parent = <$fh> // '');
    my @kids;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $s, '<', $stat or next;
        my $line = <$s> // next;
        # pid (comm) state ppid ...: comm may hold spaces
        push @kids, $1 if $line =~ /^(\d+) \(.*\) \S+ (\d+) / && $2 == $parent;
    }
    return @kids;
}

# The resident set size of process $pid in kB (undef when it is gone).
sub rss_kb {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/status" or return undef;
    while (my $line = <$fh>) {
        return $1 if $line =~ /^VmRSS:\s+(\d+) kB/;
    }
    return undef;
}

# --- requests at the same moment (t/token_batch.t, t/oauth2_db.t) -------------

push @EXPORT, qw(answer_of lock_tables hold_tables release_tables
                 all_at_once start_at_once answers_of);

# One request on a new connection to $hostport: GET $path with
# Authorization $auth.  Returns [status, what]: REMOTE_USER (as env.cgi
# prints it) for a 200, else the challenge's error_description, else
# 'retry' when the answer has Retry-After; and the seconds it took.
sub answer_of {
    my ($hostport, $path, $auth) = @_;
    my $r = raw_http($hostport, "GET $path HTTP/1.0\r\nHost: test\r\n"
                                . "Authorization: $auth\r\n\r\n", 15);
    my $status = $r->{status} // 0;
    if ($status == 200) {
        my ($user) = ($r->{body} // '') =~ /^REMOTE_USER=(.*)$/m;
        return [$status, $user // '', $r->{took}];
    }
    my ($wa) = @{ $r->{headers}{'www-authenticate'} || [] };
    my ($reason) = ($wa // '') =~ /error_description="([^"]*)"/;
    $reason //= ($r->{headers}{'retry-after'} || [])->[0] ? 'retry' : '';
    return [$status, $reason, $r->{took}];
}

# Hold an ACCESS EXCLUSIVE lock on @tables (in a psql fed through a pipe),
# so that lookups in them wait; returns once PostgreSQL has granted it,
# with the pipe: release_tables($handle) lets the lock go.
sub hold_tables {
    my (@tables) = @_;
    open my $psql, '|-', 'psql', '-qtAX', '-v', 'ON_ERROR_STOP=1'
        or die "psql: $!";
    $psql->autoflush(1);
    print $psql 'BEGIN; LOCK TABLE ' . join(', ', @tables)
                . " IN ACCESS EXCLUSIVE MODE;\n";
    wait_granted(@tables);
    return $psql;
}

sub release_tables {
    my ($psql) = @_;
    print $psql "COMMIT;\n";
    close $psql or die "psql holding the lock failed: $?";
}

# The same lock for $secs seconds from now, whatever the test does
# meanwhile; close($handle) waits for its end.
sub lock_tables {
    my ($secs, @tables) = @_;
    my $psql = hold_tables(@tables);
    print $psql "SELECT pg_sleep($secs); COMMIT;\n";
    return $psql;
}

# Wait (up to 5 s) until PostgreSQL has granted the lock on @tables.
sub wait_granted {
    my (@tables) = @_;
    my $list = join ', ', map { "'$_'" } @tables;
    for (1 .. 100) {
        return if psql("SELECT count(*) FROM pg_locks l JOIN pg_class c"
                       . " ON c.oid = l.relation WHERE c.relname IN ($list)"
                       . " AND l.mode = 'AccessExclusiveLock' AND l.granted")
                  == @tables;
        Time::HiRes::sleep(0.05);
    }
    die "the lock on @tables was not granted within 5 s";
}

# $code->(@$args) for every arrayref of @list at the same moment, each in
# a process of its own; returns what each returned (an arrayref of plain
# values), in the order of @list.
sub all_at_once {
    return answers_of(start_at_once(@_));
}

# The first half of all_at_once: the processes started, a handle returned
# at once, for answers_of to wait for.
sub start_at_once {
    my ($code, @list) = @_;
    my $dir = Apache::Test::vars('serverroot') . '/logs';
    my @started;
    for my $i (0 .. $#list) {
        my $file = "$dir/at_once.$$.$i";
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            my $got = $code->(@{ $list[$i] });
            open my $out, '>', $file or POSIX::_exit(2);
            print $out join("\t", map { $_ // '' } @$got), "\n";
            close $out;
            POSIX::_exit(0);
        }
        push @started, [$pid, $file];
    }
    return \@started;
}

sub answers_of {
    my ($started) = @_;
    waitpid $_->[0], 0 for @$started;
    my @answers;
    for (@$started) {
        my $file = $_->[1];
        open my $in, '<', $file or die "$file: $!";
        chomp(my $line = <$in> // '');
        close $in;
        unlink $file;
        push @answers, [split /\t/, $line, -1];
    }
    return @answers;
}

# --- the node's metrics (SetHandler auth-chain-metrics) --------------------

# The page at $url (default: /metrics of the test server) as
# { 'name{labels}' => value }; dies unless it answers 200.
sub metrics {
    my ($url) = @_;
    require LWP::UserAgent;
    $url //= 'http://' . Apache::Test::vars('servername') . ':'
             . Apache::Test::vars('port') . '/metrics';
    my $res = LWP::UserAgent->new(timeout => 10)->get($url);
    die "GET $url: " . $res->code unless $res->code == 200;
    my %m;
    for (split /\n/, $res->content) {
        next if /^#/;
        $m{$1} = $2 + 0 if /^(\S+) (\S+)$/;
    }
    return \%m;
}
push @EXPORT, qw(metrics);


1;
