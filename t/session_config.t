# Configuration of the session scheme: bad directives stop httpd; and,
# when httpd starts, a chain that names session where the session would
# come from a plain (unencrypted) mod_session_cookie cookie, or where
# mod_session is not loaded at all, stops it too.  Those start-up checks
# run in post_config, which `httpd -t` never reaches: a real start is
# needed to see them.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test;
use Apache::TestUtil;
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep);
use ChainTest;

plan tests => 18;

my $httpd = Apache::Test::vars('httpd');
my $dir = tempdir(CLEANUP => 1);
my $port = free_port();

my @session = qw(session session_cookie session_crypto);
my @ours = ([auth_chain => 'modules/chain/.libs/mod_auth_chain.so'],
            [authn_session => 'modules/session/.libs/mod_authn_session.so']);

sub write_conf {
    my ($body, %o) = @_;
    my $conf = "$dir/httpd.conf";
    open my $fh, '>', $conf or die "$conf: $!";
    print $fh httpd_config(
        dir => $dir, port => $port,
        stock => [qw(mpm_prefork authn_core authz_core authz_user),
                  @{ $o{stock} || \@session }],
        ours => $o{ours} || \@ours,
        body => $body);
    close $fh;
    return $conf;
}

# `httpd -t`: (exit status, output)
sub syntax {
    my $conf = write_conf(@_);
    my $out = `$httpd -t -f $conf 2>&1`;
    return ($? >> 8, $out);
}

# A real start: (whether it started, what it said on stderr and in its log)
sub start {
    my $conf = write_conf(@_);
    unlink "$dir/error_log";
    my $out = `$httpd -k start -f $conf 2>&1`;
    my $rc = $? >> 8;
    sleep 0.5;
    my $log = '';
    if (open my $fh, '<', "$dir/error_log") { local $/; $log = <$fh>; }
    my $running = -e "$dir/httpd.pid";
    if ($running) {
        system($httpd, '-k', 'stop', '-f', $conf);
        for (1 .. 50) { last unless -e "$dir/httpd.pid"; sleep 0.1; }
    }
    return ($rc == 0 && $running ? 1 : 0, "$out$log");
}

sub api {
    my ($inner) = @_;
    return "<Location /api>\n    AuthType Chain\n    AuthName \"app\"\n"
         . "    AuthChain session\n$inner    Require valid-user\n</Location>\n";
}

my $encrypted = "Session On\nSessionCookieName s path=/\n"
              . "SessionCryptoPassphrase \"not a real secret\"\n";
my $plain = "Session On\nSessionCookieName s path=/\n";

my ($rc, $out) = syntax($encrypted . api('    AuthSessionExportKeys role app-site'
                                         . "\n    AuthSessionChallenge Session\n"));
ok t_cmp([$rc, $out], [0, qr/Syntax OK/], 'a correct session configuration passes');

sub refused {
    my ($inner, $re, $name) = @_;
    my ($rc, $out) = syntax($encrypted . api("    $inner\n"));
    ok(t_cmp($out, $re, $name) && $rc != 0);
}
refused('AuthSessionCSRFCookie "bad;name"',
        qr/AuthSessionCSRFCookie: 'bad;name' is not a cookie name/,
        'a CSRF cookie name that is not a token stops httpd');
refused('AuthSessionCSRFHeader "X CSRF"',
        qr/AuthSessionCSRFHeader: 'X CSRF' is not an HTTP header name/,
        'a CSRF header name that is not a token stops httpd');
refused('AuthSessionChallenge "Sess ion"',
        qr/AuthSessionChallenge: 'Sess ion' is not an HTTP authentication scheme name/,
        'a challenge that is not a scheme name stops httpd');
refused('AuthSessionExportKeys role app-pw',
        qr/AuthSessionExportKeys: 'app-pw' holds a password .* and is never exported/,
        'exporting mod_auth_form\'s password key stops httpd');
refused('AuthSessionExportKeys PW',
        qr/AuthSessionExportKeys: 'PW' holds a password/,
        'whatever its case');
refused('AuthSessionUserKey ""', qr/AuthSessionUserKey takes one argument/,
        'an empty AuthSessionUserKey stops httpd');
refused('AuthSessionTrustPlainCookie maybe',
        qr/AuthSessionTrustPlainCookie must be On or Off/,
        'AuthSessionTrustPlainCookie is a flag');

($rc, $out) = syntax("Session On\nSessionCookieName s path=/\n" . api(''),
                     stock => [qw(session)]);
ok(t_cmp($out, qr/Invalid command 'SessionCookieName'/,
         'SessionCookieName without mod_session_cookie is still an invalid command')
   && $rc != 0);
($rc, $out) = syntax(api(''), ours => [$ours[1]]);
ok(t_cmp($out, qr/Invalid command 'AuthChain'.*mod_auth_chain\.c is not loaded/,
         'AuthChain without mod_auth_chain is still an invalid command')
   && $rc != 0);

# --- what only a real start finds -----------------------------------------
my ($started, $said) = start($encrypted . api(''));
ok t_cmp($started, 1, 'an encrypted cookie session starts');

($started, $said) = start($plain . api(''));
ok t_cmp([$started, $said],
         [0, qr/AC0411: AuthChain names session \(.*httpd\.conf:\d+\) for <Location \/api> of the main server, where the session is a plain mod_session_cookie cookie \(SessionCookieName at .*httpd\.conf:\d+\) without SessionCryptoPassphrase: .*AuthSessionTrustPlainCookie On/],
         'a plain cookie session stops httpd at start, naming both lines and the remedies');

($started, $said) = start($plain . api(''), stock => [qw(session session_cookie)]);
ok t_cmp([$started, $said], [0, qr/AC0411: /],
         'also when mod_session_crypto is not loaded at all');

($started, $said) = start("Session On\nSessionCookieName s path=/\n"
                          . "<Location /other>\n    SessionCryptoPassphrase x\n</Location>\n"
                          . "<Location /api>\n    SessionCookieName api path=/api\n</Location>\n"
                          . "<Location /api/v1>\n    AuthType Chain\n    AuthChain session\n"
                          . "    Require valid-user\n</Location>\n");
ok t_cmp([$started, $said], [0, qr/AC0411: .* for <Location \/api\/v1> .*SessionCookieName at .*httpd\.conf:\d+/],
         'a passphrase for another location does not count; a prefix location\'s cookie does');

($started, $said) = start("Session On\nSessionCookieName s path=/\n"
                          . "<VirtualHost 127.0.0.1:$port>\n" . api('') . "</VirtualHost>\n"
                          . "<VirtualHost 127.0.0.1:$port>\n    ServerName other\n"
                          . "    SessionCryptoPassphrase x\n" . api('') . "</VirtualHost>\n");
ok t_cmp([$started, $said], [0, qr/AC0411: .* of the virtual host at .*httpd\.conf:\d+/],
         'a virtual host without a passphrase is refused, though another has one');

($started, $said) = start($plain . api("    AuthSessionTrustPlainCookie On\n"));
ok t_cmp($started, 1, 'AuthSessionTrustPlainCookie On lets a plain cookie session start');

($started, $said) = start("<Location />\n" . $encrypted . "</Location>\n" . api(''));
ok t_cmp($started, 1, 'a passphrase in <Location /> covers the chain');

($started, $said) = start(api(''), stock => []);
ok t_cmp([$started, $said],
         [0, qr/AC0410: AuthChain names session \(.*httpd\.conf:\d+\) but mod_session is not loaded/],
         'a chain naming session without mod_session stops httpd at start');
