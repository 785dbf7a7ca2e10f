# The token cache on a shared socache (redis, memcache): two httpd nodes
# on one database and one cache server see each other's answers, so a key
# verified by one node is served by the other from the cache, and, without
# the revocation listener (AuthTokenRevocationListen Off), a revocation
# reaches both within AuthTokenCacheTTL.  (With it: t/token_revocation.t.)
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test;
use Apache::TestUtil;
use File::Temp qw(tempdir);
use LWP::UserAgent;
use Time::HiRes qw(sleep);
use ChainTest;

plan tests => 2 * 6;

my $ua = LWP::UserAgent->new(timeout => 10);
my $dir = tempdir(CLEANUP => 1);

sub status_of {
    my ($port, $key) = @_;
    return $ua->get("http://127.0.0.1:$port/api/",
                    Authorization => "Token $key")->code;
}

for my $kind (qw(redis memcache)) {
    my ($cache_pid, $cache_port) = start_cache_server($kind, $dir);
    my @nodes;
    for my $n (1, 2) {
        push @nodes, start_token_node(
            "$dir/$kind$n", cache => "$kind:127.0.0.1:$cache_port",
            server => 'AuthTokenRevocationListen Off');
    }
    my ($a, $b) = map { $_->{port} } @nodes;

    my $key = new_key("shared$kind");
    ok t_cmp(status_of($a, $key), 200, "$kind: node 1 verifies a new key");
    token_cli('revoke', '--user', "shared$kind");
    ok t_cmp(status_of($b, $key), 200,
             "$kind: node 2 serves node 1's verdict from the shared cache "
             . "(the database already says revoked)");
    ok t_cmp(status_of($a, $key), 200,
             "$kind: within the TTL both nodes keep the cached verdict");

    my $other = new_key("sharedb$kind");
    token_cli('revoke', '--user', "sharedb$kind");
    ok t_cmp(status_of($b, $other), 401,
             "$kind: a key revoked before its first use is refused");
    my $fresh = new_key("sharedc$kind");
    ok t_cmp([status_of($b, $fresh), status_of($a, $fresh)], [200, 200],
             "$kind: a key verified by node 2 works on node 1");
    ok t_cmp(cache_items($kind, $cache_port) >= 3, 1,
             "$kind: the verdicts are stored in the $kind server");

    stop_httpd($_->{conf}) for @nodes;
    kill 'TERM', $cache_pid;
    waitpid $cache_pid, 0;
}
