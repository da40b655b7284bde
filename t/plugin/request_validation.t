# request-validation: the JSON body against a JSON Schema subset (each keyword), the
# headers and query arguments, the answers (400 naming the failing place, 413, 415,
# rejected_code/rejected_msg), and the schemas refused at load with file:line:column.
use Test::Moongate;
use JSON::PP ();

sub req {
    my ($line, $body, @h) = @_;
    $body //= '';
    return "$line HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        . join('', map { "$_\r\n" } @h) . "Content-Length: " . length($body) . "\r\n\r\n$body";
}

run_tests();

__DATA__

=== TEST 1: a valid body passes through; bad ones get 400 naming the failing place
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: orders
    paths: ["/orders"]
    upstream: echo
    plugins:
      request-validation:
        body_schema:
          type: object
          required: [user, items]
          additionalProperties: false
          properties:
            user:
              type: object
              required: [id]
              properties:
                id: { type: integer, minimum: 1 }
                email: { type: string, pattern: "^[^@\\s]+@[^@\\s]+$", maxLength: 64 }
            items:
              type: array
              minItems: 1
              maxItems: 3
              items:
                type: object
                properties:
                  sku: { type: string, minLength: 3 }
                  qty: { type: integer, exclusiveMinimum: 0, maximum: 100 }
            note: { type: string }
--- raw_request eval
[
  main::req("POST /orders", '{"user":{"id":7,"email":"a@b.c"},"items":[{"sku":"abc","qty":2}]}'),
  main::req("POST /orders", '{"user":{"id":7},"items":[]}'),
  main::req("POST /orders", '{"user":{"id":0},"items":[{"sku":"abc","qty":1}]}'),
  main::req("POST /orders", '{"user":{"id":7},"items":[{"sku":"abc","qty":1},{"sku":"ab","qty":1}]}'),
  main::req("POST /orders", '{"user":{"id":7},"items":[{"sku":"abc","qty":0}]}'),
  main::req("POST /orders", '{"user":{"id":"7"},"items":[{"sku":"abc"}]}'),
  main::req("POST /orders", '{"items":[{"sku":"abc"}]}'),
  main::req("POST /orders", '{"user":{"id":7},"items":[{"sku":"abc"}],"extra":1}'),
  main::req("POST /orders", '{"user":{"id":7,"email":"nope"},"items":[{"sku":"abc"}]}'),
  main::req("POST /orders", '{"user":{"id":7},"items":[{"sku":"abc"},{"sku":"abc"},{"sku":"abc"},{"sku":"abc"}]}'),
  main::req("POST /orders", '{"user":{"id":1.5},"items":[{"sku":"abc"}]}'),
]
--- error_code eval
[200, 400, 400, 400, 400, 400, 400, 400, 400, 400, 400]
--- response_body_like eval
[
  qr/"body":"\{\\"user\\"/,
  qr/"invalid request body: \$\.items: 0 items, at least 1 expected"/,
  qr/"invalid request body: \$\.user\.id: 0 is less than the minimum 1"/,
  qr/"invalid request body: \$\.items\[1\]\.sku: 2 characters, at least 3 expected"/,
  qr/"invalid request body: \$\.items\[0\]\.qty: 0 is not greater than 0"/,
  qr/"invalid request body: \$\.user\.id: expected an integer, got \\"7\\""/,
  qr/"invalid request body: \$\.user: required, missing"/,
  qr/"invalid request body: \$\.extra: not an allowed member"/,
  qr/"invalid request body: \$\.user\.email: \\"nope\\" does not match the pattern/,
  qr/"invalid request body: \$\.items: 4 items, at most 3 expected"/,
  qr/"invalid request body: \$\.user\.id: expected an integer, got 1\.5"/,
]



=== TEST 2: enum, const, boolean, null, number, uniqueItems, UTF-8 lengths
--- yaml_config
routes:
  - name: r
    paths: ["/r"]
    return: { status: 200, body: "ok\n" }
    plugins:
      request-validation:
        body_schema:
          type: object
          properties:
            color: { enum: [red, green, 3] }
            v: { const: 2 }
            flag: { type: boolean }
            nothing: { type: "null" }
            ratio: { type: number, minimum: 0, exclusiveMaximum: 1 }
            tags: { type: array, uniqueItems: true, items: { type: string } }
            name: { type: string, maxLength: 3 }
--- raw_request eval
[
  main::req("POST /r", '{"color":"red","v":2,"flag":false,"nothing":null,"ratio":0.5,"tags":["a","b"],"name":"été"}'),
  main::req("POST /r", '{"color":3}'),
  main::req("POST /r", '{"color":"blue"}'),
  main::req("POST /r", '{"v":3}'),
  main::req("POST /r", '{"flag":"true"}'),
  main::req("POST /r", '{"nothing":0}'),
  main::req("POST /r", '{"ratio":1}'),
  main::req("POST /r", '{"tags":["a","b","a"]}'),
  main::req("POST /r", '{"name":"éééé"}'),
  main::req("POST /r", '[1,2]'),
]
--- error_code eval
[200, 200, 400, 400, 400, 400, 400, 400, 400, 400]
--- response_body_like eval
[
  qr/^ok$/,
  qr/^ok$/,
  qr/\$\.color: \\"blue\\" is not one of \\"red\\", \\"green\\", 3/,
  qr/\$\.v: must be 2, got 3/,
  qr/\$\.flag: expected a boolean, got \\"true\\"/,
  qr/\$\.nothing: expected a null, got 0/,
  qr/\$\.ratio: 1 is not less than 1/,
  qr/\$\.tags\[2\]: the same as item 0 \(uniqueItems\)/,
  qr/\$\.name: 4 characters, at most 3 expected/,
  qr/\$: expected an object, got an array/,
]



=== TEST 3: not JSON: 415 for another content type, 400 for bad JSON, 400 for no body, 413 over max_body_size
--- yaml_config
routes:
  - name: r
    paths: ["/r"]
    return: { status: 200, body: "ok\n" }
    plugins:
      request-validation:
        max_body_size: 64
        body_schema: { type: object }
  - name: opt
    paths: ["/opt"]
    return: { status: 200, body: "ok\n" }
    plugins:
      request-validation:
        body_required: false
        body_schema: { type: object }
--- raw_request eval
[
  "POST /r HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}",
  "POST /r HTTP/1.1\r\nHost: x\r\nContent-Type: application/merge-patch+json; charset=utf-8\r\nContent-Length: 2\r\n\r\n{}",
  main::req("POST /r", '{"a":'),
  main::req("GET /r", ''),
  main::req("POST /r", '{"a":"' . ('x' x 100) . '"}'),
  main::req("GET /opt", ''),
]
--- error_code eval
[415, 200, 400, 400, 413, 200]
--- response_body_like eval
[
  qr/"the request body must be JSON \(Content-Type: application\/json\)"/,
  qr/^ok$/,
  qr/"the request body is not valid JSON: /,
  qr/"a JSON request body is required"/,
  qr/"request body larger than 64 bytes"/,
  qr/^ok$/,
]



=== TEST 4: headers and query arguments, converted for integer and boolean properties
--- yaml_config
routes:
  - name: r
    paths: ["/r"]
    return: { status: 200, body: "ok\n" }
    plugins:
      request-validation:
        header_schema:
          type: object
          required: [X-Request-Id]
          properties:
            X-Request-Id: { type: string, pattern: "^[0-9a-f]{8}$" }
            X-Retries: { type: integer, maximum: 3 }
        query_schema:
          type: object
          properties:
            page: { type: integer, minimum: 1 }
            debug: { type: boolean }
            tag: { type: array, items: { type: string, enum: [a, b] } }
--- raw_request eval
[
  "GET /r?page=2&debug=true&tag=a&tag=b HTTP/1.1\r\nHost: x\r\nx-request-id: 0123abcd\r\nX-Retries: 2\r\n\r\n",
  "GET /r HTTP/1.1\r\nHost: x\r\n\r\n",
  "GET /r HTTP/1.1\r\nHost: x\r\nX-Request-Id: nope\r\n\r\n",
  "GET /r HTTP/1.1\r\nHost: x\r\nX-Request-Id: 0123abcd\r\nX-Retries: many\r\n\r\n",
  "GET /r?page=0 HTTP/1.1\r\nHost: x\r\nX-Request-Id: 0123abcd\r\n\r\n",
  "GET /r?page=x HTTP/1.1\r\nHost: x\r\nX-Request-Id: 0123abcd\r\n\r\n",
  "GET /r?tag=c HTTP/1.1\r\nHost: x\r\nX-Request-Id: 0123abcd\r\n\r\n",
  "GET /r?debug=1 HTTP/1.1\r\nHost: x\r\nX-Request-Id: 0123abcd\r\n\r\n",
]
--- error_code eval
[200, 400, 400, 400, 400, 400, 400, 400]
--- response_body_like eval
[
  qr/^ok$/,
  qr/"invalid request header\.x-request-id: required, missing"/,
  qr/"invalid request header\.x-request-id: \\"nope\\" does not match the pattern/,
  qr/"invalid request header\.x-retries: expected an integer, got \\"many\\""/,
  qr/"invalid request query\.page: 0 is less than the minimum 1"/,
  qr/"invalid request query\.page: expected an integer, got \\"x\\""/,
  qr/"invalid request query\.tag: expected an array, got \\"c\\""/,
  qr/"invalid request query\.debug: expected a boolean, got \\"1\\""/,
]



=== TEST 5: rejected_code and rejected_msg
--- yaml_config
routes:
  - name: r
    paths: ["/r"]
    return: { status: 200, body: "ok\n" }
    plugins:
      request-validation:
        rejected_code: 422
        rejected_msg: "bad order"
        body_schema: { type: object, required: [id] }
--- raw_request eval
[main::req("POST /r", '{}'), main::req("POST /r", '{"id":1}')]
--- error_code eval
[422, 200]
--- response_body eval
["bad order", "ok\n"]



=== TEST 6: load error: an unknown keyword, with the place and the key path
--- yaml_config
routes:
  - name: r
    paths: ["/r"]
    return: { status: 200 }
    plugins:
      request-validation:
        body_schema:
          type: object
          properties:
            age: { type: integer, minimum: 0, maxLenght: 3 }
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:10:47: routes\[0\]\.plugins\.request-validation\.body_schema\.properties\.age\.maxLenght: unknown key "maxLenght" \(did you mean "maxLength"\?\)}]



=== TEST 7: load error: a type that is not a JSON type
--- yaml_config
routes:
  - name: r
    paths: ["/r"]
    return: { status: 200 }
    plugins:
      request-validation:
        body_schema:
          type: object
          properties:
            tags: { type: array, items: { type: str } }
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:10:49: routes\[0\]\.plugins\.request-validation\.body_schema\.properties\.tags\.items\.type: expected one of "object", "array", "string", "number", "integer", "boolean", "null", got "str"}]



=== TEST 8: load error: a pattern PCRE2 does not compile
--- yaml_config
routes:
  - name: r
    paths: ["/r"]
    return: { status: 200 }
    plugins:
      request-validation:
        header_schema:
          properties:
            x-id: { pattern: "^[0-9" }
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:9:30: routes\[0\]\.plugins\.request-validation\.header_schema\.properties\.x-id\.pattern: bad regex "\^\[0-9": missing terminating \] for character class at offset 5}]



=== TEST 9: load error: minimum over maximum can never pass
--- yaml_config
routes:
  - name: r
    paths: ["/r"]
    return: { status: 200 }
    plugins:
      request-validation:
        body_schema: { type: integer, minimum: 5, maximum: 1 }
--- must_die
--- error_log eval
[qr{routes\[0\]\.plugins\.request-validation\.body_schema(\.minimum)?: minimum \(5\) is greater than maximum \(1\): nothing can match}]
