# Certificate-bound access tokens (RFC 8705): a token whose cnf carries
# x5t#S256 is good only with that client certificate.  An httpd of the
# test's own, with mod_ssl and a CA, server and client certificates made
# here: over TLS the certificate is the connection's; on a plain port
# behind a TLS-terminating proxy, the one the proxy forwards in a header,
# believed only from AuthOAuth2TrustedProxy addresses.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test;
use Apache::TestUtil;
use Digest::SHA qw(sha256);
use File::Temp qw(tempdir);
use LWP::UserAgent;
use MIME::Base64 qw(decode_base64);
use URI::Escape qw(uri_escape);
use ChainTest;
use OAuth2Test;

plan tests => 10;

my $dir = tempdir(CLEANUP => 1);

# A CA, the server's certificate for 127.0.0.1, two client certificates.
sub sh { system($_[0]) == 0 or die "failed: $_[0]" }
my $ec = '-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes';
sh("openssl req -x509 $ec -keyout $dir/ca.key -out $dir/ca.pem -days 2"
   . " -subj /CN=authchain-test-ca 2>/dev/null");
open my $ext, '>', "$dir/server.ext" or die;
print $ext "subjectAltName=IP:127.0.0.1\n";
close $ext;
for my $name (qw(server alice mallory)) {
    sh("openssl req $ec -keyout $dir/$name.key -out $dir/$name.csr"
       . " -subj /CN=$name 2>/dev/null");
    sh("openssl x509 -req -in $dir/$name.csr -CA $dir/ca.pem -CAkey $dir/ca.key"
       . " -CAcreateserial -out $dir/$name.pem -days 2"
       . ($name eq 'server' ? " -extfile $dir/server.ext" : '') . ' 2>/dev/null');
}

# x5t#S256 of a certificate: base64url SHA-256 of its DER.
sub pem_of { local $/; open my $fh, '<', $_[0] or die "$_[0]: $!"; return scalar <$fh> }
sub der_of {
    my ($b64) = pem_of($_[0]) =~ /-----BEGIN CERTIFICATE-----(.*?)-----END/s;
    return decode_base64($b64);
}
my %x5t = map { $_ => b64u(sha256(der_of("$dir/$_.pem"))) } qw(alice mallory);

my $secret = Crypt::PRNG::random_bytes(32);
my $iss = 'https://mtls.authchain.test';
sub token_for {
    my ($x5t) = @_;
    return mint(alg => 'HS256', key => $secret,
                claims => { iss => $iss, sub => 'certuser',
                            $x5t ? (cnf => { 'x5t#S256' => $x5t }) : () });
}

my ($tls, $plain) = (free_port(), free_port());
my $conf = "$dir/httpd.conf";
my $mpm = $ENV{AUTHCHAIN_MPM} || 'event';
my $oauth2 = join "\n", '    AuthType Chain', '    AuthName "mtls"',
    '    AuthChain oauth2', "    AuthOAuth2HMACKey $iss " . b64u($secret),
    '    AuthOAuth2Audience *', '    Require valid-user';
open my $fh, '>', $conf or die "$conf: $!";
mkdir "$dir/api";
print $fh httpd_config(
    dir => $dir, port => $plain,
    stock => ["mpm_$mpm", qw(authn_core authz_core authz_user dir
                             socache_shmcb ssl)],
    ours => [[auth_chain => 'modules/chain/.libs/mod_auth_chain.so'],
             [authn_oauth2 => 'modules/oauth2/.libs/mod_authn_oauth2.so']],
    body => <<EOC);
DirectoryIndex index.html
Listen 127.0.0.1:$tls
<VirtualHost 127.0.0.1:$tls>
    SSLEngine on
    SSLCertificateFile $dir/server.pem
    SSLCertificateKeyFile $dir/server.key
    SSLCACertificateFile $dir/ca.pem
    SSLVerifyClient optional
    <Location /api>
$oauth2
    </Location>
</VirtualHost>
<Location /api>
$oauth2
    AuthOAuth2ClientCertHeader X-Client-Cert
    AuthOAuth2TrustedProxy 127.0.0.1
</Location>
<Location /api/untrusted>
    AuthOAuth2TrustedProxy 10.9.9.9
</Location>
EOC
close $fh;
open $fh, '>', "$dir/api/index.html" or die; print $fh "ok\n"; close $fh;
mkdir "$dir/api/untrusted";
open $fh, '>', "$dir/api/untrusted/index.html" or die; print $fh "ok\n"; close $fh;
start_httpd($conf, $plain);
END { stop_httpd($conf) if -e "$dir/httpd.pid" }

sub tls_get {
    my ($who, $token) = @_;
    my %ssl = (SSL_ca_file => "$dir/ca.pem", verify_hostname => 0);
    %ssl = (%ssl, SSL_cert_file => "$dir/$who.pem",
            SSL_key_file => "$dir/$who.key") if $who;
    my $ua = LWP::UserAgent->new(timeout => 10, ssl_opts => \%ssl);
    return $ua->get("https://127.0.0.1:$tls/api/",
                    Authorization => "Bearer $token");
}

sub described {
    my ($res) = @_;
    return [$res->code, $res->code == 200 ? 'granted'
            : (bearer_params($res) // {})->{error_description} // '?'];
}

my $bound = token_for($x5t{alice});
ok t_cmp(described(tls_get('alice', $bound)), [200, 'granted'],
         'TLS: a token bound to the client certificate of the connection is granted');
ok t_cmp(described(tls_get('mallory', $bound)),
         [401, 'the token is bound to another client certificate'],
         'TLS: with another client certificate it is refused (invalid_token)');
ok t_cmp(described(tls_get(undef, $bound)),
         [401, 'the token is bound to a client certificate, and the request has none'],
         'TLS: without a client certificate it is refused');
ok t_cmp(described(tls_get('mallory', token_for(undef))), [200, 'granted'],
         'TLS: an unbound token needs no particular certificate');

my $ua = LWP::UserAgent->new(timeout => 10);
sub proxied {
    my ($path, $cert, $token) = @_;
    return described($ua->get("http://127.0.0.1:$plain$path",
                              Authorization => "Bearer $token",
                              defined $cert ? ('X-Client-Cert' => $cert) : ()));
}
ok t_cmp(proxied('/api/', uri_escape(pem_of("$dir/alice.pem")), $bound),
         [200, 'granted'],
         'proxy: the certificate forwarded URL-encoded by a trusted proxy is used');
ok t_cmp(proxied('/api/', MIME::Base64::encode_base64(der_of("$dir/alice.pem"), ''),
                 $bound),
         [200, 'granted'], 'proxy: ... and as base64 DER');
(my $spaced = pem_of("$dir/alice.pem")) =~ s/\n/ /g;
ok t_cmp(proxied('/api/', $spaced, $bound), [200, 'granted'],
         'proxy: ... and as PEM with its lines joined by spaces');
ok t_cmp(proxied('/api/', uri_escape(pem_of("$dir/mallory.pem")), $bound),
         [401, 'the token is bound to another client certificate'],
         'proxy: another certificate is refused');
ok t_cmp(proxied('/api/untrusted/', uri_escape(pem_of("$dir/alice.pem")), $bound),
         [401, 'the token is bound to a client certificate, and the request has none'],
         'proxy: the header from an address that is not a trusted proxy is ignored');
ok t_cmp(proxied('/api/', undef, $bound),
         [401, 'the token is bound to a client certificate, and the request has none'],
         'plain HTTP without the header: refused');
