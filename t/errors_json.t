# AuthChainErrorFormat json: 401, 403, 429 and 503 answered with Django
# REST framework's {"detail": "..."} and its texts, challenges unchanged.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test;
use Apache::TestRequest;
use Apache::TestUtil;
use ChainTest;

plan tests => 16;

# status, Content-Type and body of one answer, as one string
sub answer {
    my $res = shift;
    return join ' ', $res->code, scalar($res->header('Content-Type')) // '-',
        $res->content;
}

my $res = GET '/jsonerr/env';
ok t_cmp(answer($res),
         '401 application/json {"detail":"Authentication credentials were not provided."}',
         'no credentials: NotAuthenticated (and not the ErrorDocument)');
ok t_cmp(challenges($res), ['Outcome realm="jsonerr"', 'Basic realm="jsonerr"'],
         'the challenges are those of an HTML answer');

$res = GET '/jsonerr/env', 'X-Outcome' => 'denied';
ok t_cmp(answer($res),
         '401 application/json {"detail":"The outcome \"denied\" was asked for."}',
         'refused credentials: the scheme\'s reason, JSON-escaped');

$res = GET '/jsonerr/env', Authorization => basic('alice', 'nope');
ok t_cmp(answer($res),
         '401 application/json {"detail":"Invalid username/password."}',
         'a Basic refusal: DRF\'s text');

$res = GET '/jsonerr/env', 'X-Outcome' => 'forbidden';
ok t_cmp(answer($res),
         '403 application/json {"detail":"CSRF Failed: outcome forbidden"}',
         'a refused request (CSRF): the scheme\'s reason');

$res = GET '/jsonerr/env', 'X-Outcome' => 'granted:carol';
ok t_cmp(answer($res),
         '403 application/json {"detail":"You do not have permission to perform this action."}',
         'authenticated, refused by Require: PermissionDenied (and not '
         . 'the ErrorDocument that is a local URL)');
ok t_cmp(challenges($res),
         ['Outcome error="insufficient_scope", scope="read"'],
         'the insufficient_scope challenge is still there');

$res = GET '/jsonerr/env', 'X-Outcome' => 'granted:carol',
    'X-Outcome-Scopes' => 'read';
ok t_cmp($res->code . ' ' . ($res->content =~ /^REMOTE_USER=carol$/m ? 'carol' : ''),
         '200 carol', 'granted: the backend answers, untouched');

$res = GET '/jsonerr/env', 'X-Outcome' => 'unavailable';
ok t_cmp(answer($res),
         '503 application/json {"detail":"Service temporarily unavailable, try again later."}',
         'a store that cannot answer: ServiceUnavailable');
ok t_cmp($res->header('Retry-After'), qr/^\d+$/, 'with its Retry-After');

$res = GET '/jsonerr/throttled/env', 'X-Outcome' => 'granted:carol',
    'X-Outcome-Scopes' => 'read';
ok t_cmp(answer($res),
         '429 application/json {"detail":"Request was throttled."}',
         '429 without Retry-After: Throttled without a wait');

my @throttled = map { GET '/jsonerr/throttle/env', 'X-Outcome' => 'granted:rita',
                          'X-Outcome-Scopes' => 'read' } 1 .. 2;
ok t_cmp(answer($throttled[1]),
         qr/^429 application\/json \{"detail":"Request was throttled\. Expected available in (5\d|60) seconds\."\}$/,
         'AuthChainThrottle user 1/min: Throttled with the wait');
my $after = $throttled[1]->header('Retry-After') // 'none';
ok t_cmp($throttled[1]->content, qr/ in \Q$after\E seconds/,
         'the wait of the detail is the Retry-After');

$res = HEAD '/jsonerr/env';
ok t_cmp($res->code . ' ' . length($res->content), '401 0',
         'HEAD: the status, no body');

$res = GET '/jsonerr/html/env';
ok t_cmp($res->code . ' ' . $res->content, '401 an HTML page that the JSON replaces',
         'AuthChainErrorFormat html in a nested section: the ErrorDocument again');

$res = GET '/chain/env';
ok t_cmp(scalar($res->header('Content-Type')) // '', qr{^text/html},
         'the default stays httpd\'s HTML page');
