# A bad directive stops httpd at start-up with a message that names the
# directive and the problem.  Each case is a small configuration checked
# with `httpd -t` against the freshly built module.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test;
use Apache::TestUtil;
use File::Temp qw(tempdir);
use ChainTest;

plan tests => 15;

my $httpd = Apache::Test::vars('httpd');
my $dir = tempdir(CLEANUP => 1);

sub check {
    my ($body) = @_;
    my $conf = "$dir/httpd.conf";
    open my $fh, '>', $conf or die "$conf: $!";
    print $fh httpd_config(
        dir => $dir, port => 1,
        stock => [qw(mpm_prefork authn_core authn_file authz_core
                     authz_user)],
        ours => [[auth_chain => 'modules/chain/.libs/mod_auth_chain.so']],
        body => "<Location /api>\n    AuthType Chain\n    AuthName \"api\"\n"
                . "$body\n</Location>\n");
    close $fh;
    my $out = `$httpd -t -f $conf 2>&1`;
    return ($? >> 8, $out);
}

sub refused {
    my ($body, $re, $name) = @_;
    my ($rc, $out) = check($body);
    ok(t_cmp($out, $re, $name) && $rc != 0);
}

my ($rc, $out) = check("    AuthChain basic\n    Require valid-user");
ok t_cmp([$rc, $out], [0, qr/Syntax OK/],
         'a correct chain passes the configuration test');

refused("    AuthChain basic nosuch",
        qr/AuthChain: unknown scheme 'nosuch' .*known schemes: basic/,
        'an unknown scheme in AuthChain stops httpd, naming the directive');
refused("    AuthChain", qr/AuthChain .*requires at least one argument/,
        'an empty AuthChain stops httpd');
refused('    AuthChain ""', qr/AuthChain .*requires at least one argument/,
        'an empty scheme name stops httpd');
refused("    AuthChain basic basic", qr/AuthChain: scheme 'basic' is listed twice/,
        'a scheme listed twice stops httpd');
refused("    AuthChainChallenge some",
        qr/AuthChainChallenge must be 'all' or 'first', not 'some'/,
        'a bad AuthChainChallenge stops httpd');
refused("    AuthChainErrorFormat xml",
        qr/AuthChainErrorFormat must be 'html' or 'json', not 'xml'/,
        'a bad AuthChainErrorFormat stops httpd');
refused("    AuthChainOnInvalid maybe",
        qr/AuthChainOnInvalid must be 'deny' or 'anonymous', not 'maybe'/,
        'a bad AuthChainOnInvalid stops httpd');
refused("    AuthChainBasicProvider nosuch",
        qr/AuthChainBasicProvider: unknown authn provider 'nosuch'/,
        'an unknown authn provider stops httpd');
refused("    AuthChainBasicProvider",
        qr/AuthChainBasicProvider .*requires at least one argument/,
        'an empty AuthChainBasicProvider stops httpd');
refused('    AuthChainUnauthenticatedUser',
        qr/AuthChainUnauthenticatedUser takes one argument/,
        'AuthChainUnauthenticatedUser without a name stops httpd');
refused("    AuthChain basic\n    Require auth-scheme basic nosuch",
        qr/Require auth-scheme: unknown scheme 'nosuch'/,
        'an unknown scheme in Require auth-scheme stops httpd');
refused("    AuthChain basic\n    Require auth-scheme",
        qr/Require auth-scheme needs at least one scheme name/,
        'Require auth-scheme without a name stops httpd');
refused("    AuthChain basic\n    Require auth-scope",
        qr/Require auth-scope needs at least one scope/,
        'Require auth-scope without a scope stops httpd');

($rc, $out) = check("    AuthChain basic\n    Require auth-scheme basic\n"
                    . "    Require auth-scope read");
ok t_cmp([$rc, $out], [0, qr/Syntax OK/],
         'correct Require auth-scheme and auth-scope lines pass');
