# AuthChain order and stop rules: the first GRANTED wins; DENIED,
# FORBIDDEN and UNAVAILABLE stop the chain; DECLINED passes to the next.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test;
use Apache::TestRequest;
use Apache::TestUtil;
use ChainTest;

plan tests => 22;

my $url = '/chain/env';
my $res;

$res = GET $url;
ok t_cmp($res->code, 401, 'no credentials for any scheme is 401');

$res = GET $url, 'X-Outcome' => 'granted:carol';
ok t_cmp($res->code, 200, 'first scheme granting is 200');
ok t_cmp(identity($res)->{REMOTE_USER}, 'carol',
         'the first scheme sets the user');

$res = GET $url, 'X-Username' => 'bob';
ok t_cmp(identity($res)->{REMOTE_USER}, 'bob',
         'a declining scheme passes to the next (third-party xuser)');
ok t_cmp(identity($res)->{AUTH_CHAIN_SCHEME}, 'xuser',
         'the scheme that granted is named');

$res = GET $url, Authorization => basic('alice', 'secret');
ok t_cmp(identity($res)->{REMOTE_USER}, 'alice',
         'the last scheme is reached when all before decline');

$res = GET $url, 'X-Outcome' => 'granted:carol', 'X-Username' => 'bob',
    Authorization => basic('alice', 'secret');
ok t_cmp(identity($res)->{REMOTE_USER}, 'carol',
         'the first GRANTED wins over later valid credentials');

$res = GET $url, 'X-Outcome' => 'denied',
    Authorization => basic('alice', 'secret');
ok t_cmp($res->code, 401,
         'DENIED stops the chain even when a later scheme would grant');

$res = GET $url, 'X-Username' => 'eve', Authorization => basic('alice', 'secret');
ok t_cmp($res->code, 401, 'a third-party DENIED stops the chain too');

$res = GET $url, 'X-Outcome' => 'forbidden',
    Authorization => basic('alice', 'secret');
ok t_cmp($res->code, 403, 'FORBIDDEN stops the chain with 403');
ok t_cmp($res->content, qr/^CSRF Failed: outcome forbidden$/m,
         'the 403 body is the scheme\'s reason');
ok t_cmp($res->header('WWW-Authenticate'), undef,
         'a 403 carries no challenge');

$res = GET $url, 'X-Outcome' => 'unavailable',
    Authorization => basic('alice', 'secret');
ok t_cmp($res->code, 503, 'UNAVAILABLE stops the chain with 503, not 401');
ok t_cmp($res->header('Retry-After'), 7,
         'the 503 carries the scheme\'s Retry-After');
ok t_cmp($res->header('WWW-Authenticate'), undef,
         'a 503 carries no challenge');

$res = GET $url, 'X-Outcome' => 'nouser';
ok t_cmp($res->code, 401, 'a grant without a user is refused');

$res = GET $url, 'X-Outcome' => 'bogus';
ok t_cmp($res->code, 401, 'an answer outside the five is refused');

$res = GET $url, 'X-Outcome' => 'granted:carol';
ok t_cmp($res->header('X-Outcome-Calls'), 1,
         'a scheme is asked once per request');

# the refusal explains itself at LogLevel info, without the credentials
my $mark = error_log_size();
GET $url, Authorization => basic('alice', 'wrong-password-xyzzy');
my $log = error_log_since($mark);
ok t_cmp($log, qr/AC0003: scheme basic denied the request \(user 'alice'\): Invalid username\/password\./,
         'DENIED is logged at info with scheme, user and reason');
ok t_cmp(scalar($log =~ /xyzzy/), '', 'the password never reaches the log');

$mark = error_log_size();
GET $url, 'X-Outcome' => 'unavailable';
ok t_cmp(error_log_since($mark), qr/scheme outcome is unavailable for the request: store down/,
         'UNAVAILABLE is logged with its reason');

$res = GET $url, 'X-Outcome' => 'granted:carol', Authorization => basic('alice', 'wrong');
ok t_cmp($res->code, 200,
         'schemes after the one that granted are never consulted');
