# The oauth2 cache on a shared socache (redis, memcache): two httpd nodes
# on one database and one cache server, so that a stored
# (django-oauth-toolkit) token verified by one node is served by the other
# from the cache, even once the row is gone from the database.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test;
use Apache::TestUtil;
use Crypt::PRNG ();
use File::Temp qw(tempdir);
use LWP::UserAgent;
use ChainTest;

plan tests => 2 * 4;

my $ua = LWP::UserAgent->new(timeout => 10);
my $dir = tempdir(CLEANUP => 1);
my (@confs, @caches);

END {
    stop_httpd($_) for @confs;
    for my $pid (@caches) {
        kill 'TERM', $pid;
        waitpid $pid, 0;
    }
}

psql(q{INSERT INTO auth_user (id, password, is_superuser, username, first_name,
       last_name, email, is_staff, is_active, date_joined) VALUES
       (601, '!', false, 'sharedbob', '', '', '', false, true, now())});
psql(q{INSERT INTO oauth2_provider_application (id, client_id, redirect_uris,
       client_type, authorization_grant_type, client_secret, name,
       skip_authorization, created, updated, user_id, algorithm,
       post_logout_redirect_uris, hash_client_secret, allowed_origins) VALUES
       (601, 'shared-client', '', 'confidential', 'password', 'x', 'shared',
        false, now(), now(), NULL, '', '', true, '')});

# A token stored as django-oauth-toolkit stores it.
sub store {
    my $token = Crypt::PRNG::random_string(30);
    psql("INSERT INTO oauth2_provider_accesstoken (token, token_checksum,
          expires, scope, application_id, user_id, created, updated)
          VALUES ('$token', encode(sha256('$token'::bytea), 'hex'),
          now() + interval '1 hour', 'read', 601, 601, now(), now())");
    return $token;
}

sub forget {
    my ($token) = @_;
    psql("DELETE FROM oauth2_provider_accesstoken WHERE token = '$token'");
}

sub status_of {
    my ($port, $token) = @_;
    return $ua->get("http://127.0.0.1:$port/api/",
                    Authorization => "Bearer $token")->code;
}

for my $kind (qw(redis memcache)) {
    my ($cache_pid, $cache_port) = start_cache_server($kind, $dir);
    push @caches, $cache_pid;
    my @nodes;
    for my $n (1, 2) {
        push @nodes, start_api_node("$dir/$kind$n", stock => ["socache_$kind"],
            ours => [[authn_oauth2
                      => 'modules/oauth2/.libs/mod_authn_oauth2.so']],
            server => "AuthOAuth2Cache $kind:127.0.0.1:$cache_port",
            location => join("\n", '    AuthChain oauth2',
                             '    AuthOAuth2DB "' . test_db() . '"',
                             '    AuthOAuth2CacheTTL 30'));
        push @confs, $nodes[-1]{conf};
    }
    my ($a, $b) = map { $_->{port} } @nodes;

    my $token = store();
    ok t_cmp(status_of($a, $token), 200, "$kind: node 1 verifies a stored token");
    forget($token);
    ok t_cmp(status_of($b, $token), 200,
             "$kind: node 2 serves node 1's verdict from the shared cache "
             . "(the row is already gone)");
    my $other = store();
    ok t_cmp(status_of($b, $other), 200, "$kind: node 2 verifies another");
    forget($other);
    ok t_cmp(status_of($a, $other), 200,
             "$kind: and node 1 serves it from the cache");
}
