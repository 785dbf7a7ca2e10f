#!/usr/bin/perl
# A backend application that logs its user in by setting the session
# through mod_session's SessionHeader.
print "Content-Type: text/plain\n";
print "X-Replace-Session: app-user=bob&role=admin&who=carol\n\n";
print "logged in as bob\n";
