# The basic scheme: decoding Authorization: Basic as DRF does, each
# malformed header refused with its reason, and the password check.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test;
use Apache::TestRequest;
use Apache::TestUtil;
use MIME::Base64 qw(encode_base64);
use ChainTest;

plan tests => 17;

my $url = '/basic/file/env';

sub refused {
    my ($auth, $reason, $name) = @_;
    my $res = GET $url, Authorization => $auth;
    ok t_cmp([$res->code, @{challenges($res)}],
             [401, qq{Basic realm="basic", error_description="$reason"}],
             $name);
}

my $res = GET $url, Authorization => basic('alice', 'secret');
ok t_cmp([$res->code, identity($res)->{REMOTE_USER}], [200, 'alice'],
         'right user and password (bcrypt) are granted');
ok t_cmp(identity($res)->{AUTH_TYPE}, 'Basic', 'AUTH_TYPE is Basic');

$res = GET $url, Authorization => basic('carol', 'c4rol');
ok t_cmp($res->code, 200, 'an MD5 (apr1) password is granted');

$res = GET $url, Authorization => basic('colon', 'pa:ss');
ok t_cmp([$res->code, identity($res)->{REMOTE_USER}], [200, 'colon'],
         'credentials split on the first colon: the password may hold one');

$res = GET $url, Authorization => 'bAsIc ' . encode_base64('alice:secret', '');
ok t_cmp($res->code, 200, 'the scheme name is case-insensitive');

$res = GET $url;
ok t_cmp(challenges($res), ['Basic realm="basic"'],
         'no Authorization: challenge with the AuthName realm, no error');

$res = GET $url, Authorization => 'Token abcdef';
ok t_cmp(challenges($res), ['Basic realm="basic"'],
         'another scheme\'s header is not basic\'s business');

refused('Basic', 'Invalid basic header. No credentials provided.',
        'a scheme without credentials is refused');
refused('Basic   ', 'Invalid basic header. No credentials provided.',
        'trailing whitespace is not credentials');
refused('Basic YWxp Y2U6', 'Invalid basic header. Credentials string should not contain spaces.',
        'credentials with spaces are refused');
refused('Basic !!!!', 'Invalid basic header. Credentials not correctly base64 encoded.',
        'characters outside base64 are refused');
refused('Basic YWxpY2U6c2VjcmV0MQ', 'Invalid basic header. Credentials not correctly base64 encoded.',
        'base64 without its padding is refused');
refused('Basic ' . encode_base64('alicesecret', ''),
        'Invalid basic header. Credentials should be user-id:password.',
        'credentials without a colon are refused');
refused('Basic ' . encode_base64("ali\0ce:secret", ''),
        'Invalid basic header. Credentials string should not contain NUL characters.',
        'credentials with a NUL byte are refused');
refused('Basic ' . ('QUFB' x 1100),
        'Invalid basic header. Credentials string is too long.',
        'over-long credentials are refused before decoding');
refused(basic('alice', 'wrong'), 'Invalid username/password.',
        'a wrong password is refused');
refused(basic('mallory', 'secret'), 'Invalid username/password.',
        'an unknown user is refused the same way');
