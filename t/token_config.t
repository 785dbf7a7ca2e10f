# A bad mod_authn_token directive stops httpd at start-up, naming the
# directive and the problem.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test;
use Apache::TestUtil;
use File::Temp qw(tempdir);
use ChainTest;

plan tests => 16;

my $httpd = Apache::Test::vars('httpd');
my $dir = tempdir(CLEANUP => 1);
my $port = free_port();

sub write_conf {
    my ($server, $location) = @_;
    my $conf = "$dir/httpd.conf";
    open my $fh, '>', $conf or die "$conf: $!";
    print $fh httpd_config(
        dir => $dir, port => $port,
        stock => [qw(mpm_prefork authn_core authz_core authz_user
                     socache_shmcb)],
        ours => [[auth_chain => 'modules/chain/.libs/mod_auth_chain.so'],
                 [authn_token => 'modules/token/.libs/mod_authn_token.so']],
        body => "$server\n<Location /api>\n    AuthType Chain\n"
                . "    AuthChain token\n$location\n    Require valid-user\n"
                . "</Location>\n");
    close $fh;
    return $conf;
}

sub refused {
    my ($location, $re, $name) = @_;
    my $conf = write_conf('', $location);
    my $out = `$httpd -t -f $conf 2>&1`;
    ok(t_cmp($out, $re, $name) && $? != 0);
}

my $conf = write_conf('AuthTokenDB "dbname=x"', '    AuthTokenSchema drf');
ok t_cmp(scalar `$httpd -t -f $conf 2>&1`, qr/Syntax OK/,
         'a correct token configuration passes');

refused('    AuthTokenDB "dbname"', qr/AuthTokenDB: not a libpq connection string/,
        'an unparsable AuthTokenDB stops httpd');
refused('    AuthTokenSchema django', qr/AuthTokenSchema must be 'native', 'drf' or 'knox', not 'django'/,
        'an unknown AuthTokenSchema stops httpd');
refused('    AuthTokenQuery "SELECT 1"', qr/AuthTokenQuery: the query must use \$1/,
        'an AuthTokenQuery without $1 stops httpd');
refused('    AuthTokenKeyword "To ken"', qr/AuthTokenKeyword: 'To ken' is not an HTTP authentication scheme name/,
        'a keyword that is not a scheme name stops httpd');
refused('    AuthTokenPrefix bad-prefix', qr/AuthTokenPrefix: 'bad-prefix' must be 1 to 16 characters/,
        'a bad AuthTokenPrefix stops httpd');
refused('    AuthTokenDBTimeout soon', qr/AuthTokenDBTimeout: 'soon' is not a number of seconds above 0/,
        'a bad AuthTokenDBTimeout stops httpd');
refused('    AuthTokenDBTimeout 0', qr/AuthTokenDBTimeout: '0' is not a number of seconds above 0/,
        'a zero AuthTokenDBTimeout stops httpd');
refused('    AuthTokenDBPoolSize 0', qr/AuthTokenDBPoolSize: '0' must be a whole number from 1 to 1024/,
        'a zero pool stops httpd');
refused('    AuthTokenCacheTTL -1', qr/AuthTokenCacheTTL: '-1' must be a whole number from 0 to 86400/,
        'a negative AuthTokenCacheTTL stops httpd');
refused('    AuthTokenTouchInterval often', qr/AuthTokenTouchInterval: 'often' must be a whole number/,
        'a bad AuthTokenTouchInterval stops httpd');

$conf = write_conf("<VirtualHost 127.0.0.1:$port>\n    AuthTokenCache shmcb\n</VirtualHost>", '');
ok(t_cmp(scalar `$httpd -t -f $conf 2>&1`,
         qr/AuthTokenCache cannot occur within <VirtualHost> section/,
         'AuthTokenCache belongs to the main server only') && $? != 0);

# AuthTokenRevocationListen: On or Off, main server only, and On needs a
# native AuthTokenDB there (checked by -t too)
sub refused_server {
    my ($server, $re, $name) = @_;
    my $conf = write_conf($server, '');
    my $out = `$httpd -t -f $conf 2>&1`;
    ok(t_cmp($out, $re, $name) && $? != 0);
}
refused_server('AuthTokenRevocationListen maybe',
               qr/AuthTokenRevocationListen must be On or Off/,
               'a bad AuthTokenRevocationListen stops httpd');
refused_server("AuthTokenDB \"dbname=x\"\nAuthTokenSchema knox\nAuthTokenRevocationListen On",
               qr/AuthTokenRevocationListen On needs an AuthTokenDB read with the native or the drf schema \(not knox, not AuthTokenQuery\)/,
               'AuthTokenRevocationListen On with the knox schema stops httpd');
refused_server("<VirtualHost 127.0.0.1:$port>\n    AuthTokenRevocationListen Off\n</VirtualHost>",
               qr/AuthTokenRevocationListen cannot occur within <VirtualHost> section/,
               'AuthTokenRevocationListen belongs to the main server only');

# an unknown cache provider is found when httpd starts, not by -t
$conf = write_conf('AuthTokenCache nosuch', '');
my $out = `$httpd -k start -f $conf 2>&1`;
sleep 1;
my $log = '';
if (open my $fh, '<', "$dir/error_log") { local $/; $log = <$fh>; }
system($httpd, '-k', 'stop', '-f', $conf) if -e "$dir/httpd.pid";
ok t_cmp("$out$log", qr/AuthTokenCache: unknown socache provider 'nosuch' \(load mod_socache_nosuch\)/,
         'an unknown AuthTokenCache provider stops httpd at start');
