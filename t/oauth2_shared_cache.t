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
my $db = "host=$ENV{AUTHCHAIN_PGHOST} port=$ENV{AUTHCHAIN_PGPORT} "
       . "dbname=$ENV{AUTHCHAIN_PGDATABASE} user=$ENV{AUTHCHAIN_PGUSER}";
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
    my @ports;
    for my $n (1, 2) {
        my $ndir = "$dir/$kind$n";
        mkdir $ndir;
        mkdir "$ndir/api";
        open my $fh, '>', "$ndir/api/index.html" or die;
        print $fh "ok\n";
        close $fh;
        my $port = free_port();
        my $conf = "$ndir/httpd.conf";
        open $fh, '>', $conf or die "$conf: $!";
        print $fh httpd_config(
            dir => $ndir, port => $port,
            stock => [qw(mpm_event authn_core authz_core authz_user dir
                         socache_shmcb), "socache_$kind"],
            ours => [[auth_chain => 'modules/chain/.libs/mod_auth_chain.so'],
                     [authn_oauth2 =>
                      'modules/oauth2/.libs/mod_authn_oauth2.so']],
            body => <<EOC);
DirectoryIndex index.html
AuthOAuth2Cache $kind:127.0.0.1:$cache_port
<Location /api>
    AuthType Chain
    AuthName "api"
    AuthChain oauth2
    AuthOAuth2DB "$db"
    AuthOAuth2CacheTTL 30
    Require valid-user
</Location>
EOC
        close $fh;
        start_httpd($conf, $port);
        push @confs, $conf;
        push @ports, $port;
    }
    my ($a, $b) = @ports;

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
