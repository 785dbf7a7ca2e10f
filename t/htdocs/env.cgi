#!/usr/bin/perl
# Echoes what the backend sees of the caller's identity.
print "Content-Type: text/plain\n\n";
for my $k (qw(REMOTE_USER AUTH_TYPE AUTH_CHAIN_SCHEME AUTH_CHAIN_DATA
              AUTH_CHAIN_SCOPES
              OUTCOME_CALLS REDIRECT_OUTCOME_CALLS)) {
    print "$k=", (exists $ENV{$k} ? $ENV{$k} : '(unset)'), "\n";
}
# the claims mod_authn_oauth2 exports, as variables and as headers
for my $k (sort grep { /^(?:OAUTH2_CLAIM_|HTTP_X_CLAIM_)/ } keys %ENV) {
    print "$k=$ENV{$k}\n";
}
