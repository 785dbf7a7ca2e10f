# Sessions that must not authenticate: a tampered or forged cookie, an
# expired session replayed, and a plain cookie store that only an
# .htaccess file configures.  Each is "no session" (the next scheme, or
# 401), never a user.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test;
use Apache::TestUtil;
use Time::HiRes qw(sleep);
use ChainTest;

plan tests => 11;

my $ua = browser();
form_login($ua, url_of('/session/login'), 'alice', 'secret');
my $cookie = cookie_value($ua, 'session');
my $res = browser()->get(url_of('/session/only/env'), Cookie => "session=$cookie");
ok t_cmp(identity($res)->{REMOTE_USER}, 'alice', 'the intact cookie authenticates');

# flip one character in the middle of the encrypted payload
my $i = int(length($cookie) / 2);
my $tampered = $cookie;
substr($tampered, $i, 1) = substr($cookie, $i, 1) eq 'A' ? 'B' : 'A';
my $mark = error_log_size();
$res = browser()->get(url_of('/session/only/env'), Cookie => "session=$tampered");
ok t_cmp([$res->code, $res->content =~ /REMOTE_USER=/ ? 1 : 0], [401, 0],
         'a tampered session cookie is no session: 401, no user');
my $log = error_log_since($mark);
ok t_cmp([$log =~ /scheme session declined/ ? 1 : 0, $log =~ /scheme session granted/ ? 1 : 0],
         [1, 0], 'mod_session could not decode it and the scheme declined');
$res = browser()->post(url_of('/session/api/env'), Cookie => "session=$tampered",
                       Authorization => basic('alice', 'secret'));
ok t_cmp([$res->code, identity($res)->{AUTH_TYPE}], [200, 'Basic'],
         'with a tampered cookie the chain goes on to the next scheme (no CSRF asked)');

$res = browser()->get(url_of('/session/only/env'), Cookie => 'session=app-user=alice');
ok t_cmp($res->code, 401, 'a forged plaintext cookie is no session where sessions are encrypted');
$res = browser()->get(url_of('/session/only/env'),
                      Cookie => 'session=' . substr($cookie, 0, 20));
ok t_cmp($res->code, 401, 'a truncated cookie is no session');

# expiry (SessionMaxAge 2): the cookie replayed after it expired
my $exp = browser();
form_login($exp, url_of('/sessexp/login'), 'alice', 'secret');
my $old = cookie_value($exp, 'sessexp');
$res = browser()->get(url_of('/sessexp/api/env'), Cookie => "sessexp=$old");
ok t_cmp([$res->code, identity($res)->{AUTH_CHAIN_DATA}],
         [200, qr/^\{"scheme":"session","expires":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"\}$/],
         'a fresh session authenticates, its expiry in the auth data');
sleep 3;
$mark = error_log_size();
$res = browser()->get(url_of('/sessexp/api/env'), Cookie => "sessexp=$old");
ok t_cmp($res->code, 401, 'the same cookie replayed after SessionMaxAge is no session');
ok t_cmp(error_log_since($mark), qr/scheme session declined/,
         'the scheme declined the expired session');

# a plain cookie store set by .htaccess (t/htdocs/sessplain/.htaccess)
$mark = error_log_size();
$res = browser()->get(url_of('/sessplain/index.html'), Cookie => 'plain=plain-user=admin');
ok t_cmp($res->code, 401, 'a plain cookie store configured in .htaccess is not trusted');
ok t_cmp(error_log_since($mark),
         qr/AC0403: session: not trusting the session of \/sessplain\/index.html, a plain cookie \(SessionCookieName at .*\.htaccess:\d+\)/,
         'the log names the .htaccess line and what to do');
