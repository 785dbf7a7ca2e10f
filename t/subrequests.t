# Subrequests and internal redirects reuse the chain's answer: nothing is
# looked up twice for one client request.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test;
use Apache::TestRequest;
use Apache::TestUtil;
use ChainTest;

plan tests => 8;

my $res = GET '/ssi/page.shtml', 'X-Outcome' => 'granted:sub1',
    'X-Outcome-Scopes' => 'read';
ok t_cmp($res->code, 200, 'a page with two included subrequests is served');
my @calls = $res->content =~ /^OUTCOME_CALLS=(.*)$/mg;
ok t_cmp(\@calls, [1, 1],
         'the scheme was asked once for the page and both subrequests');
my @users = $res->content =~ /^REMOTE_USER=(.*)$/mg;
ok t_cmp(\@users, ['sub1', 'sub1'], 'each subrequest sees the user');
my @data = $res->content =~ /^AUTH_CHAIN_DATA=(.*)$/mg;
ok t_cmp(\@data, ['{"scheme":"outcome"}', '{"scheme":"outcome"}'],
         'each subrequest sees the auth data');

$res = GET '/ssi/page.shtml';
ok t_cmp($res->code, 401, 'the page itself still needs credentials');

$res = GET '/redir/go/redirect', 'X-Outcome' => 'granted:redir1',
    'X-Outcome-Scopes' => 'read';
my $env = identity($res);
ok t_cmp($env->{REMOTE_USER}, 'redir1',
         'an internal redirect keeps the user');
ok t_cmp([$env->{AUTH_CHAIN_SCHEME}, $env->{AUTH_CHAIN_SCOPES}],
         ['outcome', 'read'],
         'an internal redirect keeps the scheme and scopes');
ok t_cmp([$res->header('X-Outcome-Calls'), $env->{OUTCOME_CALLS},
          $env->{REDIRECT_OUTCOME_CALLS}], [1, '(unset)', 1],
         'the scheme was asked once across the internal redirect');
