# The basic scheme over httpd's authn providers: file (default), an
# <AuthnProviderAlias>, dbm, dbd on PostgreSQL and socache in front of
# dbd; a store that cannot be read is 503, never 401.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test;
use Apache::TestRequest;
use Apache::TestUtil;
use ChainTest;

plan tests => 16;

sub data { identity($_[0])->{AUTH_CHAIN_DATA} }

my $res = GET '/basic/alias/env', Authorization => basic('aliasuser', 'aliaspw');
ok t_cmp([$res->code, data($res)],
         [200, '{"scheme":"basic","provider":"alias_users"}'],
         'an <AuthnProviderAlias> provider grants its users');
$res = GET '/basic/alias/env', Authorization => basic('alice', 'secret');
ok t_cmp([$res->code, data($res)],
         [200, '{"scheme":"basic","provider":"file"}'],
         'a user the first provider does not know is asked of the next');
$res = GET '/basic/alias/env', Authorization => basic('aliasuser', 'wrong');
ok t_cmp($res->code, 401, 'a wrong password at the first provider is final');

# the DBM file is made now: mod_authn_dbm opens it per request
my $dbm = Apache::Test::vars('serverroot') . '/logs/users.dbm';
unlink glob "$dbm*";
my $rc = system('htdbm', '-cbB', '-Tdefault', $dbm, 'dbmuser', 'dbmpass') >> 8;
ok t_cmp($rc, 0, 'htdbm created the DBM user file');
$res = GET '/basic/dbm/env', Authorization => basic('dbmuser', 'dbmpass');
ok t_cmp([$res->code, data($res)],
         [200, '{"scheme":"basic","provider":"dbm"}'],
         'AuthChainBasicProvider dbm grants its users');
$res = GET '/basic/dbm/env', Authorization => basic('dbmuser', 'nope');
ok t_cmp($res->code, 401, 'dbm refuses a wrong password');

$res = GET '/basic/dbd/env', Authorization => basic('dbduser', 'dbpass');
ok t_cmp([$res->code, data($res)],
         [200, '{"scheme":"basic","provider":"dbd"}'],
         'AuthChainBasicProvider dbd grants users stored in PostgreSQL');
$res = GET '/basic/dbd/env', Authorization => basic('dbduser', 'nope');
ok t_cmp($res->code, 401, 'dbd refuses a wrong password');
$res = GET '/basic/dbd/env', Authorization => basic("x' OR '1'='1", 'x');
ok t_cmp($res->code, 401, 'an SQL-shaped user name is only a name');

$res = GET '/basic/socache/env', Authorization => basic('cacheuser', 'cachepw');
ok t_cmp([$res->code, data($res)],
         [200, '{"scheme":"basic","provider":"dbd"}'],
         'socache in front of dbd: the first request reaches the database');
$res = GET '/basic/socache/env', Authorization => basic('cacheuser', 'cachepw');
ok t_cmp([$res->code, data($res)],
         [200, '{"scheme":"basic","provider":"socache"}'],
         'the second request is answered by mod_authn_socache');
$res = GET '/basic/socache/env', Authorization => basic('cacheuser', 'wrong');
ok t_cmp($res->code, 401, 'the cache does not grant a wrong password');

$res = GET '/basic/missingfile/env', Authorization => basic('alice', 'secret');
ok t_cmp([$res->code, $res->header('Retry-After'), @{challenges($res)}],
         [503, 5], 'an unreadable password file is 503 with Retry-After');

Apache::TestRequest::module('basic_dbd_down');
my $t0 = time;
$res = GET '/basic/dbd/env', Authorization => basic('dbduser', 'dbpass');
ok t_cmp($res->code, 503, 'a database that cannot be reached is 503, not 401');
ok t_cmp($res->header('Retry-After'), 5, 'with Retry-After');
ok t_cmp(time - $t0 <= 5, 1, 'and answers within the connect timeout');
