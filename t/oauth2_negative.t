# The negative matrix of the oauth2 scheme: hostile and broken tokens,
# each answered with a clean 401 (error="invalid_token", or
# "invalid_request" for what is not a Bearer token at all) and the
# error_description of the check that failed -- never a 500, never a
# crash, never a pass.  Keys: t/lib/OAuth2Test.pm (made by t/TEST).
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test;
use Apache::TestRequest;
use Apache::TestUtil;
use JSON::PP ();
use MIME::Base64 qw(decode_base64url);
use Crypt::PRNG ();
use ChainTest;
use OAuth2Test;

plan tests => 62;

my $log_mark = error_log_size();

# The status, error and error_description a token gets at $url.
sub answer_to {
    my ($url, $token) = @_;
    my $res = GET $url, Authorization => "Bearer $token";
    my $p = bearer_params($res) // {};
    return [$res->code, $p->{error}, $p->{error_description}];
}

sub rejected {
    my ($token, $desc, $name, $url) = @_;
    ok t_cmp(answer_to($url // '/oauth2/env', $token),
             [401, 'invalid_token', $desc], $name);
}

sub bad_request {
    my ($token, $name, $url) = @_;
    ok t_cmp(answer_to($url // '/oauth2/env', $token),
             [401, 'invalid_request', qr/^malformed/], $name);
}

my $now = time;
my %claims = (iss => ISS, aud => AUD, sub => 'neg', iat => $now,
              exp => $now + 300, scope => 'read');
my $rsa = OAuth2Test::load_key('rsa');

# A token with this header and these claims (hashes merged into the
# defaults, or raw text), signed as $alg with $key (default: the header's
# alg and the run's key for it).
sub crafted {
    my (%o) = @_;
    my $header = ref $o{header} || !defined $o{header}
        ? { alg => 'RS256', typ => 'at+jwt', kid => 'rsa-1', %{ $o{header} || {} } }
        : $o{header};
    my $body = ref $o{claims} || !defined $o{claims}
        ? { %claims, %{ $o{claims} || {} } } : $o{claims};
    for my $part (grep { ref } $header, $body) {
        defined $part->{$_} or delete $part->{$_} for keys %$part;
    }
    my $alg = $o{sign_alg} // 'RS256';
    my $key = $o{key} // $rsa;
    return sign_jws($alg, $key, $header, $body);
}

my $none_re = qr/^(?:malformed token: unsigned token \(alg none\) not accepted|algorithm not allowed)$/;
my $confusion_re = qr/^(?:algorithm not allowed|unknown key|malformed token: (?:key type does not match the algorithm|no suitable key))$/;
my $sig_re = qr/^(?:bad signature|malformed token: malformed signature)$/;
my $not_jwt_re = qr/^malformed token(?:: malformed token)?$/;

# --- alg none ----------------------------------------------------------------

rejected(jws({ alg => 'none', typ => 'at+jwt' }, \%claims), $none_re,
         'alg none with an empty signature is refused');
rejected(jws({ alg => 'none', typ => 'at+jwt', kid => 'rsa-1' }, \%claims,
             sub { 'x' x 32 }),
         $none_re, 'alg none with a signature is refused');
rejected(jws({ alg => 'NONE' }, \%claims),
         qr/^(?:malformed token: unsupported algorithm|$none_re)$/,
         'alg NONE is refused');
rejected(crafted(header => { alg => 'RS1' }), 'malformed token: unsupported algorithm',
         'an algorithm we do not implement is refused');
rejected(crafted(header => { alg => 'rs256' }), 'malformed token: unsupported algorithm',
         'algorithm names are case-sensitive');

# --- HS256 signed with the RSA public key (RFC 8725 section 2.1) ------------

my $pem = rsa_public_pem();
my $n_text = rsa_public_jwk()->{n};
rejected(crafted(header => { alg => 'HS256' }, sign_alg => 'HS256', key => $pem),
         'algorithm not allowed',
         'HS256 signed with the RSA public key\'s PEM text: refused (HS256 is '
         . 'not allowed for an issuer without an HMAC key)');
rejected(crafted(header => { alg => 'HS256' }, sign_alg => 'HS256', key => $pem),
         $confusion_re,
         'and refused where AuthOAuth2Algorithms allows HS256: an RSA key never '
         . 'verifies HS256', '/oauth2/hsallowed/env');
rejected(crafted(header => { alg => 'HS256', kid => undef }, sign_alg => 'HS256',
                 key => $pem),
         $confusion_re, 'the same without a kid', '/oauth2/hsallowed/env');
rejected(crafted(header => { alg => 'HS256' }, sign_alg => 'HS256',
                 key => decode_base64url($n_text)),
         $confusion_re, 'HS256 signed with the bytes of the JWK\'s n: refused',
         '/oauth2/hsallowed/env');
rejected(crafted(header => { alg => 'HS256' }, sign_alg => 'HS256', key => $n_text),
         $confusion_re, 'HS256 signed with the JWK\'s n as text: refused',
         '/oauth2/hsallowed/env');
rejected(crafted(header => { alg => 'HS256' }, sign_alg => 'HS256',
                 key => json(rsa_public_jwk())),
         $confusion_re, 'HS256 signed with the whole public JWK: refused',
         '/oauth2/hsallowed/env');

# --- keys --------------------------------------------------------------------

rejected(crafted(header => { kid => 'nowhere' }), 'unknown key',
         'a kid pointing nowhere is an unknown key');
rejected(crafted(header => { kid => '' }), 'unknown key',
         'an empty kid is an unknown key');
rejected(crafted(header => { kid => '../../../../etc/passwd' }), 'unknown key',
         'a kid that looks like a path is only an unknown key');
rejected(crafted(header => { kid => 7 }),
         'malformed token: invalid token header parameter',
         'a kid that is not a string is refused');
rejected(crafted(header => { kid => 'ec-256' }), $confusion_re,
         'RS256 naming an EC key\'s kid is refused');
rejected(crafted(header => { alg => 'ES256', kid => 'ec-384' }, sign_alg => 'ES256',
                 key => OAuth2Test::load_key('ec384')),
         $confusion_re, 'ES256 naming the P-384 key is refused (curve pinned to alg)');
rejected(crafted(header => { alg => 'RS256' }, sign_alg => 'PS256'),
         'bad signature', 'a PS256 signature under alg RS256 is refused');
{
    my $evil = new_ec_key();
    rejected(crafted(header => { alg => 'ES256', kid => 'ec-256',
                                 jku => 'http://127.0.0.1:1/jwks',
                                 jwk => public_jwk($evil) },
                     sign_alg => 'ES256', key => $evil),
             'bad signature',
             'a key of the attacker\'s embedded in jwk / named by jku is ignored');
    rejected(crafted(header => { alg => 'EdDSA', kid => 'ed-1' }, sign_alg => 'EdDSA',
                     key => OAuth2Test::load_key('ed25519', 'other')),
             'bad signature', 'an EdDSA token signed by another Ed25519 key is refused');
}

# --- signatures --------------------------------------------------------------

{
    my $es = crafted(header => { alg => 'ES256', kid => 'ec-256' }, sign_alg => 'ES256',
                     key => OAuth2Test::load_key('ec256'));
    my ($h, $p, $s) = split /\./, $es;
    my $raw = decode_base64url($s);
    my ($r, $ss) = (substr($raw, 0, 32), substr($raw, 32));
    my $int = sub {
        my $x = shift;
        $x =~ s/^\x00+//;
        $x = "\x00$x" if ord($x) & 0x80;
        return "\x02" . chr(length $x) . $x;
    };
    my $der = $int->($r) . $int->($ss);
    $der = "\x30" . chr(length $der) . $der;
    rejected("$h.$p." . b64u($der), $sig_re,
             'an ES256 signature in DER instead of R||S is refused');
    rejected("$h.$p." . b64u("\0" x 64), $sig_re,
             'an ES256 signature of zeros (r = s = 0, CVE-2022-21449) is refused');
    rejected("$h.$p." . b64u(substr($raw, 0, 63)), $sig_re,
             'an ES256 signature one byte short is refused');
    my $ed = crafted(header => { alg => 'EdDSA', kid => 'ed-1' }, sign_alg => 'EdDSA',
                     key => OAuth2Test::load_key('ed25519'));
    ($h, $p) = split /\./, $ed;
    rejected("$h.$p." . b64u("\0" x 64), $sig_re, 'an EdDSA signature of zeros is refused');
}

# --- truncated and oversized -------------------------------------------------

my $good = crafted();
my ($gh, $gp, $gs) = split /\./, $good;
rejected(substr($good, 0, -10), $sig_re,
         'a token with its last 10 characters cut off is refused');
rejected("$gh.$gp.", $sig_re, 'a token with an empty signature is refused');
rejected("$gh.$gp", $not_jwt_re, 'a token cut to header.payload is malformed');
rejected($gh, $not_jwt_re, 'a token cut to its header is malformed');
rejected(substr($good, 0, length($gh) + 1 + int(length($gp) / 2) + 1) . ".$gs",
         qr/^malformed token: (?:invalid base64url encoding|token payload is not JSON)$/,
         'a token cut inside its payload is malformed');
rejected(crafted(header => { pad => 'x' x 5000 }), 'malformed token: token too large',
         'a header of more than 4096 bytes is refused');
{
    my $big = crafted(claims => { pad => 'y' x 13000 });
    local $Apache::TestRequest::Module = 'oauth2_big';
    my $res = GET '/oauth2/env', Authorization => "Bearer $big";
    my $p = bearer_params($res) // {};
    ok t_cmp([length($big) > 16384 ? 1 : 0, $res->code, $p->{error}, $p->{error_description}],
             [1, 401, 'invalid_request', qr/^malformed/],
             'a token of more than 16384 characters is refused as malformed');
}
{
    my $res = GET '/oauth2/env', Authorization => 'Bearer ' . ('A' x 9000);
    ok t_cmp($res->code, qr/^(?:400|401)$/,
             'a header beyond LimitRequestFieldSize is refused by httpd, not served');
}

# --- base64url and JSON ------------------------------------------------------

{
    my $h = $gh;
    substr($h, 5, 1) = '+';
    rejected("$h.$gp.$gs", 'malformed token: invalid base64url encoding',
             'a + (base64, not base64url) in the header is refused');
    rejected("$gh.$gp.$gs==", 'malformed token: invalid base64url encoding',
             'padding = at the end of the signature is refused');
    my $p = $gp;
    substr($p, 3, 1) = '/';
    rejected("$gh.$p.$gs", 'malformed token: invalid base64url encoding',
             'a / in the payload is refused');
}
bad_request("$gh.$gp!.$gs", 'a ! inside the token is not RFC 6750 syntax: invalid_request');
bad_request('', 'Bearer without a token is invalid_request');
bad_request("$gh.$gp $gs", 'a token with a space is invalid_request');
bad_request("$gh.$gp.$gs\xc3\xa9", 'a token with a non-ASCII character is invalid_request');
rejected(jws('not json', \%claims, sub { 'x' }), 'malformed token: token header is not JSON',
         'a header that is not JSON is refused');
rejected(jws('["RS256"]', \%claims, sub { 'x' }),
         'malformed token: token header is not a JSON object',
         'a header that is a JSON array is refused');
rejected(crafted(header => '{"alg":"none","alg":"RS256","kid":"rsa-1"}'),
         qr/^malformed token: /, 'a header with alg twice is refused');
rejected(crafted(header => { alg => undef }), qr/^malformed token: token header has no alg$/,
         'a header without alg is refused');
rejected(crafted(claims => 'not json'), 'malformed token: token payload is not JSON',
         'a payload that is not JSON is refused');
rejected(crafted(claims => '"a string"'),
         'malformed token: token payload is not a JSON object',
         'a payload that is a JSON string is refused');
rejected(crafted(claims => ('[' x 2100) . (']' x 2100)),
         qr/^malformed token: token payload is not (?:JSON|a JSON object)$/,
         'a payload nested 2100 deep is refused without a crash');

# --- claims of the wrong type ------------------------------------------------

rejected(crafted(claims => { exp => '' . ($now + 300) }), 'claim exp has the wrong type',
         'exp as a string is refused');
rejected(crafted(claims => { nbf => '' . ($now - 10) }), 'claim nbf has the wrong type',
         'nbf as a string is refused');
rejected(crafted(claims => { iat => JSON::PP::true }), 'claim iat has the wrong type',
         'iat as a boolean is refused');
rejected(crafted(claims => { exp => 1e300 }), qr/./,
         'an exp beyond 2^53 is refused');
rejected(crafted(claims => { aud => 12 }), 'claim aud has the wrong type',
         'aud as a number is refused');
rejected(crafted(claims => { aud => [AUD, 12] }), 'claim aud has the wrong type',
         'aud as an array with a number in it is refused');
rejected(crafted(claims => { iss => 12 }),
         qr/^(?:unknown issuer|claim iss has the wrong type)$/,
         'iss as a number is refused');
rejected(crafted(claims => { scope => ['read'] }), 'claim scope has the wrong type',
         'scope as an array is refused');
rejected(crafted(claims => { scope => 'read "evil' }),
         qr/^(?:malformed token: invalid claim value|claim scope has the wrong type)$/,
         'a scope with a quote in it is refused');

# --- JWE, crit, odd shapes ---------------------------------------------------

rejected(join('.', b64u('{"alg":"RSA-OAEP","enc":"A256GCM","cty":"JWT"}'),
              map { b64u(Crypt::PRNG::random_bytes(16)) } 1 .. 4),
         qr{^malformed token(?:: nested/encrypted JWT not supported)?$},
         'a nested JWT (JWE, five parts) is refused');
rejected("$gh.$gp.$gs.$gs", $not_jwt_re, 'four parts are malformed');
rejected('..', qr/^malformed token/, 'three empty parts are malformed');
rejected(crafted(header => { crit => ['exp'], exp => 1 }),
         'malformed token: critical header extension not supported',
         'a crit header is refused');
rejected(crafted(header => { crit => [] }),
         'malformed token: critical header extension not supported',
         'an empty crit header is refused too');

# --- afterwards --------------------------------------------------------------

my $log = error_log_since($log_mark);
ok t_cmp([$log =~ /(exit signal|Segmentation fault|AH00052|AH00051)/g], [],
         'no httpd child crashed during the matrix');
ok t_cmp(GET('/oauth2/env', Authorization => 'Bearer ' . mint(claims => { sub => 'after' }))->code,
         200, 'and a good token still works afterwards');
