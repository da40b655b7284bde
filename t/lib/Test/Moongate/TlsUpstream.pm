# Test::Moongate::TlsUpstream -- a TLS upstream for tests: Debian's nginx on 127.0.0.1,
# with certificates made at start by `openssl` under a throwaway CA (nothing secret is
# committed), run as a child in the foreground and stopped by its pid when the test
# file ends.
#
#   my $u = Test::Moongate::TlsUpstream::start() or plan(skip_all => ...);
#   $u->{dir}            the temporary directory (certificates, nginx's files)
#   $u->{port}{NAME}     the ports of the servers below
#
# Servers (each answers "sni=<SNI> conn=<n> req=<n> reused=<r|.> cn=<client CN>"):
#   good     certificate for upstream.test and 127.0.0.1, issued by ca.crt
#   mtls     the same, and a client certificate issued by ca.crt is required
#   other    certificate issued by other-ca.crt (a CA nobody trusts)
# Files: ca.crt, other-ca.crt, client.crt, client.key.
package Test::Moongate::TlsUpstream;

use strict;
use warnings;
use File::Temp ();
use POSIX ();
use Time::HiRes ();
use Test::Moongate::Server;

my $main_pid = $$;
my @pids;

sub nginx_bin {
    for my $d ('/usr/sbin', split(/:/, $ENV{PATH} // '')) {
        return "$d/nginx" if -x "$d/nginx";
    }
    return undef;
}

sub openssl {
    my ($dir, @args) = @_;
    my $out = `cd '$dir' && openssl @args 2>&1`;
    die "openssl @args: $out\n" if $?;
}

sub write_text {
    my ($path, $text) = @_;
    open my $fh, '>', $path or die "$path: $!\n";
    print $fh $text;
    close $fh;
}

# A CA, and leaves it issues; short-lived, P-256.
sub make_certs {
    my ($dir) = @_;
    my $ec = '-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes';
    openssl($dir, "req -x509 $ec -keyout ca.key -out ca.crt -days 2 -subj '/CN=moongate test CA'");
    openssl($dir, "req -x509 $ec -keyout other-ca.key -out other-ca.crt -days 2 -subj '/CN=other CA'");
    write_text("$dir/server.ext", "subjectAltName = DNS:upstream.test, IP:127.0.0.1\n"
                                  . "extendedKeyUsage = serverAuth\n");
    write_text("$dir/client.ext", "extendedKeyUsage = clientAuth\n");
    for my $leaf (['server', 'ca', 'upstream.test'], ['other', 'other-ca', 'upstream.test'],
                  ['client', 'ca', 'moongate-client']) {
        my ($name, $ca, $cn) = @$leaf;
        my $ext = $name eq 'client' ? 'client.ext' : 'server.ext';
        openssl($dir, "req $ec -keyout $name.key -out $name.csr -subj '/CN=$cn'");
        openssl($dir, "x509 -req -in $name.csr -CA $ca.crt -CAkey $ca.key -CAcreateserial "
                      . "-out $name.crt -days 2 -extfile $ext");
    }
}

sub server_block {
    my ($port, $cert, $extra) = @_;
    return <<"CONF";
    server {
        listen 127.0.0.1:$port ssl;
        ssl_certificate $cert.crt;
        ssl_certificate_key $cert.key;
        $extra
        location / {
            return 200 "sni=\$ssl_server_name conn=\$connection req=\$connection_requests reused=\$ssl_session_reused cn=\$ssl_client_s_dn\\n";
        }
    }
CONF
}

sub start {
    my $nginx = nginx_bin() or return undef;
    my $dir = File::Temp::tempdir('mg_tls_up.XXXXXX', TMPDIR => 1, CLEANUP => 1);
    make_certs($dir);
    my %port = map { $_ => Test::Moongate::Server::free_port() } qw(good mtls other);
    my $conf = "daemon off;\nmaster_process off;\npid $dir/nginx.pid;\n"
        . "error_log $dir/error.log info;\nevents { worker_connections 256; }\nhttp {\n"
        . "    access_log off;\n    keepalive_requests 1000;\n"
        . "    ssl_session_cache shared:SSL:1m;\n"
        . "    client_body_temp_path $dir/body;\n    proxy_temp_path $dir/proxy;\n"
        . "    fastcgi_temp_path $dir/fcgi;\n    uwsgi_temp_path $dir/uwsgi;\n"
        . "    scgi_temp_path $dir/scgi;\n"
        . server_block($port{good}, "$dir/server", '')
        . server_block($port{mtls}, "$dir/server",
                       "ssl_verify_client on; ssl_client_certificate $dir/ca.crt;")
        . server_block($port{other}, "$dir/other", '')
        . "}\n";
    write_text("$dir/nginx.conf", $conf);
    my $pid = fork() // die "fork: $!\n";
    if ($pid == 0) {
        open STDOUT, '>', "$dir/stdout.log";
        open STDERR, '>', "$dir/stderr.log";
        exec($nginx, '-p', $dir, '-e', "$dir/error.log", '-c', "$dir/nginx.conf")
            or POSIX::_exit(127);
    }
    push @pids, $pid;
    for (1 .. 100) {
        return { dir => $dir, port => \%port, pid => $pid }
            if !grep { !Test::Moongate::Server::port_open($_) } values %port;
        die "nginx exited at start: " . Test::Moongate::Server::slurp("$dir/stderr.log")
            . Test::Moongate::Server::slurp("$dir/error.log") . "\n"
            if waitpid($pid, POSIX::WNOHANG()) == $pid;
        Time::HiRes::sleep(0.05);
    }
    die "nginx did not listen within 5 s\n";
}

END {
    if ($$ == $main_pid) {
        local $?;
        for my $pid (@pids) {
            kill 'TERM', $pid;
            waitpid($pid, 0);
        }
    }
}

1;
