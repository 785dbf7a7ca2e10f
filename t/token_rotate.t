# authchain-token rotate (Stripe's "roll"), against the test server's
# /token/cachedlong (AuthTokenCacheTTL 300): the new key works at once, the
# old one until the grace deadline and not after it (its cached grant
# included), list shows the old one rolling, revoking either key during the
# grace is instant, --grace 0 revokes the old key, --user rotates every
# active key of a user, and what cannot be rotated is refused (exit 1, or
# 2 for a usage error) with nothing changed.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test;
use Apache::TestUtil;
use Digest::SHA qw(sha256_hex);
use LWP::UserAgent;
use Time::HiRes qw(time sleep);
use ChainTest;

plan tests => 24;

my $ua = LWP::UserAgent->new(timeout => 10);
my $url = url_of('/token/cachedlong/env');
my $limit = 1.0;        # seconds: revocation is instant (issue 6)

# (status, error_description) of a request with the key.
sub answer {
    my ($key) = @_;
    my $res = $ua->get($url, Authorization => "Token $key");
    my ($desc) = ($res->header('WWW-Authenticate') // '')
        =~ /error_description="([^"]*)"/;
    return ($res->code, $desc // '');
}

sub codes { return [map { (answer($_))[0] } @_] }

# Poll until the key is refused: (seconds since $t0, reason), or undef
# after $timeout s.
sub refused_after {
    my ($key, $t0, $timeout) = @_;
    while (time - $t0 < $timeout) {
        my ($code, $desc) = answer($key);
        return (time - $t0, $desc) if $code == 401;
        sleep 0.02;
    }
    return (undef, 'still granted');
}

sub id_of {
    return psql("SELECT id FROM authchain_token WHERE key_hash = '"
                . sha256_hex($_[0]) . "'");
}

# The status column of `list USER`, by token id.
sub statuses {
    my ($rc, $out) = token_cli('list', @_);
    return { map { (split ' ')[0, -1] } grep { /^\d/ } split /\n/, $out };
}

# A key used once on /token/cachedlong: its grant is cached (no expiry).
sub cached_key {
    my $key = new_key(@_);
    die "the new key is not granted" if (answer($key))[0] != 200;
    return $key;
}

# The test server listens for revocations (it may still be backing off
# after the listener tests that ran before this file).
my $t = time;
sleep 0.1 while psql("SELECT count(*) FROM pg_stat_activity"
                     . " WHERE application_name = 'authchain-listener'") < 2
                && time - $t < 15;

# --- rotate ID: both keys work, the old one until the deadline --------------
my $old = cached_key('rotalice', '--name', 'ci', '--scope', 'read',
                     '--expires', '30d');
my $old_id = id_of($old);
my $t0 = time;
my ($rc, $out, $err) = token_cli('rotate', $old_id, '--grace', '2s');
ok t_cmp([$rc, $out], [0, qr/\Aact_[0-9A-Za-z]{49}\n\z/],
         'rotate prints exactly one line: the new key');
(my $new = $out) =~ s/\n\z//;
my $new_id = id_of($new);
ok t_cmp($err, qr/^authchain-token: rotated token $old_id of user 'rotalice' \(name 'ci'\) to token $new_id, expires \S+Z; token $old_id works until \S+Z$/m,
         'stderr names the old and the new token, the expiry and the deadline');
ok t_cmp(psql("SELECT n.user_name, n.name, n.scopes,"
              . " n.expires = o.created + interval '30 days', o.replaced_by = n.id,"
              . " o.expires > now() + interval '1 second'"
              . " AND o.expires <= now() + interval '3 seconds'"
              . " FROM authchain_token o, authchain_token n"
              . " WHERE o.id = $old_id AND n.id = $new_id"),
         'rotalice|ci|read|t|t|t',
         'the new token has the old one\'s user, name, scopes and expiry; the old one ends 2 s on');
ok t_cmp(codes($old, $new), [200, 200], 'both keys authenticate during the grace');
ok t_cmp(statuses('rotalice'), { $old_id => 'rolling', $new_id => 'active' },
         'list shows the old token rolling and the new one active');

# Poll: the old key is granted up to its deadline and refused from it on,
# though its grant was cached with AuthTokenCacheTTL 300 and no expiry.
my $deadline = psql("SELECT extract(epoch FROM expires) FROM authchain_token"
                    . " WHERE id = $old_id");
my ($last_ok, $first_refused, $reason) = (0, undef, '');
while (time - $t0 < 6) {
    my $before = time;
    my ($code, $desc) = answer($old);
    if ($code == 200) {
        $last_ok = $before;
    }
    else {
        ($first_refused, $reason) = (time, $desc);
        last;
    }
    sleep 0.05;
}
ok t_cmp([$reason, $last_ok < $deadline ? 'granted before' : 'granted after'],
         ['Token expired.', 'granted before'],
         'after the grace deadline the old key is refused (Token expired.)');
ok t_cmp(defined $first_refused && $first_refused - $deadline < $limit, 1,
         "and within $limit s of the deadline");
printf "# deadline %.3f; last grant %.3f s before it, refusal %.3f s after\n",
    $deadline, $deadline - $last_ok, ($first_refused // 0) - $deadline;
ok t_cmp([(answer($new))[0], statuses('rotalice')->{$old_id}], [200, 'expired'],
         'the new key still works; list shows the old one expired');

# --- what cannot be rotated --------------------------------------------------
($rc, $out, $err) = token_cli('rotate', $old_id, '--grace', '1h');
ok t_cmp([$rc, $out, $err], [1, '', qr/token $old_id expired at \S+Z: nothing rotated/],
         'an expired token is not rotated (exit 1)');

# --- revocation during the grace is instant, for either key -----------------
my $c_old = cached_key('rotcarol');
($rc, $out) = token_cli('rotate', id_of($c_old), '--grace', '1h');
(my $c_new = $out) =~ s/\n\z//;
my $c_old_id = id_of($c_old);
ok t_cmp(codes($c_old, $c_new), [200, 200], 'grace 1h: both keys work');
($rc, $out, $err) = token_cli('rotate', $c_old_id, '--grace', '1h');
ok t_cmp([$rc, $out, $err], [1, '', qr/token $c_old_id is already rolling: token \d+ replaced it/],
         'a rolling token is not rotated again (exit 1)');
token_cli('revoke', $c_old_id);
$t0 = time;             # from the command's commit (its start-up is no part of it)
my ($took, $why) = refused_after($c_old, $t0, 3);
ok t_cmp([$why, defined $took && $took < $limit, (answer($c_new))[0]],
         ['Token revoked.', 1, 200],
         "revoking the old key during the grace is instant (< $limit s), the new one works");
printf "# revocation of the rolling key: %.3f s\n", $took // -1;
($rc, $out, $err) = token_cli('rotate', $c_old_id, '--grace', '1h');
ok t_cmp([$rc, $err], [1, qr/token $c_old_id is revoked: nothing rotated/],
         'a revoked token is not rotated (exit 1)');

my $d_old = cached_key('rotdave');
($rc, $out) = token_cli('rotate', id_of($d_old), '--grace', '1h');
(my $d_new = $out) =~ s/\n\z//;
answer($d_new);         # cached too
token_cli('revoke', id_of($d_new));
$t0 = time;
($took, $why) = refused_after($d_new, $t0, 3);
ok t_cmp([$why, defined $took && $took < $limit, (answer($d_old))[0]],
         ['Token revoked.', 1, 200],
         "revoking the new key during the grace is instant, the old one works on");

# --- --grace 0 --------------------------------------------------------------
my $e_old = cached_key('roterin');
($rc, $out, $err) = token_cli('rotate', id_of($e_old), '--grace', '0');
$t0 = time;
(my $e_new = $out) =~ s/\n\z//;
($took, $why) = refused_after($e_old, $t0, 3);
ok t_cmp([$rc, $why, defined $took && $took < $limit, (answer($e_new))[0]],
         [0, 'Token revoked.', 1, 200],
         '--grace 0 revokes the old key at once; the new key works');
ok t_cmp($err, qr/to token \d+, expires never; token \d+ is revoked$/m,
         'and says so');

# --- --user -----------------------------------------------------------------
my @bob = map { new_key('rotbob', '--name', "k$_") } 1 .. 3;
token_cli('revoke', id_of($bob[2]));
my $rows = psql('SELECT count(*) FROM authchain_token');
($rc, $out, $err) = token_cli('rotate', '--user', 'rotbob', '--grace', '1h',
                              '--expires', '1d');
my @bob_new = split /\n/, $out;
ok t_cmp([$rc, scalar @bob_new, psql('SELECT count(*) FROM authchain_token') - $rows],
         [0, 2, 2], '--user rotates every active token of the user, one key a line');
ok t_cmp([$err =~ /rotated token (\d+) .*\(name '(k\d)'\) to token (\d+)/g],
         [id_of($bob[0]), 'k1', id_of($bob_new[0]),
          id_of($bob[1]), 'k2', id_of($bob_new[1])],
         'the keys come in the order of the report, which pairs old and new');
ok t_cmp($err, qr/\(1 other token of user 'rotbob' not rotated: revoked, expired or already rolling\)/,
         'and says which were left alone');
ok t_cmp(codes(@bob[0, 1], @bob_new), [200, 200, 200, 200],
         'all four keys work during the grace');
ok t_cmp(psql("SELECT bool_and(abs(extract(epoch FROM expires - now()) - 86400) < 60)"
              . " FROM authchain_token WHERE id IN (" . join(',', map { id_of($_) } @bob_new) . ")"),
         't', '--expires gives the new keys a lifetime of their own');

# --- usage errors, no match -------------------------------------------------
$rows = psql('SELECT count(*) FROM authchain_token');
my $some = id_of($bob_new[0]);
my @bad = ([$some], [$some, '--grace', '5y'], [$some, '--grace', '1.5h'],
           [$some, '--grace', '-1h'], [$some, '--grace', ''],
           [$some, '--grace', 'h'], [$some, '--user', 'rotbob', '--grace', '1h'],
           ['--grace', '1h'], ['x1', '--grace', '1h'],
           [$some, '--grace', '1h', '--scope', 'write'],
           [$some, '--grace', '1h', '--expires', '0d']);
ok t_cmp([map { my ($r, $o) = token_cli('rotate', @$_);
                "@$_=$r" . ($o eq '' ? '' : ' with output') } @bad],
         [map { "@$_=2" } @bad],
         'bad arguments are usage errors (2), no key printed');
ok t_cmp([psql('SELECT count(*) FROM authchain_token'),
          (token_cli('rotate', $some))[2] =~ /rotate needs --grace DURATION/ ? 'explained' : 'not',
          (token_cli('rotate', $some, '--grace', '5y'))[2] =~ /--grace: '5y' is not a duration/ ? 'explained' : 'not'],
         [$rows, 'explained', 'explained'],
         'usage errors change nothing and explain themselves');
my @none = ([qw(999999999)], ['--user', 'rotnobody']);
ok t_cmp([map { my ($r, $o, $e) = token_cli('rotate', @$_, '--grace', '1h');
                "$r " . ($e =~ /no token (with id|of user)/ ? 'no token' : $e) } @none],
         ['1 no token', '1 no token'],
         'an ID or USER that names no token exits 1');
