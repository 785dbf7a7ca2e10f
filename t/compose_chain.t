# The chain's answer across internal redirects, error documents and
# subrequests (SECURITY.md, "Fixed"): reused where the next location
# configures the scheme as the first did, asked again where it configures
# it otherwise (another audience here), so that a looser location's
# answer never opens a stricter one; and the claims of the oauth2 scheme
# reach the backend wherever the scheme was first asked.  A scheme built
# against version 1 of mod_auth_chain.h (no settings) still works.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test;
use Apache::TestRequest;
use Apache::TestUtil;
use ChainTest;
use OAuth2Test;

plan tests => 10;

my $token = mint(claims => { sub => 'composer' });      # aud api://authchain
my $admin = mint(claims => { sub => 'boss', aud => 'admin' });

sub get { return GET $_[0], Authorization => "Bearer $_[1]" }

my $res = get('/compose/anyaud/redirect?/compose/admin/env', $token);
ok t_cmp([$res->code, identity($res)->{REMOTE_USER} // '(none)'],
         [401, '(none)'],
         'an internal redirect into a location that wants another audience '
         . 'asks the scheme again: 401');
$res = get('/compose/anyaud/nothing-here', $token);
ok t_cmp($res->content =~ /REMOTE_USER=composer/ ? 'served' : 'not served',
         'not served',
         'an ErrorDocument in such a location is not served on the earlier answer');
$res = get('/compose/anyaud/page.shtml', $token);
ok t_cmp($res->content =~ /REMOTE_USER=composer/ ? 'included' : 'not included',
         'not included', 'nor is an SSI include of such a location');
$res = get('/compose/anyaud/redirect?/compose/admin/env', $admin);
ok t_cmp([$res->code, identity($res)->{REMOTE_USER}], [200, 'boss'],
         'a token for that audience is granted after the redirect');

my $mark = error_log_size();
$res = get('/compose/anyaud/redirect?/compose/anyaud2/env', $token);
ok t_cmp([$res->code, identity($res)->{REMOTE_USER}], [200, 'composer'],
         'an internal redirect between locations that configure the scheme alike');
my $asked = () = error_log_since($mark) =~ /scheme oauth2 granted the request/g;
ok t_cmp($asked, 1, 'reuses the answer: the scheme was asked once');

$res = get('/compose/redirect?/compose/anyaud/env', $token);
my $env = identity($res);
ok t_cmp([$res->code, $env->{REMOTE_USER}, $env->{OAUTH2_CLAIM_sub}],
         [200, 'composer', 'composer'],
         'the claims reach the backend when the scheme is first asked after '
         . 'an internal redirect');
$res = get('/compose/claims.shtml', $token);
ok t_cmp($res->content =~ /^OAUTH2_CLAIM_sub=composer$/m ? 'claims' : 'no claims',
         'claims',
         'and when it is first asked in a subrequest');

$res = GET '/compose/v1/redirect?/compose/v1b/env', 'X-Outcome' => 'granted:old';
$env = identity($res);
ok t_cmp([$res->code, $env->{REMOTE_USER}], [200, 'old'],
         'a scheme built against version 1 of mod_auth_chain.h still works');
ok t_cmp($res->header('X-Outcome-Calls'), 1,
         'and, having no settings, is asked once across an internal redirect');
