# The session scheme on HTTPS (as httpd sees it behind a TLS-terminating
# proxy: `ServerName https://...` in the virtual host session_tls): the
# CSRF cookie is Secure, and an unsafe request needs a same-origin Origin,
# or without one a same-origin https Referer, besides the token.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test;
use Apache::TestUtil;
use Apache::TestRequest ();
use ChainTest;

plan tests => 14;

my $ua = browser();
my $api = url_of('/session/api/env', 'session_tls');
my $origin = do {
    local $Apache::TestRequest::Module = 'session_tls';
    'https://' . Apache::TestRequest::hostport();
};

form_login($ua, url_of('/session/login', 'session_tls'), 'alice', 'secret');
my $session = cookie_value($ua, 'session');
my $res = $ua->get($api);
ok t_cmp([$res->code, identity($res)->{REMOTE_USER}], [200, 'alice'],
         'the session authenticates on the HTTPS host');
my $set = set_cookie_of($res, 'csrftoken');
ok t_cmp($set, qr/^csrftoken=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=31449600; SameSite=Lax; Secure$/,
         'on HTTPS the CSRF cookie is Secure');
my ($csrf) = $set =~ /^csrftoken=([^;]+)/;

# the browser would send the Secure cookie over https; LWP over http
# would not, so the cookies go by hand
sub post_with {
    my (%h) = @_;
    return browser()->post($api, Cookie => "session=$session; csrftoken=$csrf",
                           'X-CSRFToken' => $csrf, %h);
}
sub failed_with {
    my ($res, $reason, $name) = @_;
    ok t_cmp([$res->code, $res->content], [403, "CSRF Failed: $reason\n"], $name);
}

failed_with(post_with(), 'Referer checking failed - no Referer.',
            'without Origin or Referer an HTTPS POST is refused');
failed_with(post_with(Origin => 'https://evil.example'),
            'Origin checking failed - https://evil.example does not match any trusted origins.',
            'a cross-site Origin is refused');
$res = post_with(Origin => $origin);
ok t_cmp([$res->code, identity($res)->{REMOTE_USER}], [200, 'alice'],
         'the same Origin with the token is served');
(my $insecure = $origin) =~ s/^https/http/;
failed_with(post_with(Origin => $insecure),
            "Origin checking failed - $insecure does not match any trusted origins.",
            'an http Origin is not the https origin');
failed_with(post_with(Origin => 'null'),
            'Origin checking failed - null does not match any trusted origins.',
            'an opaque (null) Origin is refused');
$res = post_with(Origin => 'https://<script>x</script>');
ok t_cmp([$res->code, index($res->content, '<script>')], [403, -1],
         'markup in an Origin is never echoed into the 403');
failed_with(post_with(Referer => 'https://evil.example/page?secret=1'),
            'Referer checking failed - https://evil.example does not match any trusted origins.',
            'a cross-site Referer is refused, and only its origin is repeated');
failed_with(post_with(Referer => "$insecure/page"),
            'Referer checking failed - Referer is insecure while host is secure.',
            'an http Referer is refused');
failed_with(post_with(Referer => 'not a url'),
            'Referer checking failed - Referer is malformed.',
            'a malformed Referer is refused');
$res = post_with(Referer => "$origin/app/page");
ok t_cmp([$res->code, identity($res)->{REMOTE_USER}], [200, 'alice'],
         'a same-origin https Referer with the token is served');
failed_with(browser()->post($api, Cookie => "session=$session; csrftoken=$csrf",
                            Origin => $origin),
            'CSRF token missing.', 'the same origin still needs the token');
failed_with(post_with(Origin => $origin, 'X-CSRFToken' => 'y' x 43),
            'CSRF token incorrect.', 'and the right one');
