# The session scheme over mod_session_dbd on the test PostgreSQL
# (t/sql/session_dbd.sql): the cookie holds only a random key, the session
# lives in the database, and the same login, CSRF and logout rules hold.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test;
use Apache::TestUtil;
use ChainTest;

plan tests => 10;

my $ua = browser();
my $res = form_login($ua, url_of('/sessdbd/login'), 'alice', 'secret');
my $key = cookie_value($ua, 'sessdbd') // '';
ok t_cmp([$res->code, $key], [302, qr/^[0-9a-f-]{36}$/],
         'the login stores the session in the database, the cookie holds its key');
ok t_cmp(psql("SELECT count(*) FROM session_dbd WHERE key = '$key'"), 1,
         'one row for that key');

$res = $ua->get(url_of('/sessdbd/api/env'));
my $env = identity($res);
ok t_cmp([$res->code, $env->{REMOTE_USER}, $env->{AUTH_TYPE}], [200, 'alice', 'Session'],
         'the database session authenticates its user');

$res = $ua->post(url_of('/sessdbd/api/env'));
ok t_cmp([$res->code, $res->content], [403, "CSRF Failed: CSRF token missing.\n"],
         'POST without the CSRF token is 403');
$res = $ua->post(url_of('/sessdbd/api/env'), 'X-CSRFToken' => cookie_value($ua, 'csrftoken'));
ok t_cmp([$res->code, identity($res)->{REMOTE_USER}], [200, 'alice'],
         'POST with the token is served');

$res = browser()->get(url_of('/sessdbd/api/env'),
                      Cookie => 'sessdbd=00000000-0000-0000-0000-000000000000');
ok t_cmp($res->code, 401, 'a key that is not in the database is no session');

# a second login, revoked on the server side
my $other = browser();
form_login($other, url_of('/sessdbd/login'), 'alice', 'secret');
my $okey = cookie_value($other, 'sessdbd') // '';
$res = $other->get(url_of('/sessdbd/api/env'));
ok t_cmp([identity($res)->{REMOTE_USER}, $okey ne $key], ['alice', 1], 'a second login is a second session');
psql("DELETE FROM session_dbd WHERE key = '$okey'");
$res = $other->get(url_of('/sessdbd/api/env'));
ok t_cmp($res->code, 401, 'a session deleted from the database no longer authenticates');

$res = $ua->get(url_of('/sessdbd/logout'));
ok t_cmp($res->code, 200, 'mod_auth_form logs out');
$res = $ua->get(url_of('/sessdbd/api/env'));
ok t_cmp($res->code, 401, 'after logout the API answers 401');
