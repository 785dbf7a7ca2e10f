# The oauth2 scheme with JWT access tokens minted here (keys made by t/TEST
# for this run, t/lib/OAuth2Test.pm): every algorithm, three issuers in one
# location, what a granted request carries, each check of the contract
# with its RFC 6750 answer, scopes, leeway, RequireTyp, the user claim, the
# form body, and the cache.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test;
use Apache::TestRequest;
use Apache::TestUtil;
use JSON::PP ();
use Time::HiRes qw(sleep);
use ChainTest;
use OAuth2Test;

plan tests => 72;

my $log_mark = error_log_size();
my @sent;       # every token sent, to check that none reaches the log

sub bearer {
    my ($url, $token, @headers) = @_;
    push @sent, $token;
    return GET $url, Authorization => "Bearer $token", @headers;
}

sub challenge_of {
    my ($error, $desc, $realm) = @_;
    return sprintf 'Bearer realm="%s", error="%s", error_description="%s"',
        $realm // 'oauth2', $error, $desc;
}

# 401 with error="invalid_token" and exactly this error_description.
sub refused {
    my ($url, $token, $desc, $name) = @_;
    my $res = bearer($url, $token);
    ok t_cmp([$res->code, challenges($res)],
             [401, [challenge_of('invalid_token', $desc)]], $name);
}

sub granted {
    my ($url, $token, $user, $name) = @_;
    my $res = bearer($url, $token);
    ok t_cmp([$res->code, identity($res)->{REMOTE_USER}], [200, $user], $name);
}

# The note/AUTH_CHAIN_DATA JSON with booleans as the strings true/false.
sub data_of {
    my ($json) = @_;
    my $data = eval { JSON::PP::decode_json($json // '') }
        or return { unparsable => $json // '(none)' };
    for (values %$data) {
        $_ = $_ ? 'true' : 'false' if JSON::PP::is_bool($_);
    }
    return $data;
}

# --- every algorithm ------------------------------------------------------

for my $alg (qw(RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512
                EdDSA HS256 HS384 HS512)) {
    granted('/oauth2/env', mint(alg => $alg, claims => { sub => "u$alg" }),
            "u$alg", "an $alg token signed by its issuer is accepted");
}

granted('/oauth2/env',
        mint(alg => 'ES256', key => OAuth2Test::load_key('pem'), kid => undef,
             claims => { iss => ISS_PEM, sub => 'pemuser' }),
        'pemuser', 'the issuer with a PEM key, in the same location, '
                   . 'accepts its token (no kid)');
refused('/oauth2/env',
        mint(alg => 'ES256', kid => undef, claims => { iss => ISS_PEM }),
        'bad signature', 'the token\'s iss picks the issuer: a token naming '
                         . 'the PEM issuer signed with the other issuer\'s key '
                         . 'is refused');

# --- what a granted request carries ----------------------------------------

my $now = time;
my $token = mint(alg => 'ES256', claims => {
    sub => 'oanote', iat => $now, exp => $now + 600, jti => 'jti-note',
    client_id => 'cli-7', scope => 'read write', tenant => 'acme', level => 7,
    admin => JSON::PP::true, 'x-team' => 'blue', groups => ['a', 'b'],
    profile => { name => 'x' } });
my $res = bearer('/oauth2/env', $token);
my $env = identity($res);
ok t_cmp([$env->{AUTH_TYPE}, $env->{AUTH_CHAIN_SCHEME}], ['Bearer', 'oauth2'],
         'AUTH_TYPE is Bearer, AUTH_CHAIN_SCHEME oauth2');
ok t_cmp($env->{AUTH_CHAIN_SCOPES}, 'read write',
         'AUTH_CHAIN_SCOPES are the token\'s scopes');
my $want = { scheme => 'oauth2', source => 'jwt', iss => ISS, sub => 'oanote',
             aud => AUD, client_id => 'cli-7', scope => 'read write',
             iat => $now, exp => $now + 600, jti => 'jti-note',
             tenant => 'acme', level => 7, admin => 'true',
             'x-team' => 'blue' };
ok t_cmp(data_of($env->{AUTH_CHAIN_DATA}), $want,
         'AUTH_CHAIN_DATA has source jwt and the scalar claims, not the '
         . 'objects and arrays');
ok t_cmp(data_of(logged_note('oanote')), $want,
         'the note auth-chain-data holds the same data');
ok t_cmp([@$env{qw(OAUTH2_CLAIM_sub OAUTH2_CLAIM_tenant OAUTH2_CLAIM_level
                    OAUTH2_CLAIM_x_team OAUTH2_CLAIM_iss)}],
         ['oanote', 'acme', '7', 'blue', ISS],
         'OAUTH2_CLAIM_<name> for each scalar claim, [^A-Za-z0-9_] as _');
ok t_cmp([grep { /^OAUTH2_CLAIM_(?:groups|profile)$/ } sort keys %$env], [],
         'no OAUTH2_CLAIM_ variable for array and object claims');
$env = identity(bearer('/oauth2/go/redirect?/oauth2/env', $token));
ok t_cmp([@$env{qw(REMOTE_USER OAUTH2_CLAIM_sub OAUTH2_CLAIM_tenant)}],
         ['oanote', 'oanote', 'acme'],
         'an internal redirect gets the OAUTH2_CLAIM_ variables too');

$res = bearer('/oauth2/env',
              mint(claims => { sub => 'twoaud', aud => ['api://x', AUD] }));
ok t_cmp([$res->code, data_of(identity($res)->{AUTH_CHAIN_DATA})->{aud}],
         [200, ['api://x', AUD]],
         'aud as an array containing the audience is accepted, kept as an array');

$res = GET '/oauth2/env', Authorization => 'bEaReR ' . mint(claims => { sub => 'kw' });
ok t_cmp(identity($res)->{REMOTE_USER}, 'kw',
         'the Bearer keyword is case-insensitive');

# --- where the token comes from --------------------------------------------

$res = GET '/oauth2/env';
ok t_cmp([$res->code, challenges($res)], [401, ['Bearer realm="oauth2"']],
         'without a token: 401 with Bearer realm and no error attribute');
$res = GET '/bearermixed/env';
ok t_cmp(challenges($res),
         ['Token realm="mixed"', 'Bearer realm="mixed"', 'Basic realm="mixed"'],
         'in a chain token oauth2 basic: one challenge per scheme, in order');
my $query_token = mint(claims => { sub => 'query' });
$res = GET "/oauth2/env?access_token=$query_token";
ok t_cmp([$res->code, challenges($res)], [401, ['Bearer realm="oauth2"']],
         'a token in the query string is never read');
my $form_token = mint(claims => { sub => 'former' });
$res = POST '/oauth2/form/env', content => "access_token=$form_token";
ok t_cmp([$res->code, identity($res)->{REMOTE_USER}], [200, 'former'],
         'AuthOAuth2AcceptFormToken On reads access_token from a form body');
$res = POST '/oauth2/env', content => "access_token=$form_token";
ok t_cmp([$res->code, challenges($res)], [401, ['Bearer realm="oauth2"']],
         'without AuthOAuth2AcceptFormToken a form token is not read');
$res = POST '/oauth2/form/env', Authorization => "Bearer $form_token",
    content => "access_token=$form_token";
ok t_cmp([$res->code, (bearer_params($res) // {})->{error}], [401, 'invalid_request'],
         'a token both in the header and in the form is invalid_request');
push @sent, $query_token, $form_token;

# --- each check, with its error_description ---------------------------------

$now = time;
refused('/oauth2/env', mint(claims => { exp => $now - 100 }), 'token expired',
        'a token expired 100 s ago is refused');
granted('/oauth2/env', mint(claims => { sub => 'skew', exp => $now - 10 }),
        'skew', 'one expired 10 s ago is within the default 30 s leeway');
refused('/oauth2/strict/env', mint(claims => { exp => $now - 10 }),
        'token expired', 'and refused with AuthOAuth2Leeway 0');
refused('/oauth2/env', mint(claims => { nbf => $now + 100 }),
        'token not yet valid', 'a token valid from 100 s on is refused');
granted('/oauth2/env', mint(claims => { sub => 'early', nbf => $now + 10 }),
        'early', 'one valid in 10 s is within the leeway');
refused('/oauth2/strict/env', mint(claims => { nbf => $now + 10 }),
        'token not yet valid', 'and refused with AuthOAuth2Leeway 0');
refused('/oauth2/env', mint(claims => { iat => $now + 100 }),
        'token issued in the future', 'a token issued 100 s from now is refused');
refused('/oauth2/env', mint(claims => { exp => undef }), 'claim exp missing',
        'a token without exp is refused (RFC 9068)');
refused('/oauth2/env', mint(key => OAuth2Test::load_key('rsa', 'other')),
        'bad signature', 'a token signed by another key with the same kid is refused');
{
    my ($h, $p, $s) = split /\./, mint(claims => { sub => 'mallory' });
    my $claims = JSON::PP::decode_json(MIME::Base64::decode_base64url($p));
    $claims->{sub} = 'admin';
    refused('/oauth2/env', join('.', $h, b64u(json($claims)), $s),
            'bad signature', 'a token whose claims were changed is refused');
}
refused('/oauth2/env', mint(claims => { iss => 'https://evil.test' }),
        'unknown issuer', 'a token of an issuer not configured here is refused');
refused('/oauth2/env', mint(claims => { aud => 'api://other' }),
        'wrong audience', 'a token for another audience is refused');
refused('/oauth2/env', mint(claims => { aud => undef }), 'claim aud missing',
        'a token without aud is refused');
granted('/oauth2/anyaud/env', mint(claims => { sub => 'anyaud', aud => 'api://other' }),
        'anyaud', 'AuthOAuth2Audience * does not check aud');
granted('/oauth2/twoaud/env', mint(claims => { sub => 'twoaud', aud => 'api://other' }),
        'twoaud', 'with two audiences configured, either is accepted');
refused('/oauth2/env', mint(kid => 'no-such-kid'), 'unknown key',
        'a kid that is in no key set is an unknown key');
refused('/oauth2/rsonly/env', mint(alg => 'ES256'), 'algorithm not allowed',
        'an algorithm outside AuthOAuth2Algorithms is refused');
granted('/oauth2/rsonly/env', mint(alg => 'RS256', claims => { sub => 'rsonly' }),
        'rsonly', 'and one inside it accepted');
refused('/oauth2/env', mint(alg => 'HS256', claims => { iss => ISS }),
        'algorithm not allowed',
        'HS256 is refused for an issuer without an HMAC key, even signed '
        . 'with another issuer\'s secret');
granted('/oauth2/env', mint(alg => 'HS256', claims => { sub => 'hsok' }),
        'hsok', 'and accepted for the issuer that has one');
refused('/oauth2/env', mint(alg => 'HS256',
                            key => MIME::Base64::decode_base64url('A' x 86)),
        'bad signature', 'an HS256 token signed with another secret is refused');

# RequireTyp
granted('/oauth2/typ/env', mint(claims => { sub => 'typed' }), 'typed',
        'AuthOAuth2RequireTyp On accepts typ at+jwt');
granted('/oauth2/typ/env', mint(claims => { sub => 'typed2' },
                                header => { typ => 'application/at+jwt' }),
        'typed2', 'and typ application/at+jwt');
refused('/oauth2/typ/env', mint(header => { typ => 'JWT' }),
        'token is not an access token (typ)', 'and refuses typ JWT');
refused('/oauth2/typ/env', mint(header => { typ => undef }),
        'token is not an access token (typ)', 'and a token without typ');
granted('/oauth2/env', mint(claims => { sub => 'untyped' }, header => { typ => 'JWT' }),
        'untyped', 'without RequireTyp typ JWT is accepted');

# the user claim
granted('/oauth2/email/env', mint(claims => { email => 'eve@example.org' }),
        'eve@example.org', 'AuthOAuth2UserClaim email makes the email the user');
refused('/oauth2/email/env', mint(), 'claim email missing',
        'a token without the user claim is refused');
refused('/oauth2/env', mint(claims => { sub => 42 }), 'claim sub missing',
        'a user claim that is not a string counts as missing');

# --- scopes ------------------------------------------------------------------

$res = bearer('/oauth2/scoped/env', mint(claims => { scope => 'read' }));
ok t_cmp([$res->code, challenges($res)],
         [403, ['Bearer realm="oauth2", error="insufficient_scope", scope="write admin"']],
         'Require auth-scope without the scope: 403 insufficient_scope naming the scopes');
granted('/oauth2/scoped/env', mint(claims => { sub => 'admin1', scope => 'read admin' }),
        'admin1', 'with one of the scopes: granted');
$res = bearer('/oauth2/scoped/env',
              mint(claims => { sub => 'scp', scope => undef, scp => ['read', 'write'] }));
ok t_cmp([$res->code, identity($res)->{AUTH_CHAIN_SCOPES}], [200, 'read write'],
         'an scp array is read when there is no scope claim');
$res = bearer('/oauth2/env', mint(claims => { sub => 'noscope', scope => undef }));
ok t_cmp([$res->code, identity($res)->{AUTH_CHAIN_SCOPES}], [200, ''],
         'a token without scopes is granted with AUTH_CHAIN_SCOPES empty');

# --- public locations ------------------------------------------------------

$res = GET '/oauth2/public/env';
ok t_cmp([$res->code, identity($res)->{REMOTE_USER}], [200, '(unset)'],
         'Require all granted: without a token the request goes through');
refused('/oauth2/public/env', mint(claims => { exp => time - 3600 }),
        'token expired', 'but an invalid token is still refused');

# --- the cache ---------------------------------------------------------------

# /oauth2/cached: AuthOAuth2CacheTTL 300, AuthOAuth2Leeway 0
$token = mint(claims => { sub => 'cachy', exp => time + 2 });
granted('/oauth2/cached/env', $token, 'cachy', 'a token is validated and cached');
granted('/oauth2/cached/env', $token, 'cachy', 'a token accepted stays accepted');
sleep 3;
refused('/oauth2/cached/env', $token, 'token expired',
        'the cached answer never outlives the token\'s exp');
$token = mint(claims => { sub => 'nocache' });
granted('/oauth2/nocache/env', $token, 'nocache', 'AuthOAuth2CacheTTL 0 validates');
granted('/oauth2/nocache/env', $token, 'nocache', 'every time');

# --- logs ------------------------------------------------------------------

my $log = error_log_since($log_mark);
my @leaked = grep { length($_) >= 16 && index($log, $_) >= 0 }
             map { (split /\./, $_)[-1] // '' } @sent;
ok t_cmp(scalar @leaked, 0, 'no token (not even its signature) reaches the error log');
ok t_cmp($log, qr/AC05\d\d/, 'refusals are logged with AC05xx numbers');
