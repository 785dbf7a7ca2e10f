# t/00_harness.t -- the test harness itself: httpd answers and our modules
# are loaded from the build tree.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestRequest qw(GET);
use Apache::TestUtil;

plan tests => 2;

my $res = GET '/public/';

ok t_cmp($res->code, 200, 'public location answers 200');

my @loaded = sort map { split /\s*,\s*/ } $res->header('X-AuthChain-Loaded');
ok t_cmp("@loaded", 'auth_chain authn_xuser',
         'mod_auth_chain and the example module are loaded');
