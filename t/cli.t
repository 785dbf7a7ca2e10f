# authchain-token, the CLI, as built (tools/authchain-token), against a
# database of its own in the throwaway PostgreSQL of build/check: init is
# idempotent, create prints one key and stores only its SHA-256, list never
# shows a key, revoke and prune change what they say, and each failure has
# its exit status (2 usage, 3 database, 1 nothing matched).
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test;
use Apache::TestUtil;
use Compress::Zlib ();
use Cwd ();
use Digest::SHA qw(sha256_hex);
use File::Basename qw(dirname);
use File::Temp qw(tempdir);
use Math::BigInt;

plan tests => 48;

my $cli = Cwd::abs_path("$FindBin::Bin/../tools/authchain-token");
my $tmp = tempdir(CLEANUP => 1);

# The server build/check started (PG* are exported there; AUTHCHAIN_PG*
# also reach a bare t/TEST run).
$ENV{PGHOST} //= $ENV{AUTHCHAIN_PGHOST};
$ENV{PGPORT} //= $ENV{AUTHCHAIN_PGPORT};
$ENV{PGUSER} //= $ENV{AUTHCHAIN_PGUSER};
$ENV{PGDATABASE} //= $ENV{AUTHCHAIN_PGDATABASE};
delete $ENV{PGCONNECT_TIMEOUT};

# psql of that server's installation (Debian's /usr/bin/psql is a wrapper).
my ($psql) = grep { -x } map { "$_/psql" } grep { defined }
    $ENV{AUTHCHAIN_PGBIN},
    map { dirname(Cwd::abs_path($_)) } grep { -x } map { "$_/initdb" }
        split /:/, $ENV{PATH};
$psql //= 'psql';

# One SQL statement through psql, its rows as "a|b" lines (chomped).
sub sql {
    my ($query, %opt) = @_;
    my @cmd = ($psql, '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
               '-c', $query);
    push @cmd, '-d', $opt{db} if $opt{db};
    open my $fh, '-|', @cmd or die "$psql: $!";
    local $/;
    my $out = <$fh> // '';
    close $fh or die "psql failed on: $query\n";
    $out =~ s/\n+\z//;
    return $out;
}

# A database of our own, so that nothing here touches the tokens of the
# other tests (prune and revoke --user act on the whole table).
my $db = 'authchain_cli_test';
sql("DROP DATABASE IF EXISTS $db");
sql("CREATE DATABASE $db");
$ENV{PGDATABASE} = $db;
END { sql("DROP DATABASE IF EXISTS $db", db => 'postgres') if $db }

# Run the CLI; returns (exit status, stdout, stderr).
sub run {
    my (@args) = @_;
    my ($out, $err) = ("$tmp/out", "$tmp/err");
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>', $out or die "$out: $!";
        open STDERR, '>', $err or die "$err: $!";
        exec $cli, @args or die "$cli: $!";
    }
    waitpid $pid, 0;
    my $rc = $? & 127 ? 128 + ($? & 127) : $? >> 8;
    my @text = map { local (@ARGV, $/) = ($_); <> // '' } $out, $err;
    return ($rc, @text);
}

sub base62_value {
    my ($s) = @_;
    my $digits = join '', '0' .. '9', 'A' .. 'Z', 'a' .. 'z';
    my $n = Math::BigInt->new(0);
    $n = $n * 62 + index($digits, $_) for split //, $s;
    return $n;
}

my ($rc, $out, $err);

# --- init -----------------------------------------------------------------
($rc, $out, $err) = run('list');
ok t_cmp([$rc, $err], [3, qr/tables are missing.*run authchain-token init/],
         'without the schema a command exits 3 and says to run init');

($rc, $out, $err) = run('init');
ok t_cmp([$rc, $out], [0, qr/^schema created \(version 3\)$/m],
         'init creates the schema');
($rc, $out, $err) = run('init');
ok t_cmp([$rc, $out], [0, qr/^schema is up to date \(version 3\)$/m],
         'init again succeeds and changes nothing');
ok t_cmp(sql('SELECT count(*), max(version) FROM authchain_schema'), '1|3',
         'the schema table holds one row, version 3');
ok t_cmp(sql("SELECT count(*) FROM pg_trigger WHERE tgrelid = "
             . "'authchain_token'::regclass AND NOT tgisinternal"), 3,
         'the notification triggers exist once, after two inits');

# a version 2 database (no replaced_by), then a version 1 one (no
# triggers either), is upgraded by init
sql('ALTER TABLE authchain_token DROP COLUMN replaced_by;'
    . ' UPDATE authchain_schema SET version = 2');
($rc, $out, $err) = run('init');
ok t_cmp([$rc, $out, sql("SELECT count(*) FROM information_schema.columns"
                         . " WHERE table_name = 'authchain_token'"
                         . " AND column_name = 'replaced_by'")],
         [0, qr/^schema upgraded from version 2 to 3$/m, 1],
         'init upgrades a version 2 schema: it adds replaced_by (rotate)');
sql('ALTER TABLE authchain_token DROP COLUMN replaced_by;'
    . ' DROP TRIGGER authchain_token_notify_update ON authchain_token;'
    . ' DROP TRIGGER authchain_token_notify_delete ON authchain_token;'
    . ' DROP TRIGGER authchain_token_notify_truncate ON authchain_token;'
    . ' DROP FUNCTION authchain_token_notify(); UPDATE authchain_schema SET version = 1');
($rc, $out, $err) = run('init');
ok t_cmp([$rc, $out], [0, qr/^schema upgraded from version 1 to 3$/m],
         'init upgrades a version 1 schema');
ok t_cmp(sql("SELECT count(*) FROM pg_trigger WHERE tgrelid = "
             . "'authchain_token'::regclass AND NOT tgisinternal"), 3,
         'the upgrade adds the notification triggers');

# --- create ---------------------------------------------------------------
($rc, $out, $err) = run('create', 'alice');
ok t_cmp([$rc, $out], [0, qr/\Aact_[0-9A-Za-z]{49}\n\z/],
         'create prints exactly one line: a key of the native format');
(my $key = $out) =~ s/\n\z//;
my ($body, $check) = $key =~ /^act_(.{43})(.{6})$/;
ok t_cmp($err, qr/^authchain-token: created token \d+ for user 'alice'/,
         'the token id goes to stderr');
ok t_cmp(index($err, $body), -1, 'stderr never shows the key');
ok t_cmp(base62_value($check)->bstr,
         Compress::Zlib::crc32("act_$body"),
         'the check digits are the CRC-32 (zlib) of prefix and body, base62');
ok t_cmp(base62_value($body) < Math::BigInt->new(2)->bpow(256) ? 'below' : 'above',
         'below', 'the body is a 256-bit number in base62');

my $hash = sha256_hex($key);
ok t_cmp(sql("SELECT user_name, name, scopes, expires IS NULL, revoked IS NULL"
             . " FROM authchain_token WHERE key_hash = '$hash'"),
         'alice|||t|t',
         'the row holds the SHA-256 hex of the key; no name, scopes, expiry');
ok t_cmp(sql("SELECT count(*) FROM authchain_token t"
             . " WHERE strpos(t::text, '$body') > 0"), '0',
         'the key itself is stored nowhere in the table');
my $alice1 = sql("SELECT id FROM authchain_token WHERE key_hash = '$hash'");

($rc, $out, $err) = run('create', 'alice', '--name', 'ci box', '--scope',
                        'read', '--scope=write', '--expires', '2h');
ok t_cmp($rc, 0, 'create with --name, --scope and --expires');
my $key2 = $out =~ s/\n\z//r;
my $alice2 = sql("SELECT id FROM authchain_token WHERE key_hash = '"
                 . sha256_hex($key2) . "'");
ok t_cmp(sql("SELECT name, scopes, extract(epoch FROM expires - created)::bigint"
             . " FROM authchain_token WHERE id = $alice2"),
         'ci box|read write|7200',
         'name and space-separated scopes are stored, expires is created + 2h');
ok t_cmp(sql("SELECT abs(extract(epoch FROM expires - now()) - 7200) < 60"
             . " FROM authchain_token WHERE id = $alice2"), 't',
         '--expires 2h expires about two hours from now');

my @units = ([qw(30d 2592000)], [qw(90m 5400)], [qw(3600s 3600)],
             [qw(2w 1209600)], [qw(1s 1)]);
run('create', 'units', '--expires', $_->[0]) for @units;
ok t_cmp([split /\n/, sql("SELECT extract(epoch FROM expires - created)::bigint"
                          . " FROM authchain_token WHERE user_name = 'units'"
                          . " ORDER BY id")],
         [map { $_->[1] } @units], 'durations in s, m, h, d and w');

($rc, $out, $err) = run('create', '--prefix', 'myco_', 'dave');
ok t_cmp([$rc, $out], [0, qr/\Amyco_[0-9A-Za-z]{49}\n\z/],
         '--prefix chooses the prefix of the key');

my $rows = sql('SELECT count(*) FROM authchain_token');
my @bad = ('30', '0d', '-5d', '5y', 'd', '1.5h', '12H', '', ' 3d', '3d ',
           '99999999999d', '36600000d');
ok t_cmp([map { my ($r, $o) = run('create', 'eve', '--expires', $_);
                "$_=$r" . ($o eq '' ? '' : ' with output') } @bad],
         [map { "$_=2" } @bad],
         'a malformed or huge duration is a usage error (2), no key printed');
($rc, $out, $err) = run('create', 'eve', '--expires', '5y');
ok t_cmp($err, qr/--expires: '5y' is not a duration: .*s, m, h, d or w/,
         'a bad duration is explained');
($rc, $out, $err) = run('create');
ok t_cmp([$rc, $err], [2, qr/create needs a USER.*\nUsage:/s],
         'create without a user exits 2 with the usage');
($rc, $out, $err) = run('create', 'eve', '--scope', 'read write');
ok t_cmp([$rc, $err], [2, qr/--scope: 'read write' is not one word/],
         'a scope with a space is a usage error');
($rc, $out, $err) = run('create', 'eve', '--prefix', 'my-co');
ok t_cmp([$rc, $err], [2, qr/--prefix: 'my-co' is not a key prefix/],
         'a prefix outside [A-Za-z0-9_] is a usage error');
($rc, $out, $err) = run('create', 'eve', '--colour=red');
ok t_cmp([$rc, $err], [2, qr/unknown option '--colour'/],
         'an unknown option is a usage error (its value is not echoed)');
($rc, $out, $err) = run('frobnicate');
ok t_cmp([$rc, $err], [2, qr/unknown command 'frobnicate'/],
         'an unknown command is a usage error');
ok t_cmp(sql('SELECT count(*) FROM authchain_token'), $rows,
         'usage errors create no token');

# --- list -----------------------------------------------------------------
run('create', 'bob') for 1 .. 2;
($rc, $out, $err) = run('list');
ok t_cmp([$rc, $out],
         [0, qr/\Aid +user +name +scopes +created +expires +revoked +last_used +status\n/],
         'list prints a table with a header');
ok t_cmp([index($out, $body), index($out, substr($key2, 4)),
          scalar($out =~ /[0-9a-f]{64}/)],
         [-1, -1, ''], 'list never shows a key nor a hash');
ok t_cmp($out, qr/^$alice2 +alice +ci box +read write +\S+Z +\S+Z +- +- +active$/m,
         'a row shows name, scopes, UTC times and the status');
($rc, $out, $err) = run('list', 'bob');
my @users = map { (split ' ')[1] } grep { /^\d/ } split /\n/, $out;
ok t_cmp(\@users, ['bob', 'bob'], 'list USER shows only that user\'s tokens');

sql("INSERT INTO authchain_token (user_name, key_hash, expires, revoked) VALUES"
    . " ('carol', repeat('1', 64), NULL, NULL),"
    . " ('carol', repeat('2', 64), now() - interval '1 hour', NULL),"
    . " ('carol', repeat('3', 64), now() + interval '1 day', now())");
($rc, $out, $err) = run('list', 'carol');
ok t_cmp([map { (split ' ')[-1] } grep { /^\d/ } split /\n/, $out],
         [qw(active expired revoked)], 'status is active, expired or revoked');

# --- revoke ---------------------------------------------------------------
($rc, $out, $err) = run('revoke', $alice1);
ok t_cmp([$rc, $out], [0, qr/^revoked 1 token with id $alice1$/m],
         'revoke ID revokes that token and says so');
ok t_cmp(sql("SELECT id, revoked IS NOT NULL FROM authchain_token"
             . " WHERE user_name = 'alice' ORDER BY id"),
         "$alice1|t\n$alice2|f", 'only that token is revoked');
my $when = sql("SELECT revoked FROM authchain_token WHERE id = $alice1");
($rc, $out, $err) = run('revoke', $alice1);
ok t_cmp([$rc, $out, sql("SELECT revoked FROM authchain_token WHERE id = $alice1")],
         [0, qr/nothing to revoke: the token with id $alice1 was already revoked/, $when],
         'revoking a revoked token again is no error and keeps the first time');
($rc, $out, $err) = run('revoke', '999999');
ok t_cmp([$rc, $out, $err], [1, '', qr/no token with id 999999/],
         'revoke of an id that does not exist exits 1');
($rc, $out, $err) = run('revoke', '--user', 'bob');
ok t_cmp([$rc, $out, sql("SELECT count(*) FROM authchain_token"
                         . " WHERE user_name = 'bob' AND revoked IS NULL")],
         [0, qr/^revoked 2 tokens of user 'bob'$/m, '0'],
         'revoke --user revokes every token of the user');
($rc, $out, $err) = run('revoke', '--user', 'nobody');
ok t_cmp([$rc, $err], [1, qr/no token of user 'nobody'/],
         'revoke --user of a user without tokens exits 1');
($rc, $out, $err) = run('revoke', '12abc');
ok t_cmp([$rc, $err], [2, qr/'12abc' is not a token ID/],
         'revoke of something that is not an id is a usage error');

# --- prune ----------------------------------------------------------------
sql("INSERT INTO authchain_token (user_name, key_hash, name, expires, revoked)"
    . " VALUES"
    . " ('old', repeat('a', 64), 'revoked40', NULL, now() - interval '40 days'),"
    . " ('old', repeat('b', 64), 'expired40', now() - interval '40 days', NULL),"
    . " ('old', repeat('c', 64), 'revoked10', NULL, now() - interval '10 days'),"
    . " ('old', repeat('d', 64), 'expired10', now() - interval '10 days', NULL),"
    . " ('old', repeat('e', 64), 'future', now() + interval '1 day', NULL),"
    . " ('old', repeat('f', 64), 'forever', NULL, NULL)");
($rc, $out, $err) = run('prune');
ok t_cmp([$rc, $out], [0, qr/^pruned 2 tokens \(expired or revoked more than 30 days ago\)$/m],
         'prune deletes what expired or was revoked more than 30 days ago');
ok t_cmp(sql("SELECT string_agg(name, ' ' ORDER BY id) FROM authchain_token"
             . " WHERE user_name = 'old'"),
         'revoked10 expired10 future forever', 'and nothing else');
($rc, $out, $err) = run('prune', '--days', '5');
ok t_cmp([$rc, $out, sql("SELECT string_agg(name, ' ' ORDER BY id)"
                         . " FROM authchain_token WHERE user_name = 'old'")],
         [0, qr/^pruned 2 tokens/m, 'future forever'], 'prune --days N');

# --- connection -----------------------------------------------------------
($rc, $out, $err) = run('--db', "host=$tmp port=1 dbname=x password=hunter2",
                        'create', 'alice');
ok t_cmp([$rc, $out, $err], [3, '', qr/cannot connect to the database: .*\Q$tmp\E/],
         'a database that cannot be reached exits 3, prints no key');
ok t_cmp(index($err, 'hunter2'), -1,
         'the connection string (with its password) is not repeated');
($rc, $out, $err) = run('--db', "dbname=$db", 'list', 'dave');
ok t_cmp([$rc, $out], [0, qr/^\d+ +dave /m], '--db chooses the database');

# --- help -----------------------------------------------------------------
($rc, $out, $err) = run('--help');
ok t_cmp([$rc, $out], [0, qr/\AUsage:\n(?:.*\n)*\tauthchain-token \[--db CONNINFO\] prune/],
         '--help prints the usage of every command on stdout');
($rc, $out, $err) = run('create', '--help');
ok t_cmp([$rc, $out], [0, qr/\AUsage:\n\tauthchain-token \[--db CONNINFO\] create .*--expires DURATION/s],
         'COMMAND --help prints that command\'s usage');
