# AuthTokenSchema drf and knox on tables created as Django creates them,
# and AuthTokenQuery on a table of one's own.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test;
use Apache::TestRequest;
use Apache::TestUtil;
use ChainTest;

plan tests => 13;

sub refused_with {
    my ($url, $auth, $reason, $name) = @_;
    my $res = GET $url, Authorization => $auth;
    ok t_cmp([$res->code, challenges($res)->[0]],
             [401, qq{Token realm="} . (split m{/}, $url)[1]
                   . qq{", error="invalid_token", error_description="$reason"}],
             $name);
}

my $res = GET '/drf/env', Authorization => 'Token 9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b';
my $env = identity($res);
ok t_cmp([$res->code, $env->{REMOTE_USER}], [200, 'djalice'],
         'drf: a key of authtoken_token authenticates its auth_user');
ok t_cmp($env->{AUTH_CHAIN_DATA},
         '{"scheme":"token","id":null,"name":"","scopes":[],"expires":null}',
         'drf: the auth data has no id (the key is the only identifier)');
refused_with('/drf/env', 'Token 0123456789abcdef0123456789abcdef01234567',
             'User inactive or deleted.', 'drf: an inactive user is refused');
refused_with('/drf/env', 'Token 9944b09199c62bcf9418ad846dd0e4bbdfc6ee4c',
             'Invalid token.', 'drf: an unknown key is refused');
refused_with('/drf/env', "Token x'OR'1'='1", 'Invalid token.',
             'drf: an SQL-shaped key is only a key');

my $knox = 'a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2';
$res = GET '/knox/env', Authorization => "Token $knox";
$env = identity($res);
ok t_cmp([$res->code, $env->{REMOTE_USER}], [200, 'djalice'],
         'knox: a token whose SHA-512 is stored authenticates its user');
ok t_cmp($env->{AUTH_CHAIN_DATA}, qr/^\{"scheme":"token","id":"sha512:[0-9a-f]{8}","name":"","scopes":\[\],"expires":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"\}$/,
         'knox: the auth data names the token by its digest and expiry');
$res = GET '/knox/env',
    Authorization => 'Token a1b2c3d4e5f6a7bffffffffffffffffffffffffffffffffffffffffffffffffff';
ok t_cmp($res->code, 200,
         'knox: of two tokens sharing a token_key, the digest picks the right one');
refused_with('/knox/env', 'Token a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b3',
             'Invalid token.', 'knox: a wrong token with a known token_key is refused');
refused_with('/knox/env', 'Token b1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2',
             'Token expired.', 'knox: an expired token is refused');
refused_with('/knox/env', 'Token c1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2',
             'User inactive or deleted.', 'knox: an inactive user is refused');

$res = GET '/customq/env', Authorization => 'Token custom-key-1';
$env = identity($res);
ok t_cmp([$res->code, $env->{REMOTE_USER}, $env->{AUTH_CHAIN_SCOPES}],
         [200, 'customer', 'read'],
         'AuthTokenQuery: a table of one\'s own, by the SHA-256 of the key');
refused_with('/customq/env', 'Token custom-key-2', 'Invalid token.',
             'AuthTokenQuery: an unknown key is refused');
