#!/usr/bin/perl
# A local redirect: mod_cgi turns it into an internal redirect.
print "Location: /redir2/target/env\n\n";
