# Require auth-scheme and Require auth-scope, and what an authenticated
# caller that authorization refuses gets (403, as DRF's PermissionDenied).
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test;
use Apache::TestRequest;
use Apache::TestUtil;
use ChainTest;

plan tests => 16;

my $res = GET '/byscheme/env', 'X-Outcome' => 'granted:carol';
ok t_cmp($res->code, 200, 'Require auth-scheme grants a listed scheme');
$res = GET '/byscheme/env', 'X-Username' => 'bob';
ok t_cmp($res->code, 200, 'Require auth-scheme grants any listed scheme');
$res = GET '/byscheme/env', Authorization => basic('alice', 'secret');
ok t_cmp($res->code, 403,
         'Require auth-scheme refuses another scheme with 403');
$res = GET '/byscheme/env';
ok t_cmp($res->code, 401, 'Require auth-scheme asks an anonymous caller 401');

$res = GET '/byscope/env', 'X-Outcome' => 'granted:carol',
    'X-Outcome-Scopes' => 'read write';
ok t_cmp($res->code, 200, 'Require auth-scope grants one of the scopes');
$res = GET '/byscope/env', 'X-Outcome' => 'granted:carol',
    'X-Outcome-Scopes' => 'admin';
ok t_cmp($res->code, 200, 'Require auth-scope grants any of the scopes');
$res = GET '/byscope/env', 'X-Outcome' => 'granted:carol',
    'X-Outcome-Scopes' => 'read';
ok t_cmp($res->code, 403, 'Require auth-scope refuses without the scopes');
ok t_cmp(challenges($res),
         ['Outcome error="insufficient_scope", scope="write admin"'],
         'the 403 carries the scheme\'s insufficient_scope challenge');
$res = GET '/byscope/env', 'X-Outcome' => 'granted:carol';
ok t_cmp($res->code, 403, 'a credential without scopes is refused');
$res = GET '/byscope/env', Authorization => basic('alice', 'secret');
ok t_cmp($res->code, 403, 'basic credentials carry no scope');
ok t_cmp(challenges($res), [],
         'a scheme without a scope challenge sends none on 403');
$res = GET '/byscope/env';
ok t_cmp($res->code, 401, 'Require auth-scope asks an anonymous caller 401');

$res = GET '/allscopes/env', 'X-Outcome' => 'granted:carol',
    'X-Outcome-Scopes' => 'write read';
ok t_cmp($res->code, 200, '<RequireAll> of auth-scope needs every scope');
$res = GET '/allscopes/env', 'X-Outcome' => 'granted:carol',
    'X-Outcome-Scopes' => 'read';
ok t_cmp($res->code, 403, '<RequireAll> refuses when one scope is missing');

$res = GET '/usercheck/env', 'X-Outcome' => 'granted:carol';
ok t_cmp($res->code, 200, 'Require user sees the chain\'s user');
$res = GET '/usercheck/env', 'X-Outcome' => 'granted:dave';
ok t_cmp($res->code, 403, 'another authenticated user is refused with 403');
