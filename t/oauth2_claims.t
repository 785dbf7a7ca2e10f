# What the oauth2 scheme decides and passes on from a token's claims:
# step-up authentication (RFC 9470: `Require auth-acr`, `auth-max-age`,
# 401 insufficient_user_authentication with acr_values / max_age, for
# Bearer and DPoP), `Require auth-claim` (strings, numbers, arrays, dotted
# paths), and AuthOAuth2ClaimHeader (arrays joined, hostile values encoded
# or refused, the client's own headers of those names removed).
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test;
use Apache::TestRequest;
use Apache::TestUtil;
use ChainTest;
use OAuth2Test;

plan tests => 40;

sub bearer {
    my ($url, $claims, @headers) = @_;
    return GET $url, Authorization => 'Bearer ' . mint(claims => $claims),
        @headers;
}

# [status, REMOTE_USER] of a request with a token of these claims
sub answer {
    my $res = bearer(@_);
    return [$res->code, identity($res)->{REMOTE_USER} // ''];
}

# The challenge of a step-up refusal (RFC 9470 section 3).
sub step_up {
    my ($scheme, $desc, $attrs) = @_;
    return qq{$scheme, error="insufficient_user_authentication", }
         . qq{error_description="$desc", $attrs};
}
my $level = 'A different authentication level is required';

my $now = time;

# --- step-up: acr ---------------------------------------------------------

ok t_cmp(answer('/oauth2/acr/env', { sub => 'acr1', acr => 'mfa' }),
         [200, 'acr1'], 'a token whose acr is one of Require auth-acr is granted');
ok t_cmp(answer('/oauth2/acr/env', { sub => 'acr2', acr => 'urn:example:silver' }),
         [200, 'acr2'], 'any of the listed acr values will do');
my $res = bearer('/oauth2/acr/env', { sub => 'acr3', acr => 'pwd' });
ok t_cmp([$res->code, challenges($res)],
         [401, [step_up('Bearer realm="oauth2"', $level,
                        'acr_values="urn:example:silver mfa"')]],
         'another acr is 401 with the RFC 9470 challenge and the acr values, in order');
$res = bearer('/oauth2/acr/json/env', { sub => 'acr3', acr => 'pwd' });
ok t_cmp([$res->code, $res->content, scalar @{ challenges($res) }],
         [401, '{"detail":"The authentication is not sufficient for this request."}', 1],
         'AuthChainErrorFormat json: the step-up 401 says so, the challenge stays');
$res = bearer('/oauth2/acr/env', { sub => 'acr4', acr => undef });
ok t_cmp([$res->code, bearer_params($res)->{error}],
         [401, 'insufficient_user_authentication'], 'a token without acr is a step-up 401');
$res = bearer('/oauth2/acr/env', { sub => 'acr5', acr => ['mfa'] });
ok t_cmp($res->code, 401, 'an acr that is not a string is a step-up 401');
$res = GET '/oauth2/mixedacr/env', Authorization => basic('alice', 'secret');
ok t_cmp([$res->code, challenges($res)], [403, []],
         'a user of another scheme is refused by auth-acr with 403, no challenge');
$res = GET '/oauth2/acr/env';
ok t_cmp([$res->code, challenges($res)], [401, ['Bearer realm="oauth2"']],
         'no token at all: the plain 401, no step-up attributes');

# --- step-up: max_age -----------------------------------------------------

ok t_cmp(answer('/oauth2/fresh/env', { sub => 'age1', auth_time => $now - 100 }),
         [200, 'age1'], 'auth_time within Require auth-max-age is granted');
$res = bearer('/oauth2/fresh/env', { sub => 'age2', auth_time => $now - 1000 });
ok t_cmp([$res->code, challenges($res)],
         [401, [step_up('Bearer realm="oauth2"',
                        'More recent authentication is required', 'max_age="300"')]],
         'a stale auth_time is 401 with max_age');
$res = bearer('/oauth2/fresh/env', { sub => 'age3', auth_time => undef });
ok t_cmp([$res->code, bearer_params($res)->{max_age}], [401, '300'],
         'a token without auth_time is a step-up 401');
$res = bearer('/oauth2/fresh/env', { sub => 'age4', auth_time => 'yesterday' });
ok t_cmp($res->code, 401, 'an auth_time that is not a number is a step-up 401');
$res = bearer('/oauth2/stepup/env', { sub => 'both', acr => 'pwd', auth_time => $now - 1000 });
ok t_cmp([$res->code, challenges($res)],
         [401, [step_up('Bearer realm="oauth2"', 'A different authentication level '
                        . 'and more recent authentication are required',
                        'acr_values="mfa", max_age="60"')]],
         'both failing under RequireAll: one challenge with acr_values and max_age');
ok t_cmp(answer('/oauth2/stepup/env', { sub => 'both2', acr => 'mfa', auth_time => $now }),
         [200, 'both2'], 'both holding under RequireAll is granted');

# --- step-up with DPoP ----------------------------------------------------

my $algs = 'RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA';
my $client = new_ec_key();
my $token = mint(claims => { sub => 'dpopacr', acr => 'pwd',
                             cnf => { jkt => jkt_of($client) } });
my $url = 'http://' . Apache::TestRequest::hostport() . '/dpop/acr/env';
$res = GET '/dpop/acr/env', Authorization => "DPoP $token",
    DPoP => dpop_proof(key => $client, htu => $url, token => $token);
my @ch = @{ challenges($res) };
ok t_cmp([$res->code, scalar @ch, $ch[0], $ch[1]],
         [401, 2, step_up(qq{DPoP realm="dpop", algs="$algs"}, $level, 'acr_values="mfa"'),
          'Bearer realm="dpop"'],
         'a DPoP token: the DPoP challenge (first) carries the step-up, Bearer does not');
$res = bearer('/dpop/acr/env', { sub => 'beareracr', acr => 'pwd' });
@ch = @{ challenges($res) };
ok t_cmp([$res->code, $ch[0], $ch[1]],
         [401, step_up('Bearer realm="dpop"', $level, 'acr_values="mfa"'),
          qq{DPoP realm="dpop", algs="$algs"}],
         'a Bearer token there: the Bearer challenge carries it');

# --- Require auth-claim ---------------------------------------------------

ok t_cmp(answer('/oauth2/claim/env', { sub => 'c1', tenant => 'acme' }), [200, 'c1'],
         'a string claim equal to a value is granted');
ok t_cmp(answer('/oauth2/claim/env', { sub => 'c2', tenant => 'big corp' }), [200, 'c2'],
         'a quoted value with a space matches');
$res = bearer('/oauth2/claim/env', { sub => 'c3', tenant => 'ACME' });
ok t_cmp([$res->code, challenges($res)], [403, []],
         'another value (case differs) is 403, without a challenge');
ok t_cmp(answer('/oauth2/claim/env', { sub => 'c4', tenant => undef })->[0], 403,
         'an absent claim is 403');
ok t_cmp(answer('/oauth2/claimnum/env', { sub => 'n1', level => 7 }), [200, 'n1'],
         'numbers compare as JSON numbers: the claim 7 matches the value 7.0');
ok t_cmp(answer('/oauth2/claimnum/env', { sub => 'n2', level => 9.5 }), [200, 'n2'],
         'a fractional number matches');
ok t_cmp(answer('/oauth2/claimnum/env', { sub => 'n3', level => '7' })->[0], 403,
         'a string is not a number: "7" is not 7.0');
ok t_cmp(answer('/oauth2/claimnum/env', { sub => 'n4', level => 8 })->[0], 403,
         'another number is 403');
ok t_cmp(answer('/oauth2/roles/env',
                { sub => 'r1', realm_access => { roles => ['dev', 'admin'] } }),
         [200, 'r1'], 'a dotted path into an object, an array member matches');
ok t_cmp(answer('/oauth2/roles/env',
                { sub => 'r1', realm_access => { roles => ['dev', 'admin'] } }),
         [200, 'r1'], 'the same token again (from the cache) still carries its claims');
ok t_cmp(answer('/oauth2/roles/env',
                { sub => 'r2', realm_access => { roles => ['dev', 'administrator'] } })->[0],
         403, 'no member of the array matches: 403');
ok t_cmp(answer('/oauth2/roles/env', { sub => 'r3', realm_access => 'admin' })->[0],
         403, 'the path does not lead into a string');
ok t_cmp(answer('/oauth2/nsclaim/env',
                { sub => 'ns', 'https://example.com/roles' => ['editor'] }),
         [200, 'ns'], 'a claim named with dots is found whole');

# --- AuthOAuth2ClaimHeader ------------------------------------------------

my $env = identity(bearer('/oauth2/claimheaders/env',
    { sub => 'hdr', name => 'Ann "the" Admin', level => 7,
      groups => ['a', 'b,c', "d \xc3\xa9"],
      realm_access => { roles => ['admin', 'dev'] } },
    'X-Claim-Sub' => 'mallory', 'X-Claim-Level' => '99'));
ok t_cmp([@$env{qw(REMOTE_USER HTTP_X_CLAIM_SUB HTTP_X_CLAIM_NAME HTTP_X_CLAIM_LEVEL)}],
         ['hdr', 'hdr', 'Ann "the" Admin', '7'],
         'claims as headers (quotes as they are, a number as JSON writes it); '
         . 'the client\'s headers of those names are replaced');
ok t_cmp([@$env{qw(HTTP_X_CLAIM_GROUPS HTTP_X_CLAIM_ROLES)}],
         ["a, UTF-8''b%2Cc, UTF-8''d%20%C3%A9", 'admin, dev'],
         'an array joined with ", ", a member with a comma or non-ASCII as an RFC 8187 ext-value');
$env = identity(bearer('/oauth2/claimheaders/env',
    { sub => 'hdr2', name => "Eve\r\nX-Injected: 1", groups => undef },
    'X-Claim-Groups' => 'root', 'X-Claim-Roles' => 'admin'));
ok t_cmp([@$env{qw(HTTP_X_CLAIM_NAME HTTP_X_CLAIM_GROUPS HTTP_X_CLAIM_ROLES HTTP_X_INJECTED)}],
         ["UTF-8''Eve%0D%0AX-Injected%3A%201", undef, undef, undef],
         'CR LF is encoded, never a header of its own; absent claims: the client\'s headers removed');
$env = identity(bearer('/oauth2/claimheaders/env',
    { sub => 'hdr3', name => "Jos\xc3\xa9", level => "UTF-8''x" }));
ok t_cmp([@$env{qw(HTTP_X_CLAIM_NAME HTTP_X_CLAIM_LEVEL)}],
         ["UTF-8''Jos%C3%A9", "UTF-8''UTF-8%27%27x"],
         'non-ASCII is encoded, and so is a value that looks encoded');
my $long = 'x' x 3000;
$env = identity(bearer('/oauth2/claimheaders/env', { sub => 'hdr4', name => $long }));
ok t_cmp($env->{HTTP_X_CLAIM_NAME}, $long, 'a long value passes whole');
$res = bearer('/oauth2/claimheaders/env', { sub => 'hdr5', name => "\xc3\xa9" x 1400 });
ok t_cmp($res->code, 403, 'a value longer than LimitRequestFieldSize once encoded is 403');
$res = bearer('/oauth2/claimheaders/env', { sub => 'hdr6' }, ':X_Claim_Sub' => 'spoof');
ok t_cmp([$res->code, $res->header('X-Echo-Underscore')], [200, '[]'],
         'a client header spelled with _ for - is removed too');
$res = GET '/oauth2/claimheaders/public/env', 'X-Claim-Sub' => 'mallory';
ok t_cmp([$res->code, identity($res)->{HTTP_X_CLAIM_SUB}], [200, undef],
         'an anonymous request: the client\'s header is removed');
$env = identity(bearer('/oauth2/claimheaders/strict/env', { sub => 'st1', name => 'Bob' }));
ok t_cmp([@$env{qw(REMOTE_USER HTTP_X_CLAIM_NAME HTTP_X_CLAIM_SUB)}], ['st1', 'Bob', 'st1'],
         'refuse: an ASCII value passes; the enclosing section\'s headers still apply');
$res = bearer('/oauth2/claimheaders/strict/env', { sub => 'st2', name => "Jos\xc3\xa9" });
ok t_cmp($res->code, 403, 'refuse: a non-ASCII value refuses the request');
$res = bearer('/oauth2/claimheaders/strict/env', { sub => 'st3', name => "a\nb" });
ok t_cmp($res->code, 403, 'refuse: a control character refuses the request');
