# AuthChainAuditLog: one JSON line per request that the chain
# authenticated or refused, or that authorization refused; what
# identifies the credential, never a secret.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test;
use Apache::TestRequest;
use Apache::TestUtil;
use JSON::PP;
use MIME::Base64;
use Time::HiRes qw(sleep);
use ChainTest;

plan tests => 11;

my $log = Apache::Test::vars('serverroot') . '/logs/audit_log';

# The line of the request to $uri (written after the response: wait,
# unless $now).
sub line_of {
    my ($uri, $now) = @_;
    for (1 .. ($now ? 1 : 50)) {
        if (open my $fh, '<', $log) {
            for (<$fh>) {
                my $l = eval { decode_json($_) } or next;
                return $l if $l->{uri} eq $uri;
            }
        }
        sleep 0.1;
    }
    return undef;
}

# the members that say what happened
sub what {
    my $l = line_of(shift) or return 'no line';
    return join ' ', map { $_ . '=' . (ref $l->{$_} ? JSON::PP->new->canonical->encode($l->{$_})
                                      : $l->{$_} // 'null') }
        qw(status decision scheme user reason credential);
}

GET '/chain/audit1/env', 'X-Outcome' => 'granted:carol',
    'X-Outcome-Data' => '{"id":7,"name":"ci","jti":"j-1","password":"zzz","n":1.5}';
ok t_cmp(what('/chain/audit1/env'),
         'status=200 decision=granted scheme=outcome user=carol reason=null '
         . 'credential={"id":7,"jti":"j-1","name":"ci"}',
         'granted: scheme, user and what names the credential, nothing else');
my $l = line_of('/chain/audit1/env');
ok t_cmp([$l->{method}, $l->{client}, $l->{time}],
         ['GET', qr/^(127\.0\.0\.1|::1)$/, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/],
         'with the method, the client address and the time (UTC)');

GET '/chain/audit2/env', 'X-Outcome' => 'denied';
ok t_cmp(what('/chain/audit2/env'),
         'status=401 decision=denied scheme=outcome user=null '
         . 'reason=The outcome "denied" was asked for. credential=null',
         'refused credentials: the scheme and its reason');

GET '/chain/audit3/env', Authorization => basic('alice', 's3cret-pw');
ok t_cmp(what('/chain/audit3/env'),
         'status=401 decision=denied scheme=basic user=null '
         . 'reason=Invalid username/password. credential=null',
         'a wrong Basic password');

GET '/chain/audit4/env', 'X-Outcome' => 'forbidden';
ok t_cmp(what('/chain/audit4/env'),
         'status=403 decision=forbidden scheme=outcome user=null '
         . 'reason=CSRF Failed: outcome forbidden credential=null',
         'a refused request');

GET '/chain/audit5/env', 'X-Outcome' => 'unavailable';
ok t_cmp(what('/chain/audit5/env'), qr/^status=503 decision=unavailable scheme=outcome /,
         'a store that cannot answer');

GET '/chain/audit6/env';
ok t_cmp(what('/chain/audit6/env'),
         'status=401 decision=anonymous scheme=null user=null reason=null credential=null',
         'no credentials where a user is needed');

GET '/byscope/audit7/env', 'X-Outcome' => 'granted:dave', 'X-Outcome-Scopes' => 'read';
ok t_cmp(what('/byscope/audit7/env'),
         'status=403 decision=granted scheme=outcome user=dave reason=null credential={}',
         'authenticated, refused by Require: granted, status 403');

GET '/pub/audit8/env';
GET '/chain/audit9/env', 'X-Outcome' => 'granted:erin';
line_of('/chain/audit9/env');     # written after the one before it
ok t_cmp(line_of('/pub/audit8/env', 'now') ? 'a line' : 'none', 'none',
         'an anonymous request that is let in: no line');

my $all = do { local (@ARGV, $/) = ($log); <> };
my $b64 = encode_base64('alice:s3cret-pw', '');
ok t_cmp([$all =~ /s3cret-pw|\Q$b64\E|zzz/ ? 'secret' : 'clean'], ['clean'],
         'no password, no Authorization header, no other data member');
ok t_cmp(scalar(grep { !eval { decode_json($_); 1 } } split /\n/, $all), 0,
         'every line is one JSON object');
