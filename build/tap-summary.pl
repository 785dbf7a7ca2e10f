#!/usr/bin/perl
# build/tap-summary.pl -- count the assertions of a build/check run and
# compare them with what the test files declare.
#
#   tap-summary.pl [--unit NAME=TAPLOG]... [--apache-test LOG --t-dir DIR]
#                  [--fail REASON]...
#
# Unit tests: TAPLOG is the raw TAP of one program (its "1..N" plan is the
# expected count; a program that printed no plan counts as failed).
# Apache::Test: LOG is the output of `t/TEST -verbose`; the expected count
# of each t/**/*.t is the literal N of its `plan tests => N` (or, when the plan
# is computed, the "1..N" it printed).  A skipped file or assertion, a file
# that did not run, and assertions that did not run are failures.
#
# Prints the details, then "N passed, N failed" as the last line; exits 1
# if anything failed, was skipped or is missing, or a --fail was given.
use strict;
use warnings;
use Getopt::Long;
use File::Find ();

my (@units, $at_log, $t_dir, @fail, @only);
GetOptions('unit=s' => \@units, 'apache-test=s' => \$at_log,
           't-dir=s' => \$t_dir, 'fail=s' => \@fail,
           'only=s' => \@only)
    or die "usage: $0 [--unit NAME=LOG]... [--apache-test LOG --t-dir DIR]\n";

my ($passed, $failed, $expected) = (0, 0, 0);
my @problems = @fail;

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
    my $line = sprintf "%-34s %3d expected, %3d ok, %d not ok", $label, $want,
        $c->{ok}, $c->{notok};
    $line .= ", $c->{skip} skipped" if $c->{skip};
    $line .= ", $missing did not run" if $missing;
    $line .= ", $ran ran but $want planned" if $ran > $want;
    print "  $line\n";
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
}

if (defined $at_log) {
    print "Apache::Test:\n";
    my $lines = read_lines($at_log) // [];
    # Split the verbose output into the sections of each file.
    my (%section, $cur);
    for (@$lines) {
        if (m{^(t/\S+\.t) \.{2,}\s*(.*)$}) {
            $cur = $1;
            $section{$cur} = [];
            push @{ $section{$cur} }, "1..0 # SKIP $1" if $2 =~ /^skipped:\s*(.*)/;
            next;
        }
        push @{ $section{$cur} }, $_ if defined $cur;
    }
    # The test files, as Apache::Test finds them: *.t anywhere under t/.
    my @files;
    File::Find::find({ no_chdir => 1, wanted => sub {
        $File::Find::prune = 1
            if -d && m{^\Q$t_dir\E/(?:conf|logs|htdocs|c-modules|lib|state)$};
        push @files, $_ if -f && /\.t$/;
    } }, $t_dir);
    my %only = map { $_ => 1 } @only;
    for my $file (sort @files) {
        (my $name = $file) =~ s{^\Q$t_dir\E/}{t/};
        next if @only && !$only{$name};
        my $src = do { local (@ARGV, $/) = ($file); <> } // '';
        my ($static) = $src =~ /^\s*plan\b[^;]*?\btests\s*=>\s*(\d+)\s*[,;)]/m;
        ($static) = $src =~ /^\s*plan\s*\(?\s*(\d+)\s*[,;)]/m unless defined $static;
        my $c = count_tap($section{$name} // []);
        if (!$section{$name}) {
            push @problems, "$name: did not run";
        }
        if (defined $c->{skip_all}) {
            push @problems, "$name: skipped ($c->{skip_all})";
        }
        my $want = $static // $c->{plan};
        if (!defined $want) {
            push @problems, "$name: no plan found in the file nor in its output";
            $failed++;
            $want = 0;
        }
        elsif (defined $c->{plan} && $c->{plan} != $want && !defined $c->{skip_all}) {
            push @problems, "$name: printed 1..$c->{plan} but declares $want";
        }
        account($name, $c, $want);
    }
}

if (@problems) {
    print "problems:\n";
    print "  $_\n" for @problems;
}
printf "expected %d assertions, %d passed, %d failed\n", $expected, $passed, $failed;
print "$passed passed, $failed failed\n";
exit(@problems || $failed || $passed < $expected ? 1 : 0);
