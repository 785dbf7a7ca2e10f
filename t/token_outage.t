# A token database that is down answers 503 with Retry-After, quickly,
# never 401; once it is back, keys work again without restarting httpd.
# (Last of the token tests: it stops and restarts the test PostgreSQL.)
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test;
use Apache::TestRequest;
use Apache::TestUtil;
use Time::HiRes qw(time sleep);
use ChainTest;

plan tests => 9;

my $key = new_key('tokoutage');
my $res = GET '/token/env', Authorization => "Token $key";
ok t_cmp($res->code, 200, 'the key works while the database is up');

my ($bin, $data, $opts) = @ENV{qw(AUTHCHAIN_PGBIN AUTHCHAIN_PGDATA AUTHCHAIN_PGOPTS)};
die "build/check must export AUTHCHAIN_PGBIN, _PGDATA and _PGOPTS\n"
    unless $bin && $data && $opts;

my $rc = system("$bin/pg_ctl", '-D', $data, '-m', 'fast', '-w', 'stop') >> 8;
ok t_cmp($rc, 0, 'the test database stopped');
my $t0 = time;
$res = GET '/token/env', Authorization => "Token $key";
my $took = time - $t0;
ok t_cmp([$res->code, $res->header('Retry-After')], [503, 5],
         'with the database down a key gets 503 and Retry-After, not 401');
ok t_cmp($took < 2.5, 1, 'within the 2 s AuthTokenDBTimeout');
$res = GET '/token/env', Authorization => "Token $key";
ok t_cmp($res->code, 503, 'and again on the next request');

$rc = system("$bin/pg_ctl", '-D', $data, '-o', $opts, '-l',
             "$data/../postgresql.log", '-w', 'start') >> 8;
ok t_cmp($rc, 0, 'the test database started again');
my ($code, $waited) = (0, 0);
$t0 = time;
while (time - $t0 < 5) {
    $res = GET '/token/env', Authorization => "Token $key";
    $code = $res->code;
    last if $code == 200;
    sleep 0.1;
}
$waited = time - $t0;
ok t_cmp($code, 200, 'once it is back the key works again, httpd untouched');
ok t_cmp($waited < 2, 1, 'within 2 s');

Apache::TestRequest::module('token_db_down');
$res = GET '/token/env', Authorization => "Token $key";
ok t_cmp($res->code, 503, 'a database that was never reachable is 503 too');
