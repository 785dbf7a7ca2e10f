# What a granted request carries: r->user, r->ap_auth_type, the note
# auth-chain-data and the AUTH_CHAIN_* environment.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test;
use Apache::TestRequest;
use Apache::TestUtil;
use ChainTest;

plan tests => 14;

my $res = GET '/chain/env', 'X-Outcome' => 'granted:idn1',
    'X-Outcome-Scopes' => 'read write',
    'X-Outcome-Data' => '{"id":42,"name":"ci"}';
my $env = identity($res);
ok t_cmp($env->{REMOTE_USER}, 'idn1', 'REMOTE_USER is the scheme\'s user');
ok t_cmp($env->{AUTH_TYPE}, 'Outcome',
         'AUTH_TYPE is the scheme\'s HTTP name (r->ap_auth_type)');
ok t_cmp($env->{AUTH_CHAIN_SCHEME}, 'outcome',
         'AUTH_CHAIN_SCHEME is the name used in AuthChain');
ok t_cmp($env->{AUTH_CHAIN_DATA}, '{"scheme":"outcome","id":42,"name":"ci"}',
         'AUTH_CHAIN_DATA is the scheme\'s JSON with "scheme" first');
ok t_cmp($env->{AUTH_CHAIN_SCOPES}, 'read write',
         'AUTH_CHAIN_SCOPES lists the credential\'s scopes');
ok t_cmp(logged_note('idn1'), '{"scheme":"outcome","id":42,"name":"ci"}',
         'the note auth-chain-data holds the same JSON');

$res = GET '/chain/env', 'X-Outcome' => 'granted:idn2';
$env = identity($res);
ok t_cmp($env->{AUTH_CHAIN_DATA}, '{"scheme":"outcome"}',
         'without data of its own the JSON has only "scheme"');
ok t_cmp($env->{AUTH_CHAIN_SCOPES}, '',
         'AUTH_CHAIN_SCOPES is empty when the credential has none');

$res = GET '/chain/env', 'X-Outcome' => 'granted:idn3',
    'X-Outcome-Data' => '{}';
ok t_cmp(identity($res)->{AUTH_CHAIN_DATA}, '{"scheme":"outcome"}',
         'an empty object from the scheme gives only "scheme"');

$res = GET '/chain/env', 'X-Outcome' => 'granted:idn4',
    'X-Outcome-Data' => '[1,2]';
ok t_cmp(identity($res)->{AUTH_CHAIN_DATA}, '{"scheme":"outcome"}',
         'data that is not a JSON object is dropped');

$res = GET '/chain/env', Authorization => basic('alice', 'secret');
$env = identity($res);
ok t_cmp($env->{AUTH_TYPE}, 'Basic', 'AUTH_TYPE for basic is Basic');
ok t_cmp($env->{AUTH_CHAIN_DATA}, '{"scheme":"basic","provider":"file"}',
         'basic\'s data names the authn provider that checked the password');

$res = GET '/chain/env', 'X-Username' => 'bob';
ok t_cmp(identity($res)->{AUTH_CHAIN_DATA},
         '{"scheme":"xuser","header":"X-Username"}',
         'a third-party scheme\'s data reaches the backend');

$res = GET '/htaccess/', 'X-Outcome' => 'granted:carol';
ok t_cmp($res->content, qr/htaccess ok/,
         'a chain configured in .htaccess grants');
