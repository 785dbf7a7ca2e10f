# The token scheme where features compose (SECURITY.md, "Fixed"):
#  - a scheme first asked in a subrequest (an SSI page outside any chain
#    location includes a protected URL; mod_rewrite's look-ahead): the
#    last_used write scheduled there runs after the response, when the
#    subrequest's memory is gone (MaxMemFree 1 in t/conf/extra.conf.in
#    makes a use of it an ASan report);
#  - two locations reading one key through one cache with different
#    AuthTokenCacheTTL: each TTL holds where the answer is read;
#  - a <Location> that inherits its AuthTokenDB and reads it with the
#    native schema, where the server reads it with DRF's: its database is
#    listened to, so a revoked key is refused at once;
#  - expiries beyond what a timestamp in microseconds holds, and
#    PostgreSQL's infinity.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test;
use Apache::TestRequest;
use Apache::TestUtil;
use File::Temp qw(tempdir);
use LWP::UserAgent;
use Time::HiRes qw(time sleep);
use ChainTest;

plan tests => 13;

# (status, REMOTE_USER or error_description) of a GET with the key
sub answer {
    my ($url, $key) = @_;
    my $res = GET $url, Authorization => "Token $key";
    return [$res->code, $res->code == 200 ? identity($res)->{REMOTE_USER}
            : (($res->header('WWW-Authenticate') // '')
               =~ /error_description="([^"]*)"/)[0] // ''];
}

# Whether the key of $user was used within the last minute, as its row
# says once the write after the response is done ('t' or 'f').
sub touched {
    my ($user) = @_;
    my $fresh = 'f';
    for (1 .. 30) {
        $fresh = psql("SELECT last_used > now() - interval '1 minute'"
                      . " FROM authchain_token WHERE user_name = '$user'");
        last if $fresh eq 't';
        sleep 0.1;
    }
    return $fresh;
}

# --- last_used scheduled in a subrequest -------------------------------------
my $mark = error_log_size();
my $key = new_key('composetouch');
psql("UPDATE authchain_token SET last_used = now() - interval '1 day'"
     . " WHERE user_name = 'composetouch'");
my $res = GET '/compose/touch.shtml', Authorization => "Token $key";
ok t_cmp([$res->code, $res->content =~ /^REMOTE_USER=composetouch$/m ? 1 : 0],
         [200, 1], 'an SSI page outside the chain includes a token-protected URL');
ok t_cmp(touched('composetouch'), 't',
         'last_used, scheduled in the subrequest, is written after the response');
$key = new_key('composelookahead');
psql("UPDATE authchain_token SET last_used = now() - interval '1 day'"
     . " WHERE user_name = 'composelookahead'");
{
    local $Apache::TestRequest::Module = 'compose_lookahead';
    $res = GET '/compose/tok/env', Authorization => "Token $key";
}
ok t_cmp([$res->code, identity($res)->{REMOTE_USER}], [200, 'composelookahead'],
         'a key first judged in the look-ahead subrequest of RewriteCond '
         . '%{LA-U:REMOTE_USER}, then cached for the request itself');
ok t_cmp(touched('composelookahead'), 't',
         'last_used, scheduled in that subrequest, is written after the response');
my $log = error_log_since($mark);
ok t_cmp($log =~ /exit signal|AddressSanitizer|runtime error|last_used\)[^\n]*(?:error|failed)/
         ? 'trouble' : 'clean', 'clean',
         'no child died and no write failed');

# --- the reading location's TTL ----------------------------------------------
psql(q{DELETE FROM authtoken_token WHERE user_id = 1401;
       DELETE FROM auth_user WHERE id = 1401;
       INSERT INTO auth_user (id, password, is_superuser, username, first_name,
       last_name, email, is_staff, is_active, date_joined) VALUES
       (1401, '!', false, 'composettl', '', '', '', false, true, now());
       INSERT INTO authtoken_token VALUES
       ('c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00', now(), 1401)});
my $drf = 'c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00';
ok t_cmp(answer('/compose/drf/env', $drf), [200, 'composettl'],
         'a DRF key is granted and cached for an hour (AuthTokenCacheTTL 3600)');
psql('DELETE FROM authtoken_token WHERE user_id = 1401');
sleep 1.3;
ok t_cmp(answer('/compose/drf/short/env', $drf), [401, 'Invalid token.'],
         'where AuthTokenCacheTTL is 1, the hour-old answer is not used '
         . 'once it is older than 1 s: the deleted key is refused');

# --- an inherited AuthTokenDB read with the native schema ----------------------
my $dir = tempdir(CLEANUP => 1);
my $node = start_api_node("$dir/inherit",
    ours => [[authn_token => 'modules/token/.libs/mod_authn_token.so']],
    server => join("\n", 'AuthTokenDB "' . test_db() . '"',
                   'AuthTokenSchema drf'),
    location => join("\n", '    AuthChain token', '    AuthTokenSchema native',
                     '    AuthTokenCacheTTL 300'));
END { stop_httpd($node->{conf}) if $node }
my $ua = LWP::UserAgent->new(timeout => 10);
my $url = "http://127.0.0.1:$node->{port}/api/";
my $listening = 0;
for (1 .. 150) {
    open my $fh, '<', $node->{log} or last;
    local $/;
    $listening = 1 if <$fh> =~ /AuthTokenRevocationListen[^\n]*: listening/;
    last if $listening;
    sleep 0.1;
}
ok t_cmp($listening, 1, 'a Location that inherits AuthTokenDB and reads it '
         . 'with the native schema gets a revocation listener');
$key = new_key('composeinherit');
my @codes = map { $ua->get($url, Authorization => "Token $key")->code } 1, 2;
ok t_cmp("@codes", '200 200', 'its key is granted (and cached, TTL 300)');
token_cli('revoke', '--user', 'composeinherit');
my ($t0, $code) = (time, 200);
while (time - $t0 < 3) {
    $code = $ua->get($url, Authorization => "Token $key")->code;
    last if $code == 401;
    sleep 0.02;
}
my $took = time - $t0;
ok t_cmp($code == 401 && $took < 1 ? 'refused in time' : "$code after "
         . sprintf('%.2f s', $took), 'refused in time',
         'a revoked key is refused there within 1 s, though TTL is 300');

# --- far-future expiries -----------------------------------------------------------
my %far;
for my $when ('294276-12-31 23:59:59+00', 'infinity', '-infinity') {
    my $user = 'composefar' . (keys %far);
    $far{$when} = [$user, new_key($user)];
    psql("UPDATE authchain_token SET expires = '$when'"
         . " WHERE user_name = '$user'");
}
my @seen = map { my $r = GET '/compose/far/env',
                     Authorization => "Token $far{'294276-12-31 23:59:59+00'}[1]";
                 [$r->code, identity($r)->{AUTH_CHAIN_DATA}] } 1, 2;
ok t_cmp([map { "$_->[0] " . ($_->[1] =~ /"expires":("[^"]*"|null)/)[0] } @seen],
         ['200 "9999-12-31T23:59:59Z"', '200 "9999-12-31T23:59:59Z"'],
         'a key expiring in the year 294276 is granted, uncached and cached, '
         . 'its expiry shown as the last second of 9999');
$res = GET '/compose/far/env', Authorization => "Token $far{infinity}[1]";
ok t_cmp([$res->code, (identity($res)->{AUTH_CHAIN_DATA} // '') =~ /"expires":null/ ? 'never' : 'a date'],
         [200, 'never'], 'a key expiring at infinity never expires');
ok t_cmp(answer('/compose/far/env', $far{'-infinity'}[1]), [401, 'Token expired.'],
         'a key expiring at -infinity has expired');
