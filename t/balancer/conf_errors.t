# Bad balancing keys: the server refuses to start and names file:line:column, the key
# and what was expected.
use Test::Moongate;

run_tests();

__DATA__

=== TEST 1: an unknown balancer lists the known ones
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
upstreams:
  - name: u
    balancer: fastest
    nodes: ["127.0.0.1:$MG_ECHO_PORT"]
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:4:15: upstreams\[0\]\.balancer: expected roundrobin, least_conn, ip_hash, chash, ewma, random or sticky, got "fastest"}]



=== TEST 2: a near miss gets a suggestion
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
upstreams:
  - name: u
    balancer: least_connections
    nodes: ["127.0.0.1:$MG_ECHO_PORT"]
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:4:15: upstreams\[0\]\.balancer: unknown balancer "least_connections" \(did you mean "least_conn"\?\)}]



=== TEST 3: hash_on in a form that does not exist
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
upstreams:
  - name: u
    balancer: chash
    hash_on: header
    nodes: ["127.0.0.1:$MG_ECHO_PORT"]
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:5:14: upstreams\[0\]\.hash_on: expected remote_addr, header:NAME, cookie:NAME, query:NAME or param:NAME, got "header"}]



=== TEST 4: hash_on with an empty or malformed name
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
upstreams:
  - name: u
    balancer: chash
    hash_on: "cookie:a b"
    nodes: ["127.0.0.1:$MG_ECHO_PORT"]
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:5:14: upstreams\[0\]\.hash_on: expected a name after "cookie:" .*got "cookie:a b"}]



=== TEST 5: hash_on with a balancer that does not hash
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
upstreams:
  - name: u
    hash_on: header:X-User
    balancer: least_conn
    nodes: ["127.0.0.1:$MG_ECHO_PORT"]
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:4:14: upstreams\[0\]\.hash_on: hash_on is used by the chash and ip_hash balancers only \(this upstream's balancer is least_conn\)}]



=== TEST 6: a sticky block without the sticky balancer
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
upstreams:
  - name: u
    sticky: { cookie: srv }
    nodes: ["127.0.0.1:$MG_ECHO_PORT"]
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:4:13: upstreams\[0\]\.sticky: a sticky: block needs "balancer: sticky" \(this upstream's balancer is roundrobin\)}]



=== TEST 7: a sticky fallback that hashes
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
upstreams:
  - name: u
    balancer: sticky
    sticky: { fallback: chash }
    nodes: ["127.0.0.1:$MG_ECHO_PORT"]
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:5:25: upstreams\[0\]\.sticky\.fallback: expected roundrobin, least_conn, ewma or random .*got "chash"}]



=== TEST 8: a sticky cookie name with a separator
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
upstreams:
  - name: u
    balancer: sticky
    sticky: { cookie: "a;b" }
    nodes: ["127.0.0.1:$MG_ECHO_PORT"]
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:5:23: upstreams\[0\]\.sticky\.cookie: expected a cookie name .*got "a;b"}]



=== TEST 9: a sticky path with a ';'
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
upstreams:
  - name: u
    balancer: sticky
    sticky: { path: "/a; Domain=evil" }
    nodes: ["127.0.0.1:$MG_ECHO_PORT"]
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:5:21: upstreams\[0\]\.sticky\.path: expected a path without spaces, ';' or control characters}]



=== TEST 10: a sticky max_age that is not a duration
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
upstreams:
  - name: u
    balancer: sticky
    sticky: { max_age: forever }
    nodes: ["127.0.0.1:$MG_ECHO_PORT"]
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:5:24: upstreams\[0\]\.sticky\.max_age: expected a duration}]



=== TEST 11: an unknown key in the sticky block
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
upstreams:
  - name: u
    balancer: sticky
    sticky: { secure: true, cookies: a }
    nodes: ["127.0.0.1:$MG_ECHO_PORT"]
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:5:29: upstreams\[0\]\.sticky\.cookies: unknown key "cookies" \(did you mean "cookie"\?\)}]



=== TEST 12: a sticky flag that is not a boolean
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
upstreams:
  - name: u
    balancer: sticky
    sticky: { secure: yes }
    nodes: ["127.0.0.1:$MG_ECHO_PORT"]
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:5:23: upstreams\[0\]\.sticky\.secure: expected true or false, got "yes"}]
