#!/usr/bin/perl
# build/tap-summary.pl -- count the assertions of a build/check run and
# compare them with what the test files declare.
#
#   tap-summary.pl [--unit NAME=TAPLOG]... [--apache-test [MODE=]LOG]...
#                  [--t-dir DIR] [--only t/FILE.t]... [--elapsed MODE=SECONDS]...
#                  [--fuzz N=LOG] [--fail REASON]...
#
# Unit tests: TAPLOG is the raw TAP of one program (its "1..N" plan is the
# expected count; a program that printed no plan counts as failed).
# Apache::Test: LOG is the output of `t/TEST -verbose`; the expected count
# of each t/**/*.t is the literal N of its `plan tests => N` (or, when the plan
# is computed, the "1..N" it printed).  A skipped file or assertion, a file
# that did not run, and assertions that did not run are failures.
# --apache-test may be given once per mode of build/check (MPM, sanitizers):
# each log is held to every t/*.t (or to the --only ones), and the totals
# are over all of them.  A mode whose LOG does not exist (its build failed)
# counts every assertion as not run.
#
# --fuzz: LOG is the output of fuzz/run, which should have run N targets;
# each "fuzz: T: clean" line is one pass, each FAILED one and each target
# that did not report a failure.
#
# Prints the details, one line per mode, then "N passed, N failed" over
# everything as the last line; exits 1 if anything failed, was skipped or is
# missing, or a --fail was given.
use strict;
use warnings;
use Getopt::Long;
use File::Find ();

my (@units, @at_logs, $t_dir, @fail, @only, %elapsed, $fuzz);
GetOptions('unit=s' => \@units, 'apache-test=s' => \@at_logs,
           't-dir=s' => \$t_dir, 'fail=s' => \@fail, 'fuzz=s' => \$fuzz,
           'only=s' => \@only, 'elapsed=s' => \%elapsed)
    or die "usage: $0 [--unit NAME=LOG]... [--apache-test [MODE=]LOG]... [--t-dir DIR]\n";
$t_dir //= 't';

my ($passed, $failed, $expected) = (0, 0, 0);
my @problems = @fail;
# What account() counts, and where problems are filed: a mode's own counts
# (for its summary line) besides the totals.
# With several modes, only the files that are not all ok get a line; a mode
# that printed nothing at all gets one problem, not one per file.
my ($mode_tag, $mode_counts) = ('', undef);
my ($quiet_ok, $silent) = (0, 0);
my @shown;      # the lines account() gave since the last header
my %ms;         # mode => file => wall-clock milliseconds (HARNESS_TIMER)

# Count the TAP lines of one stream; returns a hash.  Test lines must be
# numbered ("ok 3"): a bare "ok" is the harness's verdict on a file.
sub count_tap {
    my ($lines) = @_;
    my %c = (ok => 0, notok => 0, skip => 0, plan => undef, skip_all => undef);
    for (@$lines) {
        if (/^1\.\.(\d+)(?:\s*#\s*(?i:skip)\S*\s*(.*))?/) {
            $c{plan} = $1;
            $c{skip_all} = $2 // '' if $1 == 0;
        }
        elsif (/^not ok \d+/) {
            $c{notok}++;
        }
        elsif (/^ok \d+(.*)/) {
            if ($1 =~ /#\s*skip/i) { $c{skip}++ } else { $c{ok}++ }
        }
    }
    return \%c;
}

sub read_lines {
    my ($file) = @_;
    open my $fh, '<', $file or return undef;
    chomp(my @l = <$fh>);
    return \@l;
}

sub account {
    my ($label, $c, $want) = @_;
    my $ran = $c->{ok} + $c->{notok} + $c->{skip};
    my $missing = $want > $ran ? $want - $ran : 0;
    $passed += $c->{ok};
    $failed += $c->{notok} + $c->{skip} + $missing;
    $expected += $want;
    if ($mode_counts) {
        $mode_counts->{passed} += $c->{ok};
        $mode_counts->{failed} += $c->{notok} + $c->{skip} + $missing;
        $mode_counts->{expected} += $want;
    }
    return if $silent;
    my $line = sprintf "%-34s %3d expected, %3d ok, %d not ok", $label, $want,
        $c->{ok}, $c->{notok};
    $line .= ", $c->{skip} skipped" if $c->{skip};
    $line .= ", $missing did not run" if $missing;
    $line .= ", $ran ran but $want planned" if $ran > $want;
    push @shown, "  $line\n"
        unless $quiet_ok && !$c->{notok} && !$c->{skip} && !$missing && $ran == $want;
    $label = "$mode_tag$label";
    push @problems, "$label: $c->{notok} failed" if $c->{notok};
    push @problems, "$label: $c->{skip} skipped" if $c->{skip};
    push @problems, "$label: $missing did not run" if $missing;
    push @problems, "$label: ran $ran, planned $want" if $ran > $want;
}

if (@units) {
    print "unit tests:\n";
    for (@units) {
        my ($name, $log) = split /=/, $_, 2;
        my $lines = read_lines($log);
        my $c = $lines ? count_tap($lines) : count_tap([]);
        if (!defined $c->{plan}) {
            push @problems, "$name: printed no TAP plan (did it run? crash?)";
            $failed++;
            $c->{plan} = 0;
        }
        account($name, $c, $c->{plan});
    }
    print @shown;
    @shown = ();
}

if (defined $fuzz) {
    my ($want, $log) = $fuzz =~ /^(\d+)=(.*)$/
        or die "--fuzz wants N=LOG, not $fuzz\n";
    my $lines = read_lines($log) // [];
    my %c = (ok => 0, notok => 0, skip => 0);
    my @targets;
    for (@$lines) {
        if (/^fuzz: (\S+): clean, (.*)/) { $c{ok}++; push @targets, "    $1: $2\n" }
        elsif (/^fuzz: (\S+): FAILED/) { $c{notok}++; push @targets, "    $_\n" }
    }
    print "fuzz (fuzz/run):\n";
    account('targets', \%c, $want);
    print @shown, @targets;
    @shown = ();
}

# The test files, as Apache::Test finds them: *.t anywhere under t/.
my @files;
if (@at_logs) {
    File::Find::find({ no_chdir => 1, wanted => sub {
        $File::Find::prune = 1
            if -d && m{^\Q$t_dir\E/(?:conf|logs|htdocs|c-modules|lib|state)$};
        push @files, $_ if -f && /\.t$/;
    } }, $t_dir);
}
my %only = map { $_ => 1 } @only;

my @modes;
for my $arg (@at_logs) {
    my ($mode, $at_log) = $arg =~ /^([\w.+-]+)=(.*)$/ ? ($1, $2) : ('', $arg);
    my %counts = (passed => 0, failed => 0, expected => 0);
    push @modes, [$mode, \%counts];
    ($mode_tag, $mode_counts) = (length $mode ? "$mode: " : '', \%counts);
    $quiet_ok = @at_logs > 1;
    @shown = ();
    my $lines = read_lines($at_log) // [];
    $silent = !@$lines;
    push @problems, "${mode_tag}did not run (no output)" if $silent;
    # Split the verbose output into the sections of each file.
    my (%section, $cur);
    for (@$lines) {
        # (HARNESS_TIMER puts the time of day before a file's name, and
        # its wall-clock time after its verdict: "ok  1234 ms (...)")
        if (m{^(?:\[[\d:]+\] )?(t/\S+\.t) \.{2,}\s*(.*)$}) {
            $cur = $1;
            $section{$cur} = [];
            push @{ $section{$cur} }, "1..0 # SKIP $1" if $2 =~ /^skipped:\s*(.*)/;
            next;
        }
        next unless defined $cur;
        if (/^(?:ok|Failed|Dubious)\b.*?\s(\d+) ms\b/) {
            $ms{$mode}{$cur} = $1;
            next;
        }
        push @{ $section{$cur} }, $_;
    }
    for my $file (sort @files) {
        (my $name = $file) =~ s{^\Q$t_dir\E/}{t/};
        next if @only && !$only{$name};
        my $src = do { local (@ARGV, $/) = ($file); <> } // '';
        my ($static) = $src =~ /^\s*plan\b[^;]*?\btests\s*=>\s*(\d+)\s*[,;)]/m;
        ($static) = $src =~ /^\s*plan\s*\(?\s*(\d+)\s*[,;)]/m unless defined $static;
        my $c = count_tap($section{$name} // []);
        if (!$section{$name} && !$silent) {
            push @problems, "$mode_tag$name: did not run";
        }
        if (defined $c->{skip_all}) {
            push @problems, "$mode_tag$name: skipped ($c->{skip_all})";
        }
        my $want = $static // $c->{plan};
        if (!defined $want) {
            push @problems, "$mode_tag$name: no plan found in the file nor in its output"
                unless $silent;
            $failed++;
            $counts{failed}++;
            $want = 0;
        }
        elsif (defined $c->{plan} && $c->{plan} != $want && !defined $c->{skip_all}) {
            push @problems, "$mode_tag$name: printed 1..$c->{plan} but declares $want";
        }
        account($name, $c, $want);
    }
    my $title = length $mode ? "Apache::Test ($mode)" : "Apache::Test";
    if ($silent) {
        print "$title: no output\n";
    }
    elsif ($quiet_ok && !@shown) {
        print "$title: every file ran as planned, all ok\n";
    }
    else {
        print $quiet_ok ? "$title, the files that are not all ok:\n" : "$title:\n", @shown;
    }
}
($mode_tag, $mode_counts, $quiet_ok, $silent) = ('', undef, 0, 0);

if (grep { length $_->[0] } @modes) {
    print "modes:\n";
    for (@modes) {
        my ($mode, $c) = @$_;
        my $line = sprintf "  %-14s %4d expected, %4d passed, %d failed", $mode,
            $c->{expected}, $c->{passed}, $c->{failed};
        $line .= sprintf " (%ds)", $elapsed{$mode} if defined $elapsed{$mode};
        $line .= $c->{failed} || $c->{passed} < $c->{expected} ? "  FAILED" : "  ok";
        print "$line\n";
        my $t = $ms{$mode} or next;
        my @slow = (sort { $t->{$b} <=> $t->{$a} } keys %$t)[0 .. 7];
        print "    slowest: ", join(', ', map { sprintf "%s %ds", $_, $t->{$_} / 1000 }
                                   grep { defined } @slow), "\n";
    }
}

if (@problems) {
    print "problems:\n";
    print "  $_\n" for @problems;
}
printf "expected %d assertions, %d passed, %d failed\n", $expected, $passed, $failed;
print "$passed passed, $failed failed\n";
exit(@problems || $failed || $passed < $expected ? 1 : 0);
