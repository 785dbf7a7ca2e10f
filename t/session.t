# The session scheme: a browser logs in through a real mod_auth_form page
# and calls the API with its session cookie; unsafe methods must echo the
# CSRF cookie in X-CSRFToken.  (Cookie store, encrypted; AuthName "app".)
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test;
use Apache::TestUtil;
use ChainTest;

plan tests => 35;

my $ua = browser();
my $mark = error_log_size();

my $res = $ua->get(url_of('/session/login.html'));
ok t_cmp([$res->code, $res->content], [200, qr/name="httpd_password"/],
         'the login page is a mod_auth_form form');

$res = form_login($ua, url_of('/session/login'), 'alice', 'secret');
ok t_cmp([$res->code, $res->header('Location')],
         [302, qr{/session/welcome\.html$}],
         'mod_auth_form accepts the login and redirects');
ok t_cmp(defined cookie_value($ua, 'session'), 1,
         'and sets the session cookie');

$res = $ua->get(url_of('/session/api/env'));
my $env = identity($res);
ok t_cmp([$res->code, $env->{REMOTE_USER}], [200, 'alice'],
         'the session cookie authenticates its user on the API');
ok t_cmp([$env->{AUTH_TYPE}, $env->{AUTH_CHAIN_SCHEME}], ['Session', 'session'],
         'AUTH_TYPE is Session, the scheme session');
ok t_cmp($env->{AUTH_CHAIN_DATA}, '{"scheme":"session","expires":null,"keys":{}}',
         'the auth data: no expiry, and no listed key the session lacks');

my $csrf_header = set_cookie_of($res, 'csrftoken');
ok t_cmp($csrf_header, qr/^csrftoken=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=31449600; SameSite=Lax$/,
         'the response sets a 256-bit CSRF cookie: SameSite=Lax, not HttpOnly, not Secure on http');
my $csrf = cookie_value($ua, 'csrftoken');

$res = $ua->get(url_of('/session/api/env'));
ok t_cmp(set_cookie_of($res, 'csrftoken'), undef,
         'a request that carries the CSRF cookie gets no new one');

my $other = browser();
$other->get(url_of('/session/api/public/env'));
ok t_cmp(length(cookie_value($other, 'csrftoken') // '') == 43
         && cookie_value($other, 'csrftoken') ne $csrf, 1,
         'each browser gets its own CSRF token');

$res = $ua->post(url_of('/session/api/env'));
ok t_cmp([$res->code, $res->content], [403, "CSRF Failed: CSRF token missing.\n"],
         'POST with the session but without X-CSRFToken is 403');
$res = $ua->post(url_of('/session/api/env'), 'X-CSRFToken' => 'x' x 43);
ok t_cmp([$res->code, $res->content], [403, "CSRF Failed: CSRF token incorrect.\n"],
         'POST with a wrong X-CSRFToken is 403');
$res = $ua->post(url_of('/session/api/env'), 'X-CSRFToken' => substr($csrf, 0, 20));
ok t_cmp($res->content, "CSRF Failed: CSRF token incorrect.\n",
         'a truncated token is incorrect too');
$res = $ua->post(url_of('/session/api/env'), 'X-CSRFToken' => $csrf);
ok t_cmp([$res->code, identity($res)->{REMOTE_USER}], [200, 'alice'],
         'POST with the CSRF cookie echoed in X-CSRFToken is served');
for my $method (qw(PUT PATCH DELETE)) {
    my $req = HTTP::Request->new($method => url_of('/session/api/env'));
    $res = $ua->request($req);
    ok t_cmp($res->code, 403, "$method is unsafe: 403 without the token");
}

my $log = error_log_since($mark);
ok t_cmp($log, qr/scheme session forbade the request \(user 'alice'\): CSRF Failed: CSRF token missing\./,
         'the CSRF failure is logged with the user and the reason');
ok t_cmp(index($log, 'secret') + index($log, cookie_value($ua, 'session')), -2,
         'neither the password nor the session cookie reaches the error log');
ok t_cmp(logged_note('alice'), qr/^\{"scheme":"session","expires":null,"keys":\{\}\}$/,
         'the note holds no session payload (no app-pw, no app-site)');

# a browser with the session but without the CSRF cookie
my $bare = browser();
$bare->cookie_jar->set_cookie(0, 'session', cookie_value($ua, 'session'),
                              '/session', 'localhost.local');
$res = $bare->post(url_of('/session/api/env'), 'X-CSRFToken' => $csrf);
ok t_cmp([$res->code, $res->content], [403, "CSRF Failed: CSRF cookie not set.\n"],
         'a token in the header without the CSRF cookie is refused');
ok t_cmp(set_cookie_of($res, 'csrftoken'), qr/^csrftoken=/,
         'and the 403 sets a CSRF cookie for the next try');

# other schemes are never asked for a CSRF token
my $key = new_key('sesstoken');
$res = $ua->post(url_of('/session/api/env'), Authorization => "Token $key");
$env = identity($res);
ok t_cmp([$res->code, $env->{REMOTE_USER}, $env->{AUTH_TYPE}], [200, 'sesstoken', 'Token'],
         'token before session: a token POST with a live session cookie needs no CSRF token');
$res = browser()->post(url_of('/session/api/env'), Authorization => basic('alice', 'secret'));
ok t_cmp([$res->code, identity($res)->{AUTH_TYPE}], [200, 'Basic'],
         'a Basic POST needs no CSRF token');

# challenges: none of its own by default, one with AuthSessionChallenge
$res = browser()->get(url_of('/session/api/env'));
ok t_cmp([$res->code, challenges($res)], [401, ['Token realm="app"', 'Basic realm="app"']],
         'a 401 on the API carries the other schemes\' challenges, none for session');
ok t_cmp(set_cookie_of($res, 'csrftoken'), qr/^csrftoken=/,
         'even a 401 sets the CSRF cookie');
$res = browser()->get(url_of('/session/only/env'));
ok t_cmp([$res->code, challenges($res)], [401, []],
         'a session-only location answers 401 without a challenge by default');
$res = browser()->get(url_of('/session/challenged/env'));
ok t_cmp([$res->code, challenges($res)], [401, ['Session realm="app"']],
         'AuthSessionChallenge Session sends Session realm="<AuthName>"');

# a backend that sets the session through SessionHeader; exported keys
my $app = browser();
$res = $app->get(url_of('/session/backend.cgi'));
ok t_cmp($res->code, 200, 'the backend sets a session through SessionHeader');
$res = $app->get(url_of('/session/api/env'));
$env = identity($res);
ok t_cmp([$env->{REMOTE_USER}, $env->{AUTH_CHAIN_DATA}],
         ['bob', '{"scheme":"session","expires":null,"keys":{"role":"admin"}}'],
         'its user is authenticated and AuthSessionExportKeys exports role');
$res = $app->get(url_of('/session/api/custom/env'));
ok t_cmp([$res->code, identity($res)->{REMOTE_USER}], [200, 'carol'],
         'AuthSessionUserKey reads the user from another key');
my $xsrf = cookie_value($app, 'xsrf');
$res = $app->post(url_of('/session/api/custom/env'), 'X-CSRFToken' => $xsrf);
ok t_cmp($res->code, 403, 'AuthSessionCSRFHeader: X-CSRFToken is not the header there');
$res = $app->post(url_of('/session/api/custom/env'), 'X-XSRF-Token' => $xsrf);
ok t_cmp([$res->code, identity($res)->{REMOTE_USER}], [200, 'carol'],
         'the xsrf cookie echoed in X-XSRF-Token passes');

# logout
my $stale = cookie_value($ua, 'session');
$res = $ua->get(url_of('/session/logout'));
ok t_cmp($res->code, 307, 'mod_auth_form logs out');
$res = $ua->get(url_of('/session/api/env'));
ok t_cmp([$res->code, $res->header('WWW-Authenticate') ? 1 : 0], [401, 1],
         'after logout the API answers 401');
$res = browser()->post(url_of('/session/api/env'), Cookie => "session=$stale",
                       Authorization => "Token $key");
$env = identity($res);
ok t_cmp([$res->code, $env->{REMOTE_USER}, $env->{AUTH_TYPE}], [200, 'sesstoken', 'Token'],
         'a token POST carrying a stale session cookie is not asked for a CSRF token');
