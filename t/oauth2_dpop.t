# DPoP (RFC 9449): `Authorization: DPoP <token>` with a `DPoP` proof, a JWT
# signed by the key the token is bound to (cnf.jkt).  Every rule of a
# resource server's check (section 4.3), the replay of a proof, server
# nonces (section 8), a bound token presented as Bearer, the modes of
# AuthOAuth2DPoP and their challenges; a token bound through an
# introspection answer's cnf.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test;
use Apache::TestRequest;
use Apache::TestUtil;
use File::Temp qw(tempdir);
use LWP::UserAgent;
use ChainTest;
use OAuth2Test;

plan tests => 28;

my $client = new_ec_key();               # the client's DPoP key pair
my $other = new_ec_key();
my $jkt = jkt_of($client);
my $base = 'http://' . Apache::TestRequest::hostport();

sub bound { return mint(claims => { sub => $_[0] // 'dpopper', cnf => { jkt => $_[1] // $jkt } }) }

# GET $path with the token under $scheme and the proof(s) in @proofs.
sub get_with {
    my ($path, $scheme, $token, @proofs) = @_;
    return GET $path, Authorization => "$scheme $token",
        map { (DPoP => $_) } @proofs;
}

# [status, REMOTE_USER, or error and error_description of the challenge of
# the scheme the request used]
sub answer {
    my ($res, $scheme) = @_;
    return [$res->code, identity($res)->{REMOTE_USER}] if $res->code == 200;
    my $p = bearer_params($res, $scheme // 'DPoP') // {};
    return [$res->code, $p->{error} // '', $p->{error_description} // ''];
}

my $token = bound();
my $url = "$base/dpop/env";
my $proof = dpop_proof(key => $client, htu => $url, token => $token);
my $res = get_with('/dpop/env', 'DPoP', $token, $proof);
my $env = identity($res);
ok t_cmp([$res->code, $env->{REMOTE_USER}, $env->{AUTH_TYPE}],
         [200, 'dpopper', 'DPoP'],
         'a DPoP-bound token with its proof is granted, AUTH_TYPE DPoP');
ok t_cmp($env->{AUTH_CHAIN_DATA}, qr/"cnf":\{"jkt":"\Q$jkt\E"\}/,
         'the binding is in the auth data');
ok t_cmp(answer(get_with('/dpop/env', 'DPoP', $token, $proof)),
         [401, 'invalid_dpop_proof', 'DPoP proof replayed (its jti was seen before)'],
         'the same proof again is a replay, though the token\'s verdict is cached');
ok t_cmp(answer(get_with('/dpop/env', 'DPoP', $token,
                         dpop_proof(key => $client, htu => $url, token => $token))),
         [200, 'dpopper'], 'a new proof for the cached token is granted');

ok t_cmp(answer(get_with('/dpop/env', 'DPoP', $token,
                         dpop_proof(key => $client, htm => 'POST', htu => $url,
                                    token => $token))),
         [401, 'invalid_dpop_proof', 'proof is not for this method'],
         'a proof for another method is refused');
ok t_cmp(answer(get_with('/dpop/env', 'DPoP', $token,
                         dpop_proof(key => $client, htu => "$base/dpop/other",
                                    token => $token))),
         [401, 'invalid_dpop_proof', 'proof is not for this URL'],
         'a proof for another URL is refused');
ok t_cmp(answer(get_with('/dpop/env?q=1', 'DPoP', $token,
                         dpop_proof(key => $client, htu => "$url#frag",
                                    token => $token))),
         [200, 'dpopper'], 'query and fragment are not part of htu');
ok t_cmp(answer(get_with('/dpop/env', 'DPoP', $token,
                         dpop_proof(key => $other, htu => $url, token => $token))),
         [401, 'invalid_token', 'proof key is not the key the token is bound to'],
         'a proof by another key than the bound one is refused');
ok t_cmp(answer(get_with('/dpop/env', 'DPoP', $token)),
         [401, 'invalid_dpop_proof', 'no DPoP proof'], 'a missing proof is refused');
ok t_cmp(answer(get_with('/dpop/env', 'DPoP', $token,
                         dpop_proof(key => $client, htu => $url, token => $token),
                         dpop_proof(key => $client, htu => $url, token => $token))),
         [401, 'invalid_dpop_proof', 'more than one DPoP proof'],
         'two proofs are refused');
ok t_cmp(answer(get_with('/dpop/env', 'DPoP', $token,
                         dpop_proof(key => $client, htu => $url, token => $token,
                                    iat => time - 300))),
         [401, 'invalid_dpop_proof', 'proof is too old or from the future'],
         'a proof issued five minutes ago is refused (AuthOAuth2DPoPMaxAge 60)');
ok t_cmp(answer(get_with('/dpop/env', 'DPoP', $token,
                         dpop_proof(key => $client, htu => $url, token => bound('x')))),
         [401, 'invalid_dpop_proof', 'proof is not for this access token'],
         'a proof for another token (ath) is refused');
ok t_cmp(answer(get_with('/dpop/env', 'DPoP', $token,
                         dpop_proof(key => $client, htu => $url, token => $token,
                                    jwk => $client->export_key_jwk('private', 1)))),
         [401, 'invalid_dpop_proof', 'proof jwk holds a private key'],
         'a proof whose jwk holds the private key is refused');
ok t_cmp(answer(get_with('/dpop/env', 'DPoP', $token,
                         dpop_proof(key => $client, htu => $url, token => $token,
                                    typ => 'JWT'))),
         [401, 'invalid_dpop_proof', 'proof typ is not dpop+jwt'],
         'a proof without typ dpop+jwt is refused');

ok t_cmp(answer(GET('/dpop/env', Authorization => "Bearer $token"), 'Bearer'),
         [401, 'invalid_token', 'a DPoP-bound token presented as Bearer'],
         'a DPoP-bound token presented as Bearer is refused');
ok t_cmp(answer(GET('/dpop/off/env', Authorization => "Bearer $token"), 'Bearer'),
         [401, 'invalid_token', 'a DPoP-bound token presented as Bearer'],
         '... also where DPoP is off');
my $plain = mint(claims => { sub => 'plain' });
ok t_cmp(answer(get_with('/dpop/env', 'DPoP', $plain,
                         dpop_proof(key => $client, htu => $url, token => $plain))),
         [401, 'invalid_token', 'the token is not bound to a DPoP key'],
         'an unbound token with the DPoP scheme is refused');
ok t_cmp(answer(GET('/dpop/env', Authorization => "Bearer $plain"), 'Bearer'),
         [200, 'plain'], 'an unbound token as Bearer is granted where DPoP is optional');

$res = GET '/dpop/env';
ok t_cmp([$res->header('WWW-Authenticate')],
         ['Bearer realm="dpop"',
          'DPoP realm="dpop", algs="RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA"'],
         'optional: a Bearer and a DPoP challenge, with the proof algorithms');
$res = GET '/dpop/required/env', Authorization => "Bearer $plain";
ok t_cmp([$res->code, [$res->header('WWW-Authenticate')]],
         [401, ['DPoP realm="dpop", algs="ES256 EdDSA", error="invalid_token", '
                . 'error_description="this resource accepts DPoP-bound tokens only"']],
         'required: a Bearer token is refused, the challenge is DPoP alone');
my $rurl = "$base/dpop/required/env";
ok t_cmp(answer(get_with('/dpop/required/env', 'DPoP', $token,
                         dpop_proof(key => $client, htu => $rurl, token => $token))),
         [200, 'dpopper'], 'required: a bound token with its proof is granted');
my $ps = OAuth2Test::new_key_of('rsa');
ok t_cmp(answer(get_with('/dpop/required/env', 'DPoP', bound('ps', jkt_of($ps)),
                         dpop_proof(key => $ps, alg => 'PS256', htu => $rurl,
                                    token => bound('ps', jkt_of($ps))))),
         [401, 'invalid_dpop_proof', 'proof algorithm not allowed'],
         'a proof algorithm outside AuthOAuth2DPoPAlgorithms is refused');

# --- server nonces -------------------------------------------------------------
my $nurl = "$base/dpop/nonce/env";
$res = get_with('/dpop/nonce/env', 'DPoP', $token,
                dpop_proof(key => $client, htu => $nurl, token => $token));
my $nonce = $res->header('DPoP-Nonce');
ok t_cmp([answer($res), defined $nonce ? 'nonce' : 'none'],
         [[401, 'use_dpop_nonce', 'a DPoP nonce is required'], 'nonce'],
         'with AuthOAuth2DPoPNonce, a proof without a nonce gets use_dpop_nonce '
         . 'and a DPoP-Nonce');
$res = get_with('/dpop/nonce/env', 'DPoP', $token,
                dpop_proof(key => $client, htu => $nurl, token => $token,
                           nonce => $nonce));
ok t_cmp([answer($res), $res->header('DPoP-Nonce') ? 'nonce' : 'none'],
         [[200, 'dpopper'], 'nonce'],
         'the proof made again with that nonce is granted (and a nonce comes along)');
ok t_cmp(answer(get_with('/dpop/nonce/env', 'DPoP', $token,
                         dpop_proof(key => $client, htu => $nurl, token => $token,
                                    nonce => 'A' x 32))),
         [401, 'use_dpop_nonce', 'the DPoP nonce is not current'],
         'a made-up nonce is refused with a fresh one');

# --- behind a proxy: the URL the client saw ----------------------------------------
ok t_cmp(answer(get_with('/dpop/external/env', 'DPoP', $token,
                         dpop_proof(key => $client,
                                    htu => 'https://api.example.test/dpop/external/env',
                                    token => $token))),
         [200, 'dpopper'], 'AuthOAuth2ExternalURL: the proof names the external URL');

# --- a binding from an introspection answer -----------------------------------------
my $dir = tempdir(CLEANUP => 1);
mkdir "$dir/endpoint";
my ($ep_pid, $ep_port) = start_endpoint("$dir/endpoint");
my $node = start_api_node("$dir/node",
    ours => [[authn_oauth2 => 'modules/oauth2/.libs/mod_authn_oauth2.so']],
    location => join("\n", '    AuthChain oauth2',
                     "    AuthOAuth2Introspect http://127.0.0.1:$ep_port/introspect",
                     '    AuthOAuth2DPoP optional'));
END { stop_httpd($node->{conf}) if $node; stop_endpoint($ep_pid) }
my $opaque = 'opaque-dpop-token-1';
endpoint_write("$dir/endpoint", 'introspect.json',
               json({ $opaque => { active => JSON::PP::true(), sub => 'intro',
                                   token_type => 'DPoP', cnf => { jkt => $jkt },
                                   exp => time + 300 } }));
my $ua = LWP::UserAgent->new(timeout => 10);
my $nodeurl = "http://127.0.0.1:$node->{port}/api/";
$res = $ua->get($nodeurl, Authorization => "DPoP $opaque",
                DPoP => dpop_proof(key => $client, htu => $nodeurl, token => $opaque));
ok t_cmp($res->code, 200, 'an introspected token bound by cnf.jkt is granted with its proof')
    or print map { "# $_\n" } grep { /oauth2|AC0/ } split /\n/,
        do { local $/; open my $fh, '<', $node->{log}; <$fh> // '' };
$res = $ua->get($nodeurl, Authorization => "Bearer $opaque");
ok t_cmp([$res->code, (bearer_params($res) // {})->{error_description}],
         [401, 'a DPoP-bound token presented as Bearer'],
         'and refused as Bearer');
