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
                 error_log_size psql token_cli new_key httpd_config free_port
                 start_httpd stop_httpd
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

1;
