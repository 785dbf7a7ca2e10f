# WWW-Authenticate on 401: one challenge per scheme that has one, in chain
# order, or only the first; error attributes on the refusing scheme only.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test;
use Apache::TestRequest;
use Apache::TestUtil;
use ChainTest;

plan tests => 12;

my $res = GET '/chain/env';
ok t_cmp(challenges($res),
         ['Outcome realm="chain"', 'Basic realm="chain"'],
         'missing credentials: a challenge per scheme, chain order, no error');

$res = GET '/chain/env', 'X-Outcome' => 'denied';
ok t_cmp(challenges($res),
         ['Outcome realm="chain", error="invalid_token", '
          . 'error_description="The outcome \"denied\" was asked for."',
          'Basic realm="chain"'],
         'the refusing scheme\'s challenge carries error and description');

$res = GET '/chain/env', Authorization => basic('alice', 'nope');
ok t_cmp(challenges($res),
         ['Outcome realm="chain"',
          'Basic realm="chain", error_description="Invalid username/password."'],
         'a Basic refusal describes itself on the Basic challenge');

$res = GET '/chain/env', 'X-Username' => 'eve';
ok t_cmp(challenges($res),
         ['Outcome realm="chain"', 'Basic realm="chain"'],
         'a scheme without a challenge adds none, even when it refuses');

$res = GET '/first/env';
ok t_cmp(challenges($res), ['Basic realm="first"'],
         'AuthChainChallenge first: only the first scheme with a challenge');

$res = GET '/first/env', 'X-Outcome' => 'denied';
ok t_cmp(challenges($res), ['Basic realm="first"'],
         'AuthChainChallenge first: still only the first on a later refusal');

$res = GET '/first/env', Authorization => basic('alice', 'nope');
ok t_cmp(challenges($res),
         ['Basic realm="first", error_description="Invalid username/password."'],
         'AuthChainChallenge first: the first scheme\'s own refusal');

$res = GET '/quoted/env';
ok t_cmp(challenges($res), ['Basic realm="a \"quoted\" realm"'],
         'the realm is a correctly escaped quoted-string');

$res = GET '/merge/child/env';
ok t_cmp(challenges($res), ['Outcome realm="merge"'],
         'a child location changes AuthChainChallenge and keeps the chain');

$res = GET '/merge/env';
ok t_cmp(challenges($res), ['Outcome realm="merge"', 'Basic realm="merge"'],
         'the parent location is unchanged by its child');

$res = GET '/merge/rechained/env';
ok t_cmp(challenges($res), ['Basic realm="merge"'],
         'a child location\'s AuthChain replaces the parent\'s');

$res = GET '/htaccess/', 'X-Outcome' => 'denied';
ok t_cmp(challenges($res),
         ['Outcome realm="htaccess", error="invalid_token", '
          . 'error_description="The outcome \"denied\" was asked for."'],
         'the directives work in .htaccess (AllowOverride AuthConfig)');
