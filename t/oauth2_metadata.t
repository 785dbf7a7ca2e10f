# RFC 9728: the metadata document of a protected resource, served at
# /.well-known/oauth-protected-resource<path> from the configuration, and
# resource_metadata in every challenge of the resource.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test;
use Apache::TestRequest;
use Apache::TestUtil;
use JSON::PP;
use ChainTest;
use OAuth2Test;

plan tests => 14;

my $base = 'http://' . Apache::TestRequest::hostport();
my $wk = '/.well-known/oauth-protected-resource';

sub doc {
    my $res = GET shift;
    return [$res->code, $res->code == 200
        ? (scalar($res->header('Content-Type')), JSON::PP->new->canonical
                ->encode(decode_json($res->content)))
        : ()];
}

ok t_cmp(doc("$wk/rsmeta"),
         [200, 'application/json', JSON::PP->new->canonical->encode({
             resource => "$base/rsmeta",
             authorization_servers => ['https://issuer.authchain.test'],
             scopes_supported => [qw(read write admin)],
             bearer_methods_supported => ['header'],
             tls_client_certificate_bound_access_tokens => JSON::PP::true,
         })],
         'the document of /rsmeta, member by member (scopes from its '
         . 'Require auth-scope lines, no keys)');
ok t_cmp(doc("$wk/rsmeta/dpop"),
         [200, 'application/json', JSON::PP->new->canonical->encode({
             resource => 'https://api.example.test/rsmeta/dpop',
             authorization_servers => ['https://issuer.authchain.test'],
             bearer_methods_supported => [qw(header body)],
             tls_client_certificate_bound_access_tokens => JSON::PP::true,
             dpop_signing_alg_values_supported => [qw(ES256 EdDSA)],
             dpop_bound_access_tokens_required => JSON::PP::true,
         })],
         'a resource of its own in a nested <Location /rsmeta/dpop/>: '
         . 'external URL, DPoP, the form body');

my $res = HEAD "$wk/rsmeta";
ok t_cmp([$res->code, length $res->content], [200, 0], 'HEAD: no body');
$res = POST "$wk/rsmeta", content => 'x';
ok t_cmp([$res->code, $res->header('Allow') // ''], [405, qr/GET/],
         'POST: 405, GET allowed');

ok t_cmp(doc($_)->[0], 404, "no document at $_")
    for ("$wk/rsmeta/items", "$wk/rsmeta/off", "$wk/rsmeta/./dpop",
         "$wk/rsmeta/", "$wk", "${wk}x/rsmeta");

# The document is public and made from the configuration alone: a
# credential sent with its request is not looked at (no scheme runs).
{
    my $from = error_log_size();
    my $res = GET "$wk/rsmeta", Authorization => 'Bearer not.a.token';
    my @ran = grep { /auth_chain|authn_oauth2/ } split /\n/, error_log_since($from);
    ok t_cmp([$res->code, scalar @ran, $ran[0] // ''], [200, 0, ''],
             'a metadata request with a credential: 200, and neither the '
             . 'chain nor the scheme looked at the credential');
}

$res = GET '/rsmeta/items/env';
ok t_cmp(challenges($res),
         ['Bearer realm="rsmeta", resource_metadata="' . "$base$wk/rsmeta\""],
         'a request without a token: the challenge points at the metadata, '
         . 'also below the resource');

$res = GET '/rsmeta/env', Authorization => 'Bearer ' . mint(claims => { scope => 'other' });
ok t_cmp(challenges($res),
         ['Bearer realm="rsmeta", resource_metadata="' . "$base$wk/rsmeta\""
          . ', error="insufficient_scope", scope="admin read"'],
         'the insufficient_scope challenge too');

$res = GET '/rsmeta/dpop/env', Authorization => 'Bearer ' . mint();
ok t_cmp(challenges($res),
         ['DPoP realm="rsmeta", resource_metadata='
          . "\"https://api.example.test$wk/rsmeta/dpop\", algs=\"ES256 EdDSA\", "
          . 'error="invalid_token", error_description="this resource accepts '
          . 'DPoP-bound tokens only"'],
         'the DPoP challenge, with the error attributes after it');
