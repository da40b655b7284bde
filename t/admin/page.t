# GET / on the admin listener: the live status page, built into the binary from
# core/server/status_page.html. It must be served whole, uncached, and load nothing from
# anywhere but the admin listener it came from.
use Test::Moongate;
use Test::Moongate::Client;

sub admin { Test::Moongate::Client::request($_[0]->admin_port, $_[1], $_[2] // [], 2) }

# the page as it is in the tree, byte for byte
sub page_source {
    my $file = Test::Moongate::mg_root() . '/core/server/status_page.html';
    open my $fh, '<:raw', $file or die "$file: $!\n";
    local $/;
    return scalar <$fh>;
}

run_tests();

__DATA__

=== TEST 1: GET / serves the page as HTML, not to be cached
--- yaml_config
routes: []
--- test_code eval
sub {
    my $t = shift;
    my $r = main::admin($t, "GET /");
    is($r->{status}, 200, 'status 200');
    is($r->{headers}{'content-type'}, 'text/html; charset=utf-8', 'Content-Type');
    is($r->{headers}{'cache-control'}, 'no-store', 'Cache-Control: no-store');
    like($r->{body}, qr/\A<!doctype html>/i, 'an HTML document');
    ok($r->{body} eq main::page_source(), 'the embedded page is the file, byte for byte ('
       . length($r->{body}) . ' bytes)');
    is($r->{headers}{'content-length'}, length($r->{body}), 'Content-Length');
}



=== TEST 2: the page loads nothing from outside and reads /status and /metrics
--- yaml_config
routes: []
--- test_code eval
sub {
    my $t = shift;
    my $body = main::admin($t, "GET /")->{body} // '';
    ok(length $body > 1000, 'a page came back');
    for my $bad (qr/src\s*=\s*["']?\s*(?:https?:)?\/\//i, qr/href\s*=\s*["']?\s*(?:https?:)?\/\//i,
                 qr/\@import/i, qr/url\(\s*["']?\s*(?:https?:)?\/\//i,
                 qr/<script[^>]*\bsrc\s*=/i, qr/<link\b/i, qr/<img\b/i, qr/<iframe\b/i) {
        unlike($body, $bad, "no $bad");
    }
    like($body, qr/fetch\(/, 'fetches');
    like($body, qr{'/status'}, 'reads /status');
    like($body, qr{'/metrics'}, 'reads /metrics');
    like($body, qr/<meta http-equiv="Content-Security-Policy" content="default-src 'none';[^"]*connect-src 'self'/,
         'a CSP allowing same-origin fetches only');
    my @ids = $body =~ /\bid="(rps|p50|p99|rl-rejected|upstreams|plugins)"/g;
    is(scalar @ids, 6, 'the figures have their stable ids');
}



=== TEST 3: HEAD / answers the headers only; other methods get 405; only / is the page
--- yaml_config
routes: []
--- test_code eval
sub {
    my $t = shift;
    my $r = main::admin($t, "HEAD /");
    is($r->{status}, 200, 'HEAD /: 200');
    is($r->{body}, '', 'without a body');
    is($r->{headers}{'content-type'}, 'text/html; charset=utf-8', 'with the Content-Type');
    $r = main::admin($t, "POST /\nx");
    is($r->{status}, 405, 'POST /: 405');
    is($r->{headers}{allow}, 'GET, HEAD', 'Allow: GET, HEAD');
    $r = main::admin($t, "GET /?refresh=1");
    is($r->{status}, 200, 'a query string still gets the page');
    $r = main::admin($t, "GET /index.html");
    is($r->{status}, 404, '/index.html: 404');
    $r = main::admin($t, "GET /status");
    is($r->{status}, 200, '/status still answers');
}



=== TEST 4: the client listener does not serve the page
--- yaml_config
routes: []
--- request
GET /
--- error_code: 404
--- response_headers
!Cache-Control
