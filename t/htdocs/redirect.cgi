#!/usr/bin/perl
# A local redirect: mod_cgi turns it into an internal redirect, to the
# path in the query string (default /redir2/target/env).
my ($to) = ($ENV{QUERY_STRING} // '') =~ m{^(/[A-Za-z0-9_/-]*)$};
print "Location: ", $to // '/redir2/target/env', "\n\n";
