# Hostile Authorization headers at the edge, sent over raw sockets (no
# client library in between to clean them up), against a chain of token,
# oauth2 and basic (/edge in t/conf/extra.conf.in): headers of 8 KB and
# more, NUL bytes, bytes that are not UTF-8, a million spaces, 10,000
# comma-separated challenges.  Each gets an answer within 2 s: httpd's own
# 400 where httpd's request limits or its strict header parsing refuse the
# request before any module runs, otherwise a 401 with one challenge per
# scheme and, where a scheme recognised its keyword, the reason.  Never a
# 500, a hang, a crashed child, or memory that grows with each request.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test;
use Apache::TestUtil;
use MIME::Base64 qw(encode_base64);
use ChainTest;

my $MB = 1_000_000;
my $path = '/edge/index.html';

# [name, Authorization value, the challenge (scheme) that carries the
# reason or undef, the reason (a string or a regex) or undef]
my @limited = (
    ['a 9 KB Token header', 'Token ' . ('a' x 9000)],
    ['a 1 MB header of spaces', ' ' x $MB],
    ['10,000 comma-separated Bearer challenges (70 KB)',
     join(',', ('Bearer') x 10_000)],
);
my @nul = (
    ['Token with a NUL byte', "Token act_abc\0def"],
    ['Bearer with a NUL byte', "Bearer abc\0def"],
    ['Basic with a NUL byte', "Basic YWxp\0Y2U6c2VjcmV0"],
);
my $bad_chars = 'Invalid token header. Token string should not contain invalid characters.';
my @reaching = (
    ['a 9 KB Token header', 'Token ' . ('a' x 9000), 'Token', $bad_chars],
    ['a 1 MB Token key', 'Token ' . ('a' x $MB), 'Token', $bad_chars],
    ['a 17 KB Bearer token', 'Bearer ' . ('a' x 17_000), 'Bearer',
     'malformed token: longer than 16384 characters'],
    ['a 1 MB Bearer token', 'Bearer ' . ('a' x $MB), 'Bearer',
     'malformed token: longer than 16384 characters'],
    ['9 KB of Basic credentials', 'Basic ' . ('QUFB' x 2250), 'Basic',
     'Invalid basic header. Credentials string is too long.'],
    ['a Token key that is not UTF-8', "Token act_\xff\xfe\xc3\x28abc", 'Token',
     $bad_chars],
    ['a Bearer token that is not UTF-8', "Bearer \xff\xfe\xc3\x28", 'Bearer',
     'malformed token: characters outside RFC 6750 b64token'],
    ['Basic credentials that are not UTF-8 (raw)', "Basic \xff\xfe\xc3\x28",
     'Basic', 'Invalid basic header. Credentials not correctly base64 encoded.'],
    ['Basic credentials that decode to non-UTF-8',
     'Basic ' . encode_base64("\xff\xfe:\xc3\x28", ''), 'Basic',
     'Invalid username/password.'],
    ['Token, a million spaces, a key', 'Token' . (' ' x $MB) . 'act_x',
     'Token', 'Invalid token.'],
    ['Token and a million spaces', 'Token' . (' ' x $MB), 'Token',
     'Invalid token header. No credentials provided.'],
    ['Basic, a million spaces, credentials',
     'Basic' . (' ' x $MB) . 'YWxpY2U6d3Jvbmc=', 'Basic',
     'Invalid username/password.'],
    ['a million spaces and nothing else', ' ' x $MB, undef, undef],
    ['10,000 comma-separated Bearer challenges', join(',', ('Bearer') x 10_000),
     undef, undef],
    ['10,000 comma-separated Token credentials',
     join(', ', map { "Token act_$_" } 1 .. 10_000), 'Token',
     'Invalid token header. Token string should not contain spaces.'],
    ['10,000 comma-separated Bearer credentials',
     join(', ', map { "Bearer t$_" } 1 .. 10_000), 'Bearer',
     'malformed request: the token contains spaces'],
    ['10,000 comma-separated Basic credentials',
     join(', ', map { 'Basic ' . encode_base64("u$_:p", '') } 1 .. 10_000),
     'Basic', 'Invalid basic header. Credentials string should not contain spaces.'],
);

plan tests => @limited + 1 + @nul + 1 + 2 * @reaching + 4;

my $log_from = error_log_size();
my $main = hostport_of();
my $big = hostport_of('edge_big');

sub request_with {
    my ($auth) = @_;
    return "GET $path HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
         . "Authorization: $auth\r\n\r\n";
}

# The challenge of scheme $scheme in a response, parsed: { scheme, params }.
sub challenge_of {
    my ($res, $scheme) = @_;
    for my $c (@{ $res->{headers}{'www-authenticate'} || [] }) {
        next unless $c =~ /^\Q$scheme\E\b/i;
        my %p;
        $p{lc $1} = $2 while $c =~ /(\w+)="((?:[^"\\]|\\.)*)"/g;
        return \%p;
    }
    return undef;
}

# --- httpd's own limits (main server, LimitRequestFieldSize 8190) -----------

for my $case (@limited) {
    my ($name, $auth) = @$case;
    my $res = raw_http($main, request_with($auth));
    ok t_cmp([$res->{status}, $res->{took} < 2 ? 'fast' : "$res->{took} s"],
             [400, 'fast'],
             "$name beyond LimitRequestFieldSize: httpd's 400, within 2 s");
}
{
    my $req = "GET $path HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
            . join('', map { "Authorization: Bearer t$_\r\n" } 1 .. 10_000)
            . "\r\n";
    my $res = raw_http($main, $req);
    ok t_cmp([$res->{status}, $res->{took} < 2 ? 'fast' : "$res->{took} s"],
             [400, 'fast'],
             '10,000 Authorization header lines beyond LimitRequestFields: '
             . "httpd's 400, within 2 s");
}

# --- NUL bytes: httpd's strict header parsing refuses them (400) -------------

for my $case (@nul) {
    my ($name, $auth) = @$case;
    my @got = map {
        my $res = raw_http($_, request_with($auth));
        ($res->{status} // 'none', $res->{took} < 2 ? 'fast' : 'slow');
    } $main, $big;
    ok t_cmp(\@got, [400, 'fast', 400, 'fast'],
             "$name: httpd's 400 before any module, on both hosts");
}

# --- headers that reach the schemes (edge_big: LimitRequestFieldSize 2 MB) --

{
    my $res = raw_http($big, request_with(basic('alice', 'secret')));
    ok t_cmp($res->{status}, 200, 'the edge location grants good credentials');
}

my $before = { map { $_ => rss_kb($_) } httpd_children() };
for my $round (1 .. 10) {
    for my $case (@reaching) {
        my ($name, $auth, $scheme, $reason) = @$case;
        my $res = raw_http($big, request_with($auth));
        next if $round > 1;     # the later rounds only load the server
        my @schemes = map { /^(\w+)/ ? $1 : $_ }
                      @{ $res->{headers}{'www-authenticate'} || [] };
        ok t_cmp([$res->{status}, $res->{took} < 2 ? 'fast' : "$res->{took} s",
                  @schemes],
                 [401, 'fast', qw(Token Bearer Basic)],
                 "$name: 401 within 2 s, a challenge per scheme");
        if (defined $scheme) {
            my $c = challenge_of($res, $scheme) || {};
            ok t_cmp($c->{error_description}, $reason,
                     "$name: the $scheme challenge says why");
        }
        else {
            ok t_cmp([grep { /error/ } @{ $res->{headers}{'www-authenticate'} || [] }],
                     [], "$name: no scheme's credentials, no error in the challenges");
        }
    }
}

# Memory: 10 rounds of these requests (about 10 MB of headers each) leave
# the child processes together less than 48 MB larger: a leak of the
# headers would be 100 MB.  The margin is httpd's: each worker thread's
# allocator keeps up to MaxMemFree (2 MB) of freed memory, and a few
# threads per child see these requests (measured here: 5 to 16 MB in all).
# Under AddressSanitizer (build/check's asan mode) freed memory sits in
# ASan's quarantine first, which the margin then includes (256 MB unless
# ASAN_OPTIONS says otherwise).
my $after = { map { $_ => rss_kb($_) } httpd_children() };
my $margin_mb = 48;
sub has_asan {
    my ($pid) = @_;
    open my $maps, '<', "/proc/$pid/maps" or return 0;
    return scalar grep { /libasan/ } <$maps>;
}
if (grep { has_asan($_) } keys %$after) {
    $margin_mb += ($ENV{ASAN_OPTIONS} // '') =~ /quarantine_size_mb=(\d+)/
                  ? $1 : 256;
}
my $grown_kb = 0;
$grown_kb += $after->{$_} - $before->{$_}
    for grep { defined $before->{$_} && defined $after->{$_} } keys %$after;
t_debug(join ' ', 'RSS kB before/after:',
             map { "$_:" . ($before->{$_} // '-') . '/' . ($after->{$_} // '-') }
             sort keys %$after);
ok t_cmp($grown_kb < $margin_mb * 1024 ? 'less' : "$grown_kb kB", 'less',
         "the child processes grew by less than $margin_mb MB in all");
ok t_cmp(scalar(grep { defined $before->{$_} } keys %$after) > 0, 1,
         '(some child process was measured before and after)');

my $res = raw_http($main, request_with(basic('alice', 'secret')));
ok t_cmp($res->{status}, 200, 'the server still answers good credentials');
my $log = error_log_since($log_from);
ok t_cmp([$log =~ /(exit signal|Segmentation fault|AH00052|AH00051)/g], [],
         'no httpd child crashed');
