# Authentication on public locations (Require all granted), invalid
# credentials there, and the unauthenticated user and token.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test;
use Apache::TestRequest;
use Apache::TestUtil;
use ChainTest;

plan tests => 15;

my $res = GET '/pub/env';
ok t_cmp($res->code, 200, 'a public location lets an anonymous caller in');
ok t_cmp(identity($res)->{REMOTE_USER}, '(unset)',
         'an anonymous caller has no user');
ok t_cmp(identity($res)->{AUTH_CHAIN_SCHEME}, '(unset)',
         'an anonymous caller has no scheme');

$res = GET '/pub/env', Authorization => basic('alice', 'secret');
ok t_cmp(identity($res)->{REMOTE_USER}, 'alice',
         'a public location still knows who is calling');
ok t_cmp(identity($res)->{AUTH_CHAIN_SCHEME}, 'basic',
         'and by which scheme');

$res = GET '/pub/env', Authorization => basic('alice', 'wrong');
ok t_cmp($res->code, 401,
         'invalid credentials on a public location are 401 by default');
ok t_cmp(challenges($res)->[1],
         'Basic realm="pub", error_description="Invalid username/password."',
         'with the reason in the challenge');

$res = GET '/pub/env', 'X-Outcome' => 'unavailable';
ok t_cmp($res->code, 503, 'an outage on a public location is 503');

$res = GET '/pub/lenient/env', Authorization => basic('alice', 'wrong');
ok t_cmp($res->code, 200,
         'AuthChainOnInvalid anonymous treats invalid credentials as absent');
ok t_cmp(identity($res)->{REMOTE_USER}, '(unset)', 'and the caller is anonymous');

$res = GET '/pub/lenient/env', 'X-Outcome' => 'denied',
    Authorization => basic('alice', 'secret');
ok t_cmp(identity($res)->{REMOTE_USER}, 'alice',
         'AuthChainOnInvalid anonymous goes on to the next scheme');

$res = GET '/pub/anon/env';
ok t_cmp(identity($res)->{REMOTE_USER}, 'anonymous',
         'AuthChainUnauthenticatedUser names the anonymous caller');
ok t_cmp(identity($res)->{AUTH_CHAIN_DATA}, 'none',
         'AuthChainUnauthenticatedToken is the auth data then');
ok t_cmp(logged_note('anonymous'), 'none',
         'and the value of the auth-chain-data note');

$res = GET '/anonprivate/env';
ok t_cmp($res->code, 401,
         'AuthChainUnauthenticatedUser never satisfies Require valid-user');
